"""Crash consistency: `dvnet ingest` killed at each named point leaves a state the next run
completes: the warehouse as it was before the bundle or as it is after it, never between, and in
the end every bundle loaded once with its audit line (exactly one) and receipt, or quarantined with both.

The process is killed for real (``DVNET_FAULT_AT`` makes it ``os._exit`` mid-ingest, no cleanup),
in a subprocess, on a correction bundle (the one load that deletes, inserts and updates the
ledger) and on a bundle quarantined for a period already loaded. Points from ``after_commit`` on
fall after the load's transaction: its journal row (``unfinished_loads``) is what the rerun finishes.
"""

from __future__ import annotations

import shutil

import duckdb
import pytest

from dvnet.common.faults import CUBE_POINTS, POINTS, QUARANTINE_POINTS
from dvnet.common import audit

FINISHING = POINTS[POINTS.index("after_commit") :]


def _no_cubes(snapshot: dict) -> dict:
    """A snapshot without the cube tables (the CLI rebuilds them after each ingest)."""
    return {t: rows for t, rows in snapshot.items() if not t.startswith("cube_")}


def _without(snapshot: dict, *tables: str) -> dict:
    return {k: v for k, v in snapshot.items() if k not in tables}


def _records(ck, kit, bundle_id: str, action: str) -> tuple[int, list[str]]:
    """(audit lines of ``action`` for the bundle, outcomes of its receipts)."""
    entries = [e for e in audit.read(kit.paths.audit_log) if e["action"] == action and e["objects"].get("bundle") == bundle_id]
    return len(entries), [r["outcome"] for r in ck.receipts(kit).values() if r["bundle_id"] == bundle_id]


def _recorded(ck, kit, bundle_id: str, action: str, outcome: str) -> None:
    """The bundle has its audit line (once: a rerun never repeats it) and its receipt, and its
    file has left the inbox."""
    lines, receipts = _records(ck, kit, bundle_id, action)
    assert lines == 1, f"{lines} {action} audit lines for the bundle, not one"
    assert receipts == [outcome]
    assert not list(kit.inbox.glob("*.dvb"))


@pytest.mark.slow
@pytest.mark.parametrize("point", POINTS)
def test_a_crash_leaves_the_warehouse_before_or_after_never_between(ck, kit, instance, tmp_path, point, tally):
    original = kit.records("shelter-a", n=30, seed=1)
    kit.drop("original", original.blob)
    ck.run_partition(kit, instance, "shelter-a", ck.PERIOD)
    correction = kit.records("shelter-a", n=20, seed=2, supersedes=original.bundle_id)
    kit.drop("correction", correction.blob)
    db = kit.paths.warehouse
    before = ck.snapshot(db)

    # The after state, from an uninterrupted run on a copy of the same network.
    reference = ck.Kit(tmp_path / "reference" / "net")
    shutil.copytree(kit.root, reference.root)
    ck.run_partition(reference, instance, "shelter-a", ck.PERIOD)
    after = ck.snapshot(reference.paths.warehouse)
    assert after != before and not list(reference.inbox.glob("*.dvb"))

    home = ck.dagster_home(tmp_path)
    args = ["ingest", "--network", str(kit.root), "--dagster-home", str(home), *ck.as_coordinator(kit.root)]
    crashed = ck.run_cli(args, env={"DVNET_FAULT_AT": point})
    assert crashed.returncode == 86, crashed.stderr[-2000:]  # killed at the fault point, not finished
    state = ck.snapshot(db)
    if point in FINISHING:  # loaded; the journal row says what is left to do (none once archived)
        assert _without(state, "unfinished_loads") == _without(after, "unfinished_loads")
        assert state["unfinished_loads"] == ([] if point == "after_archive" else [(correction.bundle_id,)])
    else:
        assert state == before

    rerun = ck.run_cli(args)
    final = _no_cubes(ck.snapshot(db))  # the CLI also rebuilt the cubes
    lines, receipts = _records(ck, kit, correction.bundle_id, "bundle_loaded")
    tally("crash consistency", kills=1, partial=int(_without(state, "unfinished_loads") not in (_without(before, "unfinished_loads"), _without(after, "unfinished_loads"))),
          duplicate=int(lines > 1 or len(receipts) > 1), unrecorded=int(lines == 0 or not receipts), rows_lost=int(final != after))  # fmt: skip
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr[-2000:]
    assert final == after
    assert not list(kit.inbox.glob("*.dvb"))
    _recorded(ck, kit, correction.bundle_id, "bundle_loaded", "loaded")


