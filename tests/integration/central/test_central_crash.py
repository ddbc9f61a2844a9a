"""Crash consistency: `dvnet ingest` killed at each named point leaves the warehouse as it was
before the bundle or as it is after it, never between; a plain rerun then reaches the after state.

The process is killed for real (``DVNET_FAULT_AT`` makes it ``os._exit`` mid-ingest, no cleanup),
in a subprocess, on a correction bundle: the one load that deletes, inserts and updates the ledger.
"""

from __future__ import annotations

import shutil

import pytest

from dvnet.assets.intake.lib.faults import POINTS

@pytest.mark.slow
@pytest.mark.parametrize("point", POINTS)
def test_a_crash_leaves_the_warehouse_before_or_after_never_between(ck, kit, instance, tmp_path, point):
    original = kit.records("shelter-a", n=30, seed=1)
    kit.drop("original", original.blob)
    ck.run_partition(kit, instance, "shelter-a", ck.PERIOD)
    kit.drop("correction", kit.records("shelter-a", n=20, seed=2, supersedes=original.bundle_id).blob)
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
    assert state in (before, after)
    assert state == (after if point == "after_commit" else before)

    rerun = ck.run_cli(args)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr[-2000:]
    assert {t: rows for t, rows in ck.snapshot(db).items() if not t.startswith("cube_")} == after  # the CLI also rebuilt the cubes
    assert not list(kit.inbox.glob("*.dvb"))
