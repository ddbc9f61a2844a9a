"""The agency's mapping file turns its own system's column names and codes into the contract's:
an extract in the agency's own vocabulary contributes exactly what the contract-shaped one does."""

from __future__ import annotations

import csv
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from dvnet.contracts.errors import ExtractError
from dvnet.pipelines.cli import EXIT_OK, EXIT_REFUSED, EXIT_USAGE, main
from dvnet.pipelines.contributor.run import ContributionOptions, contribute

from case_system_export import local_extract, write_mapping, write_rows

from contribution_constants import PERIOD


def test_a_mapped_extract_contributes_the_same_as_the_contract_shaped_one(net, tmp_path):
    agency = net.agency("shelter-north")
    src = net.extract("shelter-north", "service_episode")
    local = tmp_path / "from_our_system.csv"
    local_extract(src, local)

    unmapped = net.contribute("shelter-north", "service_episode", extract=local, mode="aggregate")
    assert unmapped.refusal["reason"] == "COLUMNS_MISMATCH"  # without the mapping file

    write_mapping(agency)
    for mode in ("aggregate", "record"):
        reference = net.contribute("shelter-north", "service_episode", extract=src, mode=mode, k=2, max_withheld_share=1.0)
        mapped = net.contribute("shelter-north", "service_episode", extract=local, mode=mode, k=2, max_withheld_share=1.0)
        assert mapped.status == reference.status == "sealed"
        assert mapped.issues == []
        a, b = net.open("shelter-north", reference).table, net.open("shelter-north", mapped).table
        assert b.column_names == a.column_names
        assert "CaseNotes" not in b.column_names and "Worker" not in b.column_names
        keys = [(c, "ascending") for c in a.column_names]
        assert b.sort_by(keys).equals(a.sort_by(keys)), f"{mode}: the mapped extract sent something else"


def test_an_unmapped_local_code_is_reported_not_guessed(net, tmp_path):
    write_mapping(net.agency("shelter-north"))
    local = tmp_path / "from_our_system.csv"
    local_extract(net.extract("shelter-north", "service_episode"), local, unmapped_row=4)
    r = net.contribute("shelter-north", "service_episode", extract=local, mode="aggregate")
    assert r.refusal["reason"] == "REJECTED_ROWS_OVER_LIMIT"
    assert [(i.column, i.reason, i.first_rows) for i in r.issues] == [("gender", "CODE_UNKNOWN", [5])]
    # what to do first is the mapping's values: (the share that sends the rest anyway comes second)
    assert "the unknown codes in gender are your system's own, map each onto the contract's code under values:" in r.refusal["hint"]
    assert r.refusal["hint"].index("values:") < r.refusal["hint"].index("--max-reject-share")


def test_a_broken_mapping_file_is_a_configuration_error_before_anything_is_read(net, tmp_path, capsys):
    agency = net.agency("shelter-north")
    agency.mapping_path("service_episode").write_text("colums: {a: b}\n", encoding="utf-8")
    with pytest.raises(ExtractError) as refused:
        net.contribute("shelter-north", "service_episode", mode="aggregate")
    assert refused.value.reason == "MAPPING_INVALID"
    agency.mapping_path("service_episode").write_text("columns: [a\n", encoding="utf-8")  # not YAML: its hint is shown
    code = main(["contribute", "--agency", str(agency.folder), "--contract", "service_episode", "--extract",
                 str(net.extract("shelter-north", "service_episode")), "--period", PERIOD, "--dry-run"], {})
    err = capsys.readouterr().err
    assert code == EXIT_USAGE  # the agency's configuration, as a broken agency.yaml is
    assert "MAPPING_INVALID" in err and "hint: compare the line with the scaffold" in err
    assert not list((agency.folder / "reports").glob("*.html"))  # refused before a run started