@pytest.mark.slow
@pytest.mark.parametrize("point", FINISHING[1:] + QUARANTINE_POINTS)
def test_a_crash_while_quarantining_is_completed_by_the_next_run(ck, kit, instance, tmp_path, point, tally):
    kit.drop("first", kit.counts("shelter-a", "referral", n=30, seed=1).blob)
    ck.run_partition(kit, instance, "shelter-a", ck.PERIOD)
    second = kit.counts("shelter-a", "referral", n=30, seed=2)  # the same period again: quarantined
    kit.drop("second", second.blob)
    before = ck.snapshot(kit.paths.warehouse)
    args = ["ingest", "--network", str(kit.root), "--dagster-home", str(ck.dagster_home(tmp_path)), *ck.as_coordinator(kit.root)]
    assert ck.run_cli(args, env={"DVNET_FAULT_AT": point}).returncode == 86
    killed = _without(_no_cubes(ck.snapshot(kit.paths.warehouse)), "quarantine_log")
    assert ck.run_cli(args).returncode in (0, 1)  # 1 when the rerun quarantined it again
    lines, receipts = _records(ck, kit, second.bundle_id, "bundle_quarantined")
    logged = ck.query(kit.paths.warehouse, "SELECT count(*) FROM quarantine_log WHERE bundle_id = ?", [second.bundle_id])[0][0]
    tally("crash consistency", kills=1, partial=int(killed != _without(_no_cubes(before), "quarantine_log")), duplicate=int(lines > 1 or len(receipts) > 1 or logged > 1),
          unrecorded=int(lines == 0 or not receipts or logged == 0), rows_lost=int(_without(_no_cubes(ck.snapshot(kit.paths.warehouse)), "quarantine_log") != _without(_no_cubes(before), "quarantine_log")))  # fmt: skip
    _recorded(ck, kit, second.bundle_id, "bundle_quarantined", "quarantined")
    assert logged == 1, f"{logged} quarantine log rows for the bundle, not one"
    assert _without(_no_cubes(ck.snapshot(kit.paths.warehouse)), "quarantine_log") == _without(_no_cubes(before), "quarantine_log")
    assert list(kit.paths.quarantine.glob("second*.dvb"))


def _cubes_behind(kit) -> list[str]:
    """The cube families whose cubes do not total the contributions they sum (or are missing)."""
    from dvnet.assets.warehouse.assets import CUBE_FAMILIES, cubes_reconcile

    with duckdb.connect(str(kit.paths.warehouse), read_only=True) as con:
        behind = []
        for family in CUBE_FAMILIES:
            try:
                whole = cubes_reconcile(con, family)[0]
            except duckdb.CatalogException:
                whole = False
            if not whole:
                behind.append(family)
        return behind


@pytest.mark.slow
@pytest.mark.parametrize("point", ["after_archive", *CUBE_POINTS])
def test_cubes_a_killed_ingest_left_behind_are_rebuilt_by_the_next_one_though_the_inbox_is_empty(ck, kit, tmp_path, point):
    """Killed after its loads left the inbox (before its cube rebuild, or between two families of
    it), `dvnet ingest` left the cubes behind the contributions, some families newer than others,
    and the next one found the inbox empty and did nothing: they stayed so until a later bundle
    loaded. The rebuild is owed from before the load commits until every family is rebuilt."""
    kit.drop("episodes", kit.records("health-c", n=30, seed=2).blob)  # feeds two families: one rebuilt, one not, at the second point
    args = ["ingest", "--network", str(kit.root), "--dagster-home", str(ck.dagster_home(tmp_path)), *ck.as_coordinator(kit.root)]
    crashed = ck.run_cli(args, env={"DVNET_FAULT_AT": point})
    assert crashed.returncode == 86, crashed.stderr[-2000:]
    assert not list(kit.inbox.glob("*.dvb")) and len(ck.query(kit.paths.warehouse, "SELECT * FROM ledger")) == 1
    assert _cubes_behind(kit)

    rerun = ck.run_cli(args)
    assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-2000:]
    assert "indicator cubes rebuilt" in rerun.stdout and not ck.shows_a_trace(rerun.stdout + rerun.stderr)
    assert _cubes_behind(kit) == []
    again = ck.run_cli(args)  # nothing owed any more: no run
    assert again.returncode == 0 and "is empty: nothing to ingest" in again.stdout, again.stdout
