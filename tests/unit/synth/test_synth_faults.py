"""Each requested fault is planted where faults.json says, and nowhere else."""

from __future__ import annotations

import datetime as dt
import json

import pandera.errors
import pytest

from dvnet.contracts import codes
from dvnet.pipelines.demo_network import demo_geography
from dvnet.pipelines.synth import FAULT_KINDS, parse_faults, synthesize
from dvnet.pipelines.synth.common import parse_period

from .conftest import NETWORK, SEED, contract_of, read_typed

CODE_LISTS = {"risk_level": codes.RISK_LEVELS, "gender": codes.GENDERS}


def _iso(value: bytes) -> dt.date | None:
    try:
        text = value.decode("ascii")
        return dt.date.fromisoformat(text) if len(text) == 10 and text[4] == "-" else None
    except ValueError:
        return None


def _faults_json(root):
    return json.loads((root / "_ground_truth" / "faults.json").read_text(encoding="ascii"))["faults"]


def test_faults_json_matches_the_summary_and_covers_every_kind(small_run):
    root, summary = small_run
    listed = _faults_json(root)
    assert listed == [f.to_dict() for f in summary.faults]
    file, fault, record_number = summary.faults[0]  # the (file, fault, record_number) shape
    assert (root / file).exists() and fault in FAULT_KINDS and record_number >= 1
    assert {f["fault"] for f in listed} == set(FAULT_KINDS)
    # every faulty copy of a file with enough records carries every kind
    by_file: dict[str, set[str]] = {}
    for f in listed:
        by_file.setdefault(f["file"], set()).add(f["fault"])
    for path in root.glob("*/extracts/*.faulty.csv"):
        records = path.read_bytes().count(b"\n") - 1
        if records >= 2 * len(FAULT_KINDS) + 2:
            assert by_file[path.relative_to(root).as_posix()] == set(FAULT_KINDS)


def test_each_fault_is_present_at_its_record_and_other_records_are_untouched(small_run):
    root, _ = small_run
    listed = _faults_json(root)
    files = {f["file"] for f in listed}
    assert files
    for name in files:
        faulty_path = root / name
        clean_path = faulty_path.with_name(faulty_path.name.replace(".faulty.csv", ".csv"))
        contract = contract_of(clean_path)
        period = parse_period(clean_path.stem.rsplit("_", 1)[1])
        bad, good = faulty_path.read_bytes().split(b"\n"), clean_path.read_bytes().split(b"\n")
        header = good[0].decode().split(",")
        assert bad[0] == good[0] and len(bad) == len(good)
        here = [f for f in listed if f["file"] == name]
        sites = {f["record_number"] for f in here}
        assert len(sites) == len(here)  # at most one fault per record
        for r in range(1, len(good) - 1):
            if r not in sites:
                assert bad[r] == good[r], (name, r)
        for f in here:
            line, fields = bad[f["record_number"]], bad[f["record_number"]].split(b",")
            col = header.index(f["column"]) if f["column"] else None
            kind = f["fault"]
            assert line != good[f["record_number"]]
            if kind == "bad_dates":
                assert _iso(fields[col]) is None and fields[col]
            elif kind == "unknown_codes":
                assert fields[col].decode() not in CODE_LISTS[f["column"]]
            elif kind == "ragged_rows":
                assert len(fields) != len(header)
            elif kind == "bad_encoding":
                good[f["record_number"]].decode("utf-8")
                with pytest.raises(UnicodeDecodeError):
                    line.decode("utf-8")
            elif kind == "control_chars":
                assert any(b < 0x20 for b in fields[col])
            elif kind == "duplicate_ids":
                ids = [x.split(b",")[col] for i, x in enumerate(bad[1:-1], start=1) if i != f["record_number"]]
                assert fields[col] in ids
            elif kind == "out_of_period":
                day = _iso(fields[col])
                assert day is not None and col == header.index(contract.event_date)
                assert not (str(period.start) <= day.isoformat() <= str(period.end))
            else:  # pragma: no cover - a new kind needs a check here
                pytest.fail(f"no check for fault kind {kind}")
            if kind != "ragged_rows":
                assert len(fields) == len(header)


def test_value_faults_fail_the_contract_itself(tmp_path):
    root = tmp_path
    synthesize(NETWORK, root, seed=SEED, periods=["2026-Q3"], scale=0.05, faults=frozenset({"unknown_codes", "duplicate_ids"}), geography=demo_geography())
    faulty = sorted(root.glob("*/extracts/*.faulty.csv"))
    checked = 0
    for path in faulty:
        contract = contract_of(path)
        df = read_typed(path, contract)
        if len(df) < 6:  # too few records for all four sites
            continue
        checked += 1
        with pytest.raises(pandera.errors.SchemaErrors) as e:
            contract.source.validate(df, lazy=True)
        failed = set(e.value.failure_cases["column"].dropna())
        assert {"risk_level", "gender"} <= failed
        assert ("referral_id" if contract.id == "referral" else "episode_id") in failed
    assert checked >= 10


def test_bad_dates_do_not_parse_as_iso(tmp_path):
    synthesize(NETWORK, tmp_path, seed=SEED, periods=["2026-Q3"], scale=0.05, faults=frozenset({"bad_dates"}), geography=demo_geography())
    checked = 0
    for path in sorted(tmp_path.glob("*/extracts/*.faulty.csv")):
        if path.read_bytes().count(b"\n") > 3:
            checked += 1
            with pytest.raises(ValueError):
                read_typed(path, contract_of(path))
            read_typed(path.with_name(path.name.replace(".faulty", "")), contract_of(path))  # the clean file reads
    assert checked >= 10


def test_parse_faults_accepts_known_kinds_and_all(tmp_path):
    assert parse_faults("bad_dates, ragged_rows") == {"bad_dates", "ragged_rows"}
    assert parse_faults("all") == frozenset(FAULT_KINDS)
    assert parse_faults("") == frozenset()
    with pytest.raises(ValueError):
        parse_faults("bad_dates,typos")
    with pytest.raises(ValueError):
        synthesize(NETWORK, tmp_path, seed=1, periods=["2026-Q3"], faults=frozenset({"typos"}), geography=demo_geography())
