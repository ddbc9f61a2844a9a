"""The steward's mapping: `dvnet agency init` leaves a commented scaffold per contract the tier may
send, which loads as an empty mapping and whose example lines, uncommented, are valid; `dvnet
mapping check` shows where each contract field comes from, names unread columns by position only,
and dry-runs the contribution (exit 0 accepted, 1 refused) with nothing sealed."""

from __future__ import annotations

import csv
import io
import re

import yaml

from dvnet.contracts.registry import all_contracts
from dvnet.pipelines.cli import EXIT_OK, EXIT_REFUSED, EXIT_USAGE, main
from dvnet.pipelines.contributor.mapping import Mapping

from case_system_export import local_extract, write_mapping

from contribution_constants import PERIOD

AGENCY = "shelter-north"


def _check(net, extract, capsys, contract="service_episode"):
    code = main(["mapping", "check", "--agency", str(net.agency(AGENCY).folder), "--contract", contract,
                 "--extract", str(extract), "--period", PERIOD], {})  # fmt: skip
    out = capsys.readouterr()
    return code, out.out + out.err


def test_agency_init_leaves_a_scaffold_per_contract_its_tier_may_send(net):
    for agency_id in ("shelter-north",):
        agency = net.agency(agency_id)
        for contract in {c.id: c for c in all_contracts()}.values():
            path = agency.mapping_path(contract.id)
            assert path.exists() == (agency.tier >= contract.min_tier), contract.id
            if path.exists():
                text = path.read_text(encoding="utf-8")
                assert Mapping.load(path) == Mapping()  # maps nothing as made
                assert all(f.name in text for f in contract.fields())
                assert path.stat().st_mode & 0o777 == 0o600
                # every example line, its '#' removed, is valid and maps something
                uncommented = re.sub(r"^#(  (?:  )?\S.*)$", r"\1", text, flags=re.M)
                loaded = Mapping.load_text(uncommented, path.name)
                assert loaded.columns and loaded.values and loaded.ignore_columns


def test_check_without_a_mapping_names_unread_columns_by_position_and_refuses(net, tmp_path, capsys):
    local = tmp_path / "case_system_export.csv"
    local_extract(net.extract(AGENCY, "service_episode"), local)
    code, out = _check(net, local, capsys)
    assert code == EXIT_REFUSED
    assert "missing" in out and "COLUMNS_MISMATCH" in out
    header = next(csv.reader(io.StringIO(local.read_text(encoding="utf-8"))))
    unread = [i + 1 for i, name in enumerate(header) if name in ("EpisodeNo", "ClientNo", "Gender", "RiskRating", "CaseNotes", "Worker")]
    assert f"{len(unread)} column(s) of the export that nothing reads, at position(s) {', '.join(map(str, unread))}" in " ".join(out.split())
    for name in ("EpisodeNo", "ClientNo", "CaseNotes", "Worker"):  # header text nobody declared is never echoed
        assert name not in out
    assert not list((net.agency(AGENCY).folder / "outbox").glob("*.dvb"))


def test_check_with_the_mapping_shows_each_source_and_accepts(net, tmp_path, capsys):
    local = tmp_path / "case_system_export.csv"
    local_extract(net.extract(AGENCY, "service_episode"), local)
    write_mapping(net.agency(AGENCY))
    code, out = _check(net, local, capsys)
    flat = " ".join(out.split())
    assert code == EXIT_OK, out
    assert "'EpisodeNo', mapped" in flat and "same name" in flat
    assert "2 column(s) listed under ignore_columns" in flat
    assert "nothing reads" not in flat
    assert not list((net.agency(AGENCY).folder / "outbox").glob("*.dvb"))  # a dry run: nothing sealed


def test_an_export_without_its_header_row_echoes_none_of_its_first_record(net, tmp_path, capsys):
    src = net.extract(AGENCY, "service_episode").read_text(encoding="utf-8").splitlines(keepends=True)
    width = len(next(csv.reader(io.StringIO(src[0]))))
    headless = tmp_path / "no_header.csv"  # its first record, where the names should be, holds distinctive values
    headless.write_text(",".join(f"Zelda{i}Marker" for i in range(width)) + "\n" + "".join(src[1:]), encoding="utf-8")
    code, out = _check(net, headless, capsys)
    assert code == EXIT_REFUSED
    assert "Marker" not in out, "a value of the first record was echoed"
    assert f"{width} column(s) of the export that nothing reads" in " ".join(out.split())


def test_a_mapping_line_for_a_column_the_export_lacks_is_named(net, capsys):
    agency = net.agency(AGENCY)
    agency.mapping_path("service_episode").write_text(yaml.safe_dump({"columns": {"OldClientNo": "client_id", "Sex": "sexx"}}), encoding="utf-8")
    code, out = _check(net, net.extract(AGENCY, "service_episode"), capsys)
    flat = " ".join(out.split())
    assert "the export has no column 'OldClientNo'" in flat and "'sexx' is not a field of service_episode/v1" in flat
    assert code == EXIT_OK  # the export itself is in the contract's shape


def test_mapping_init_keeps_a_stewards_file_unless_replace(net, capsys):
    agency = net.agency(AGENCY)
    write_mapping(agency)
    mine = agency.mapping_path("service_episode").read_text(encoding="utf-8")
    assert main(["mapping", "init", "--agency", str(agency.folder)], {}) == EXIT_OK
    assert agency.mapping_path("service_episode").read_text(encoding="utf-8") == mine
    assert main(["mapping", "init", "--agency", str(agency.folder), "--contract", "service_episode", "--replace"], {}) == EXIT_OK
    assert Mapping.load(agency.mapping_path("service_episode")) == Mapping()
    assert main(["mapping", "init", "--agency", str(agency.folder), "--contract", "no_such_contract"], {}) == EXIT_USAGE