def _with_mapping(agency, columns: dict[str, str], ignore: list[str] = ()) -> None:
    agency.mapping_path("service_episode").write_text(yaml.safe_dump({"columns": columns, "ignore_columns": list(ignore)}), encoding="utf-8")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("case", ["two_lines_onto_one_field", "mapped_onto_a_column_already_named_so"])
def test_two_columns_that_would_become_one_field_are_refused_with_what_to_do(net, tmp_path, case, fmt, capsys):
    agency = net.agency("shelter-north")
    rows = list(csv.DictReader(io.StringIO(net.extract("shelter-north", "service_episode").read_text(encoding="utf-8"))))
    if case == "two_lines_onto_one_field":  # the export's notes mapped onto client_name beside the names themselves
        rows = [{**{("ClientName" if k == "client_name" else k): v for k, v in r.items()}, "CaseNotes": f"ZQXNOTE {i}"} for i, r in enumerate(rows)]
        _with_mapping(agency, {"ClientName": "client_name", "CaseNotes": "client_name"})
        target, positions = "client_name", (3, len(rows[0]))
    else:  # the export's own gender codes mapped onto gender, and a column already called gender
        rows = [{**r, "Sex": r["gender"]} for r in rows]
        _with_mapping(agency, {"Sex": "gender"})
        target, positions = "gender", (list(rows[0]).index("gender") + 1, len(rows[0]))
    extract = write_rows(rows, tmp_path / "export.csv")
    if fmt == "parquet":
        extract = tmp_path / "export.parquet"
        pq.write_table(pa.Table.from_pylist(rows), extract)
    r = net.contribute("shelter-north", "service_episode", extract=extract, mode="aggregate")
    assert r.status == "refused" and r.refusal["reason"] == "COLUMNS_MISMATCH"
    assert f"columns {positions[0]} and {positions[1]} both become '{target}'" in r.refusal["message"]
    assert "ignore_columns" in r.refusal["hint"] and r.held_back == r.records_read > 0
    assert "ZQXNOTE" not in json.dumps(r.to_dict())
    code = main(["contribute", "--agency", str(agency.folder), "--contract", "service_episode", "--extract", str(extract),
                 "--period", PERIOD, "--dry-run"], {})
    out = capsys.readouterr()
    assert code == EXIT_REFUSED and "Traceback" not in out.err
    assert "list the others under ignore_columns" in " ".join(out.out.split())  # the refusal's hint reaches the steward
    html = max((agency.folder / "reports").glob("*.html"), key=lambda p: p.stat().st_mtime).read_text(encoding="utf-8")
    assert "list the others under ignore_columns" in html


def test_an_export_without_optional_columns_sends_them_as_empty_and_says_so(net, tmp_path, capsys):
    src = net.extract("shelter-north", "service_episode")
    rows = list(csv.DictReader(io.StringIO(src.read_text(encoding="utf-8"))))
    optional = ["client_name", "date_of_birth", "postal_code"]
    left_out = write_rows([{k: v for k, v in r.items() if k not in optional} for r in rows], tmp_path / "minimal.csv")
    emptied = write_rows([{**r, **{k: "" for k in optional}} for r in rows], tmp_path / "emptied.csv")
    for mode in ("aggregate", "record"):
        a = net.contribute("shelter-north", "service_episode", extract=emptied, mode=mode, k=2, max_withheld_share=1.0)
        b = net.contribute("shelter-north", "service_episode", extract=left_out, mode=mode, k=2, max_withheld_share=1.0)
        assert a.status == b.status == "sealed", b.refusal
        assert b.fields_absent == optional and a.fields_absent == []
        ta, tb = net.open("shelter-north", a).table, net.open("shelter-north", b).table
        keys = [(c, "ascending") for c in ta.column_names]
        assert tb.sort_by(keys).equals(ta.sort_by(keys)), f"{mode}: a column left out is not the same as a column left empty"
    required = write_rows([{k: v for k, v in r.items() if k != "episode_start"} for r in rows], tmp_path / "no_start.csv")
    r = net.contribute("shelter-north", "service_episode", extract=required, mode="aggregate")
    assert r.refusal["reason"] == "COLUMNS_MISMATCH" and "missing column(s): episode_start" in r.refusal["message"]
    agency = net.agency("shelter-north")
    code = main(["contribute", "--agency", str(agency.folder), "--contract", "service_episode", "--extract", str(left_out),
                 "--period", PERIOD, "--dry-run"], {})
    out = " ".join(capsys.readouterr().out.split())
    assert code == EXIT_OK and "not in the export, so read as empty in every record (optional fields): client_name, date_of_birth, postal_code" in out


