"""One live contribution per agency × contract × period (× project) (DESIGN §8, issue 12 point 2).

Each test compares warehouse sums before and after: ``contribution_counts`` (what every cube adds
up) and a published figure (the grand total of a release table, cut by the code ``dvnet publish``
uses). A second bundle for a period already loaded changes neither and is quarantined with
PERIOD_ALREADY_LOADED; a correction replaces the loaded bundle so the sums are the correction's;
a correction of a correction works; the key is held by the warehouse itself (a primary key).
"""

from __future__ import annotations

import duckdb
import pyarrow.compute as pc
import pytest

from dvnet.anonymize.counts import standard_counts
from dvnet.assets.intake.lib.ingest import CoordinatorContext, ingest_file
from dvnet.assets.warehouse.lib.cubes import RELEASE_TABLES, load_organisations, release_frame
from dvnet.contracts.registry import get_contract
from dvnet.common.network import load_network

SPEC = next(s for s in RELEASE_TABLES if s.source == "referral_flows")


@pytest.fixture
def load(kit):
    def _load(name: str, sealed):
        with duckdb.connect(str(kit.paths.warehouse)) as con:
            return ingest_file(kit.drop(name, sealed.blob), CoordinatorContext.load(kit.root), con)

    return _load


def sums(ck, kit, period: str) -> tuple[int, int]:
    """(sum of every count of ``period`` in contribution_counts, the published grand total of referral_flows)."""
    con = duckdb.connect(str(kit.paths.warehouse))
    try:
        counts = con.execute("SELECT coalesce(sum(n), 0) FROM contribution_counts WHERE period = ?", [period]).fetchall()[0][0]
        load_organisations(con, load_network(kit.root))
        frame = release_frame(con, SPEC, [period])
        total = frame[(frame[list(SPEC.dims)] == "Total").all(axis=1)]["value"]
        return int(counts), int(total.iloc[0]) if len(total) else 0
    finally:
        con.close()


def expected(ck, n: int, seed: int, period: str) -> tuple[int, int]:
    """The sums one referral bundle of ``n`` rows made with ``seed`` gives on its own (every
    referral is counted once in referral_flows, whose grand total is therefore ``n``)."""
    table = standard_counts(ck.FRAMES["referral"](n, period, seed), get_contract("referral"))
    return int(pc.sum(table["n"]).as_py()), n


def live(ck, kit) -> list[tuple]:
    return ck.query(kit.paths.warehouse, "SELECT agency_id, contract_id, period, project, bundle_id FROM live_contributions ORDER BY ALL")


@pytest.mark.parametrize("mode", ["aggregate", "record"])
def test_the_same_period_twice_is_quarantined_and_the_sums_do_not_change(ck, kit, load, mode):
    make = kit.counts if mode == "aggregate" else kit.records
    first = make("shelter-a", "referral", n=40, seed=1)
    assert load("first", first).outcome == "loaded"
    before = sums(ck, kit, ck.PERIOD)
    assert before[0] > 0 and before[1] == 40  # the published total counts each referral once
    out = load("again", make("shelter-a", "referral", n=40, seed=2))
    assert (out.outcome, out.reason) == ("quarantined", "PERIOD_ALREADY_LOADED")
    assert f"--supersedes {first.bundle_id}" in out.message  # tells the steward how to correct instead
    assert sums(ck, kit, ck.PERIOD) == before
    assert live(ck, kit) == [("shelter-a", "referral", ck.PERIOD, "", first.bundle_id)]
    receipt = next(r for r in ck.receipts(kit).values() if r["bundle_id"] == out.bundle_id)
    assert (receipt["outcome"], receipt["reason"]) == ("quarantined", "PERIOD_ALREADY_LOADED")


def test_other_periods_contracts_and_agencies_are_not_the_same_key(ck, kit, load):
    for name, sealed in (("a", kit.counts("shelter-a", "referral", n=30, seed=1)),
                         ("earlier", kit.counts("shelter-a", "referral", n=30, seed=2, period=ck.EARLIER_PERIOD)),
                         ("episodes", kit.records("shelter-a", "service_episode", n=30, seed=3)),
                         ("other agency", kit.counts("legal-b", "referral", n=30, seed=4))):  # fmt: skip
        assert load(name, sealed).outcome == "loaded", name
    assert sums(ck, kit, ck.PERIOD)[1] == 60
    assert len(live(ck, kit)) == 4


def test_a_correction_replaces_and_a_correction_of_a_correction_too(ck, kit, load):
    a = kit.counts("shelter-a", "referral", n=40, seed=1)
    assert load("a", a).outcome == "loaded"
    b = kit.counts("shelter-a", "referral", n=25, seed=2, supersedes=a.bundle_id)
    assert (load("b", b).outcome, sums(ck, kit, ck.PERIOD)) == ("loaded", expected(ck, 25, 2, ck.PERIOD))
    c = kit.counts("shelter-a", "referral", n=33, seed=3, supersedes=b.bundle_id)
    out = load("c", c)
    assert (out.outcome, out.replaced) == ("loaded", b.bundle_id)
    assert sums(ck, kit, ck.PERIOD) == expected(ck, 33, 3, ck.PERIOD)
    assert live(ck, kit) == [("shelter-a", "referral", ck.PERIOD, "", c.bundle_id)]
    ledger = dict(ck.query(kit.paths.warehouse, "SELECT bundle_id, superseded_by FROM ledger"))
    assert ledger == {a.bundle_id: b.bundle_id, b.bundle_id: c.bundle_id, c.bundle_id: None}
    # correcting the first again (no longer live) is refused, and changes nothing
    out = load("late", kit.counts("shelter-a", "referral", n=10, seed=4, supersedes=a.bundle_id))
    assert (out.outcome, out.reason) == ("quarantined", "SUPERSEDES_INVALID")
    assert sums(ck, kit, ck.PERIOD) == expected(ck, 33, 3, ck.PERIOD)


