"""The agency's mapping file turns its own system's column names and codes into the contract's:
an extract in the agency's own vocabulary contributes exactly what the contract-shaped one does."""

from __future__ import annotations

import json

from case_system_export import local_extract, write_mapping


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


def test_a_broken_mapping_file_refuses_the_run_with_its_reason(net):
    agency = net.agency("shelter-north")
    agency.mapping_path("service_episode").write_text("colums: {a: b}\n", encoding="utf-8")
    r = net.contribute("shelter-north", "service_episode", mode="aggregate")
    assert r.status == "refused"
    assert r.refusal["reason"] == "MAPPING_INVALID"


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