@pytest.mark.parametrize(("period", "fault", "hint"), [
    ("2026-Q2", None, "check that --period names the quarter"),
    (PERIOD, "dates", "export dates as YYYY-MM-DD"),
    (PERIOD, "codes", "the problems listed above rejected every record"),
])  # fmt: skip
def test_no_share_of_rejected_records_sends_a_bundle_with_none_valid(net, tmp_path, period, fault, hint):
    rows = list(csv.DictReader(io.StringIO(net.extract("shelter-north", "service_episode").read_text(encoding="utf-8"))))
    if fault == "dates":  # day/month/year, as a spreadsheet might export them
        rows = [{**r, "episode_start": "/".join(reversed(r["episode_start"].split("-")))} for r in rows]
    elif fault == "codes":
        rows = [{**r, "gender": "F", "risk_level": "9"} for r in rows]
    extract = write_rows(rows, tmp_path / "export.csv")
    opts = ContributionOptions(contract_id="service_episode", extract=extract, period=period, mode="aggregate", max_reject_share=1.0, resend=True)
    r = contribute(net.agency("shelter-north"), opts)
    assert r.status == "refused" and r.refusal["reason"] == "NO_VALID_RECORDS", r.refusal
    assert r.rejected == r.records_read == len(rows) and r.sent == 0 and r.bundle_file is None
    assert hint in r.refusal["hint"]
    assert not list((net.agency("shelter-north").folder / "outbox").glob("*.dvb"))


def test_a_file_without_its_header_is_refused_without_echoing_the_first_record(net, tmp_path):
    src = net.extract("shelter-north", "service_episode")
    lines = src.read_text(encoding="utf-8").splitlines()
    headless = tmp_path / "no_header.csv"
    headless.write_text("\n".join(lines[1:]) + "\n", encoding="utf-8")
    r = net.contribute("shelter-north", "service_episode", extract=headless, mode="aggregate")
    assert r.status == "refused" and r.refusal["reason"] in ("COLUMNS_MISMATCH", "CSV_DUPLICATE_HEADER")
    record = dict(zip(lines[0].split(","), lines[1].split(",")))
    identifying = [record[c] for c in ("episode_id", "client_id", "client_name", "date_of_birth", "postal_code") if record[c]]
    shown = json.dumps(r.to_dict())
    assert len(identifying) >= 3 and not [v for v in identifying if v in shown]


def test_an_unexpected_column_is_named_by_position_not_by_its_header_text(net, tmp_path):
    src = net.extract("shelter-north", "service_episode")
    lines = src.read_text(encoding="utf-8").splitlines()
    extra = tmp_path / "extra.csv"
    extra.write_text("\n".join([lines[0] + ",Jane MARKER-HEADER-5e1"] + [line + ",x" for line in lines[1:]]) + "\n", encoding="utf-8")
    r = net.contribute("shelter-north", "service_episode", extract=extra, mode="aggregate")
    assert r.refusal["reason"] == "COLUMNS_MISMATCH"
    position = len(lines[0].split(",")) + 1
    assert f"1 unexpected column(s), at position(s) {position} of the header" in r.refusal["message"]
    assert "MARKER-HEADER-5e1" not in json.dumps(r.to_dict())
