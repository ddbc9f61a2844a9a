"""``intake_batch``: the inbox in one Dagster run (what ``dvnet ingest`` runs, issue 18), reported
per agency × period exactly as one run per partition reports it."""

from __future__ import annotations

import shutil

import pytest
from dagster import DagsterInstance

from dvnet.contracts.errors import DvnetError


def _inbox(ck, kit):
    """Two agencies, two periods, a correction, a duplicate and a broken file: shelter-a's sequence
    interleaves its periods (Q3, Q2, Q3), so the batch has two groups of one partition."""
    original = kit.records("shelter-a", n=30, seed=1)
    kit.drop("a1", original.blob)
    kit.drop("a2", kit.records("shelter-a", n=12, seed=2, period=ck.EARLIER_PERIOD).blob)
    kit.drop("a3", kit.records("shelter-a", n=22, seed=3, supersedes=original.bundle_id).blob)
    counts = kit.counts("legal-b", "referral", n=40, seed=4)
    kit.drop("b1", counts.blob)
    kit.drop("b1-again", counts.blob)
    kit.drop("broken", original.blob[:-1])


def test_a_batch_leaves_what_one_run_per_partition_leaves(ck, kit, tmp_path):
    _inbox(ck, kit)
    twin = ck.Kit(tmp_path / "twin")
    shutil.copytree(kit.root, twin.root)

    with DagsterInstance.ephemeral() as per_partition, DagsterInstance.ephemeral() as batched:
        _, runs = ck.tick(twin, per_partition)
        assert runs and all(res.success for _, res in runs)
        result = ck.run_batch(kit, batched)
        assert result.success
        assert len(batched.get_runs()) == 1
        for asset in ("intake", "staged_service_episodes", "contribution_counts"):
            expected, got = ck.partition_reports(per_partition, asset), ck.partition_reports(batched, asset)
            if asset != "intake":  # one materialisation per run there, per group here: the latest row count is what both end on
                expected = {p: [m["dagster/partition_row_count"] for m in ms][-1:] for p, ms in expected.items()}
                got = {p: [m["dagster/partition_row_count"] for m in ms][-1:] for p, ms in got.items()}
            assert got == expected, asset
        outcomes = sorted(b["outcome"] for bundles in ck.partition_reports(batched, "intake").values() for b in bundles)
    assert outcomes == ["duplicate", "loaded", "loaded", "loaded", "loaded", "quarantined"]
    assert ck.snapshot(kit.paths.warehouse) == ck.snapshot(twin.paths.warehouse)
    assert sorted(p.relative_to(kit.paths.receipts).parent for p in kit.paths.receipts.rglob("*.receipt.json")) == sorted(
        p.relative_to(twin.paths.receipts).parent for p in twin.paths.receipts.rglob("*.receipt.json"))
    assert not list(kit.inbox.glob("*.dvb"))


def test_the_intake_checks_run_once_over_the_batch_and_fail_there(ck, kit, instance):
    kit.drop("a", kit.records("shelter-a", n=10, seed=5).blob)
    kit.drop("b", kit.counts("legal-b", "referral", n=20, seed=6).blob)
    (kit.paths.quarantine / "dropped-by-hand.dvb").write_bytes(b"?")  # a quarantined file nobody explained
    result = ck.run_batch(kit, instance)
    assert result.success  # a failed check is recorded, the loads stand
    checks = ck.check_results(result)
    assert checks == {
        "intake:bundles_reconcile": (True, "ERROR"),
        "intake:quarantine_explained": (False, "ERROR"),
        "intake:agencies_contributed_this_period": (False, "WARN"),  # health-c sent nothing
        "intake:loaded_rows_conform": (True, "ERROR"),
    }
    reconciled = next(e for e in result.get_asset_check_evaluations() if e.check_name == "bundles_reconcile")
    assert reconciled.metadata["bundles_checked"].value == 2


def test_a_busy_warehouse_stops_the_batch_and_loses_nothing(ck, kit, instance, monkeypatch):
    from dvnet.assets.resources import WarehouseResource

    kit.drop("a", kit.records("shelter-a", n=10, seed=7).blob)
    kit.drop("b", kit.records("legal-b", "referral", n=10, seed=8).blob)
    real, calls = WarehouseResource.writer, []

    def writer(self):
        calls.append(1)
        if len(calls) == 2:  # shelter-a's group (after legal-b's: agency order): another command holds the warehouse
            raise DvnetError("WAREHOUSE_BUSY", "the warehouse is in use; waited 0 s for it")
        return real(self)

    monkeypatch.setattr(WarehouseResource, "writer", writer)
    with pytest.raises(DvnetError, match="WAREHOUSE_BUSY"):
        ck.run_batch(kit, instance)
    # shelter-a's bundle waits in the inbox for the next run; legal-b's group is loaded and reported.
    assert [p.name for p in kit.inbox.glob("*.dvb")] == ["a.dvb"]
    assert ck.query(kit.paths.warehouse, "SELECT agency_id FROM ledger") == [("legal-b",)]
    assert list(ck.partition_reports(instance, "intake")) == [f"legal-b|{ck.PERIOD}"]
    monkeypatch.setattr(WarehouseResource, "writer", real)
    assert ck.run_batch(kit, instance).success
    assert sorted(ck.query(kit.paths.warehouse, "SELECT agency_id FROM ledger")) == [("legal-b",), ("shelter-a",)]