def test_a_record_correction_replaces_the_staged_rows_counts_and_ledger(ck, kit, load):
    a = kit.records("shelter-a", "referral", n=30, seed=1)
    load("a", a)
    b = kit.records("shelter-a", "referral", n=21, seed=2, supersedes=a.bundle_id)
    assert load("b", b).outcome == "loaded"
    assert ck.query(kit.paths.warehouse, "SELECT bundle_id, count(*) FROM staged_referral GROUP BY ALL") == [(b.bundle_id, 21)]
    assert sums(ck, kit, ck.PERIOD) == expected(ck, 21, 2, ck.PERIOD)


def test_the_warehouse_itself_refuses_a_second_live_bundle_for_a_key(ck, kit, load):
    """The invariant does not rest on ingest's check: whatever writes a second live bundle for a key fails."""
    load("a", kit.counts("shelter-a", "referral", n=30, seed=1))
    con = duckdb.connect(str(kit.paths.warehouse))
    try:
        with pytest.raises(duckdb.ConstraintException):
            con.execute("INSERT INTO live_contributions VALUES ('shelter-a', 'referral', ?, '', ?)", [ck.PERIOD, "e" * 32])
    finally:
        con.close()


def test_an_old_warehouse_gets_its_live_keys_from_the_ledger(ck, kit, load):
    a = kit.counts("shelter-a", "referral", n=30, seed=1)
    load("a", a)
    with duckdb.connect(str(kit.paths.warehouse)) as con:
        con.execute("DROP TABLE live_contributions")  # as a warehouse made before the table existed
    out = load("again", kit.counts("shelter-a", "referral", n=30, seed=2))
    assert (out.outcome, out.reason) == ("quarantined", "PERIOD_ALREADY_LOADED")
    assert live(ck, kit) == [("shelter-a", "referral", ck.PERIOD, "", a.bundle_id)]


@pytest.mark.slow
def test_two_separate_ingest_runs_do_not_count_a_period_twice(ck, kit, tmp_path):
    home = ck.dagster_home(tmp_path)
    args = ["ingest", "--network", str(kit.root), "--dagster-home", str(home), *ck.as_coordinator(kit.root)]
    kit.drop("first", kit.counts("shelter-a", "referral", n=40, seed=1).blob)
    assert ck.run_cli(args).returncode == 0
    before = sums(ck, kit, ck.PERIOD)
    kit.drop("second", kit.counts("shelter-a", "referral", n=40, seed=2).blob)
    second = ck.run_cli(args)
    assert second.returncode == 1 and "PERIOD_ALREADY_LOADED" in second.stdout
    assert sums(ck, kit, ck.PERIOD) == before


def test_the_sensor_path_does_not_count_a_period_twice(ck, kit, instance):
    kit.drop("first", kit.counts("shelter-a", "referral", n=40, seed=1).blob)
    kit.drop("second", kit.counts("shelter-a", "referral", n=40, seed=2).blob)
    _, runs = ck.tick(kit, instance)
    assert len(runs) == 2 and all(r.success for _, r in runs)
    assert sums(ck, kit, ck.PERIOD) == expected(ck, 40, 1, ck.PERIOD)
    assert [r for (r,) in ck.query(kit.paths.warehouse, "SELECT reason FROM quarantine_log")] == ["PERIOD_ALREADY_LOADED"]


def test_two_projects_of_one_quarter_are_two_keys_and_each_project_loads_once(ck, kit, load):
    """Research contributions are keyed by project too: one agency's quarter goes to two evaluation
    projects once each; the same project again is refused and changes no staged row."""
    ck.add_agency(kit, "uni-d", 4)
    for dsa in ("dsa-one", "dsa-two"):
        ck.add_agreement(kit, dsa, ["uni-d"])

    def research(project: str, seed: int):
        return kit.records("uni-d", "research_extract", n=12, seed=seed, details={"project": project})

    one, two = research("dsa-one", 1), research("dsa-two", 2)
    assert (load("one", one).outcome, load("two", two).outcome) == ("loaded", "loaded")
    staged = "SELECT c.project, count(*) FROM staged_research_extract s JOIN live_contributions c USING (bundle_id) GROUP BY ALL ORDER BY ALL"
    before = ck.query(kit.paths.warehouse, staged)
    assert before == [("dsa-one", 12), ("dsa-two", 12)]
    out = load("one again", research("dsa-one", 3))
    assert (out.outcome, out.reason) == ("quarantined", "PERIOD_ALREADY_LOADED") and f"--supersedes {one.bundle_id}" in out.message
    assert ck.query(kit.paths.warehouse, staged) == before
    assert ck.query(kit.paths.warehouse, "SELECT count(*) FROM staged_research_extract") == [(24,)]
    assert [(p, b) for *_, p, b in live(ck, kit)] == [("dsa-one", one.bundle_id), ("dsa-two", two.bundle_id)]
