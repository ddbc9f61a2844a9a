"""The coordinator's own refusal codes, one test each with the case that must be refused and, where
it helps, the honest case beside it that must load: SUPERSEDES_INVALID, DSA_INVALID,
RECORD_COUNT_MISMATCH, PAYLOAD_INVALID, PERIOD_INVALID, UNEXPECTED_ERROR. A refusal loads nothing
and leaves every earlier load as it was."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from dvnet.assets.intake.lib import ingest
from dvnet.assets.intake.lib.ingest import CoordinatorContext, ingest_file


@pytest.fixture
def load(kit):
    """load(name, sealed) -> IngestOutcome, through a fresh connection each time (as runs do)."""

    def _load(name: str, sealed, now: dt.datetime | None = None):
        with duckdb.connect(str(kit.paths.warehouse)) as con:
            return ingest_file(kit.drop(name, sealed.blob if hasattr(sealed, "blob") else sealed), CoordinatorContext.load(kit.root), con, now)

    return _load


def _rows(ck, kit, bundle_id: str) -> int:
    return ck.query(kit.paths.warehouse, "SELECT count(*) FROM staged_service_episode WHERE bundle_id = ?", [bundle_id])[0][0]


# --- SUPERSEDES_INVALID ------------------------------------------------------------------------------


def test_a_correction_replaces_the_agencys_own_bundle(ck, kit, load):
    first = kit.records("shelter-a", n=20, seed=1)
    assert load("first", first).outcome == "loaded"
    fix = kit.records("shelter-a", n=25, seed=2, supersedes=first.bundle_id)
    out = load("fix", fix)
    assert (out.outcome, out.replaced) == ("loaded", first.bundle_id)
    assert (_rows(ck, kit, first.bundle_id), _rows(ck, kit, fix.bundle_id)) == (0, 25)


@pytest.mark.parametrize(
    "target",
    ["another agency's bundle", "own bundle of another period", "own bundle of another contract", "an unknown bundle", "an already superseded bundle"],
)
def test_a_correction_of_anything_but_a_current_own_bundle_is_refused(ck, kit, load, target):
    a = kit.records("shelter-a", n=20, seed=1)
    h = kit.records("health-c", n=20, seed=3)
    earlier = kit.records("shelter-a", n=10, seed=4, period=ck.EARLIER_PERIOD)
    counts = kit.counts("shelter-a", "referral", n=30, seed=5)
    for name, sealed in (("a", a), ("h", h), ("earlier", earlier), ("counts", counts)):
        assert load(name, sealed).outcome == "loaded", name
    if target == "an already superseded bundle":
        assert load("fix", kit.records("shelter-a", n=20, seed=6, supersedes=a.bundle_id)).outcome == "loaded"
    victim = {
        "another agency's bundle": h.bundle_id,
        "own bundle of another period": earlier.bundle_id,
        "own bundle of another contract": counts.bundle_id,
        "an unknown bundle": "f" * 32,
        "an already superseded bundle": a.bundle_id,
    }[target]
    before = ck.snapshot(kit.paths.warehouse)
    files_before = ck.staged_files_on_disk(kit.paths.warehouse)[1]
    out = load("correction", kit.records("shelter-a", n=15, seed=7, supersedes=victim))
    assert (out.outcome, out.reason) == ("quarantined", "SUPERSEDES_INVALID")
    after = ck.snapshot(kit.paths.warehouse)
    assert {k: v for k, v in after.items() if k != "quarantine_log"} == {k: v for k, v in before.items() if k != "quarantine_log"}
    assert ck.staged_files_on_disk(kit.paths.warehouse) == (files_before, files_before)  # no file left of the refused load
    assert _rows(ck, kit, h.bundle_id) == 20  # the other agency's rows are untouched


# --- DSA_INVALID ---------------------------------------------------------------------------------------


@pytest.fixture
def tier4(ck, kit):
    ck.add_agency(kit, "uni-d", 4)
    ck.add_agency(kit, "hospital-e", 4)
    ck.add_agreement(kit, "dsa-live", ["uni-d"])
    ck.add_agreement(kit, "dsa-ended", ["uni-d"], start="2025-01-01", end="2025-12-31")
    ck.add_agreement(kit, "dsa-revoked", ["uni-d"], status="revoked")
    return kit


def _research(kit, project: str | None, agency: str = "uni-d"):
    return kit.records(agency, "research_extract", n=12, seed=8, details={"project": project} if project else {})


def test_a_research_extract_under_an_agreement_in_force_loads(tier4, load):
    out = load("research", _research(tier4, "dsa-live"))
    assert (out.outcome, out.reason) == ("loaded", None)


@pytest.mark.parametrize(
    ("project", "agency"),
    # (An agreement naming another contract cannot be recorded: agreements name research contracts only.)
    [(None, "uni-d"), ("dsa-unknown", "uni-d"), ("dsa-ended", "uni-d"), ("dsa-revoked", "uni-d"), ("dsa-live", "hospital-e")],
    ids=["no project", "unknown agreement", "agreement ended", "agreement revoked", "agency not a party"],
)
def test_a_research_extract_without_an_agreement_in_force_is_refused(ck, tier4, load, project, agency):
    out = load("research", _research(tier4, project, agency))
    assert (out.outcome, out.reason) == ("quarantined", "DSA_INVALID")
    assert ck.query(tier4.paths.warehouse, "SELECT count(*) FROM ledger")[0][0] == 0


# --- RECORD_COUNT_MISMATCH, PAYLOAD_INVALID, PERIOD_INVALID ---------------------------------------------


@pytest.mark.parametrize("declared", [19, 21, 0])
def test_a_manifest_record_count_that_disagrees_with_the_payload_is_refused(ck, kit, load, declared):
    payload = ck.parquet_bytes(ck.service_episode_frame(20, ck.PERIOD, 9))
    out = load("count", kit.seal("shelter-a", "service_episode", payload, declared))
    assert (out.outcome, out.reason) == ("quarantined", "RECORD_COUNT_MISMATCH")
    assert ck.query(kit.paths.warehouse, "SELECT count(*) FROM ledger")[0][0] == 0


@pytest.mark.parametrize("payload", [b"", b"PAR1 not really parquet", b"a,b\n1,2\n"], ids=["empty", "bad parquet", "csv"])
def test_a_payload_that_is_not_a_parquet_table_is_refused(ck, kit, load, payload):
    out = load("payload", kit.seal("shelter-a", "service_episode", payload, 2))
    assert (out.outcome, out.reason) == ("quarantined", "PAYLOAD_INVALID")


@pytest.mark.parametrize("period", ["2026", "2026-H2", "2026-08"])
def test_a_period_that_is_not_a_quarter_is_refused(ck, kit, load, period):
    """The bundle format allows years, halves and months; the network reports by quarter."""
    payload = ck.parquet_bytes(ck.service_episode_frame(20, ck.PERIOD, 10))
    out = load("period", kit.seal("shelter-a", "service_episode", payload, 20, period=period))
    assert (out.outcome, out.reason) == ("quarantined", "PERIOD_INVALID")


# --- UNEXPECTED_ERROR ------------------------------------------------------------------------------------


def test_a_library_crash_while_verifying_is_a_quarantine_not_a_crash(ck, kit, load, monkeypatch):
    def crash(*args):
        raise RuntimeError("a parser bug on hostile bytes")

    monkeypatch.setattr(ingest, "_read_payload", crash)
    out = load("crash", kit.records("shelter-a", n=10, seed=11))
    assert (out.outcome, out.reason, out.message) == ("quarantined", "UNEXPECTED_ERROR", "the bundle could not be processed")
    assert (kit.paths.quarantine / "crash.dvb").exists() and not (kit.inbox / "crash.dvb").exists()


def test_a_library_crash_while_loading_rolls_back_and_quarantines(ck, kit, load, monkeypatch):
    assert load("good", kit.records("shelter-a", n=10, seed=12)).outcome == "loaded"
    before = ck.snapshot(kit.paths.warehouse)
    files_before = ck.staged_files_on_disk(kit.paths.warehouse)[1]

    def crash(point):
        if point == "after_rows":
            raise RuntimeError("disk trouble half way through")

    monkeypatch.setattr(ingest, "maybe_crash", crash)
    out = load("crash", kit.records("shelter-a", n=10, seed=13, period=ck.EARLIER_PERIOD))  # Q3 is taken by "good"
    assert (out.outcome, out.reason) == ("quarantined", "UNEXPECTED_ERROR")
    after = ck.snapshot(kit.paths.warehouse)
    assert {k: v for k, v in after.items() if k != "quarantine_log"} == {k: v for k, v in before.items() if k != "quarantine_log"}
    assert ck.staged_files_on_disk(kit.paths.warehouse) == (files_before, files_before)  # the failed load's file of rows is gone
