"""``intake_batch``: the inbox in one Dagster run (what ``dvnet ingest`` runs, issue 18), reported
per agency × period exactly as one run per partition reports it."""

from __future__ import annotations

import datetime as dt
import shutil

import duckdb
import pytest
from dagster import DagsterInstance

from dvnet.bundle.keys import generate_encryption_key
from dvnet.assets.warehouse.assets import CUBE_FAMILIES, cube_metadata, people_metadata
from dvnet.common.network import load_network
from dvnet.contracts.errors import DvnetError


def _inbox(ck, kit):
    """Two agencies, two periods, a correction, a duplicate and a broken file: shelter-a's sequence
    interleaves its periods (Q3, Q2, Q3), so the batch has two groups of one partition. And three
    refused before decryption, which the batch files as the sensor does although its verification
    stops before the manifest: a stale bundle (filed under its agency × period), a forged sender
    and a bundle sealed for another coordinator (both under the sentinel)."""
    original = kit.records("shelter-a", n=30, seed=1)
    kit.drop("a1", original.blob)
    kit.drop("a2", kit.records("shelter-a", n=12, seed=2, period=ck.EARLIER_PERIOD).blob)
    kit.drop("a3", kit.records("shelter-a", n=22, seed=3, supersedes=original.bundle_id).blob)
    counts = kit.counts("legal-b", "referral", n=40, seed=4)
    kit.drop("b1", counts.blob)
    kit.drop("b1-again", counts.blob)
    kit.drop("broken", original.blob[:-1])
    kit.drop("stale", kit.records("health-c", n=8, seed=7, now=dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=60)).blob)
    kit.drop("forged", kit.records("shelter-a", n=8, seed=8, signing_key=kit.signing_key("legal-b")).blob)
    kit.drop("misaddressed", kit.records("health-c", n=8, seed=9, recipient=generate_encryption_key().public_key()).blob)


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
        filed = {p: sorted(b["file"] for b in bundles) for p, bundles in ck.partition_reports(batched, "intake").items()}
    assert outcomes == ["duplicate", "loaded", "loaded", "loaded", "loaded", "quarantined", "quarantined", "quarantined", "quarantined"]
    assert filed[f"health-c|{ck.PERIOD}"] == ["stale.dvb"] and filed["_unverified|_unknown"] == ["broken.dvb", "forged.dvb", "misaddressed.dvb"]
    with duckdb.connect(str(twin.paths.warehouse)) as con:  # the batch rebuilt the cubes too: the twin's, as the warehouse assets build them
        for family in CUBE_FAMILIES:
            cube_metadata(con, load_network(twin.root), family)
        people_metadata(con)
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
        # something loaded: the run's last turn rebuilt the cubes and checked them
        "service_indicator_cubes:service_indicator_cubes_reconcile": (True, "ERROR"),
        "equity_cubes:equity_cubes_reconcile": (True, "ERROR"),
        "referral_flow_cubes:referral_flow_cubes_reconcile": (True, "ERROR"),
    }
    reconciled = next(e for e in result.get_asset_check_evaluations() if e.check_name == "bundles_reconcile")
    assert reconciled.metadata["bundles_checked"].value == 2


def test_a_busy_warehouse_stops_the_batch_and_loses_nothing(ck, kit, instance, monkeypatch):
    from dvnet.assets import resources
    from dvnet.assets.resources import WarehouseResource

    kit.drop("a", kit.records("shelter-a", n=10, seed=7).blob)
    kit.drop("b", kit.records("legal-b", "referral", n=10, seed=8).blob)
    real, calls = WarehouseResource.writer, []

    def writer(self):
        calls.append(1)
        if len(calls) == 2:  # shelter-a's group (after legal-b's: agency order): the waiter took the warehouse and holds it
            raise DvnetError("WAREHOUSE_BUSY", "the warehouse is in use; waited 0 s for it")
        return real(self)

    monkeypatch.setattr(WarehouseResource, "writer", writer)
    monkeypatch.setattr(resources, "others_waiting", lambda database: True)  # another command waits: the batch lets go between groups
    with pytest.raises(DvnetError, match="WAREHOUSE_BUSY"):
        ck.run_batch(kit, instance)
    # shelter-a's bundle waits in the inbox for the next run; legal-b's group is loaded and reported.
    assert [p.name for p in kit.inbox.glob("*.dvb")] == ["a.dvb"]
    assert ck.query(kit.paths.warehouse, "SELECT agency_id FROM ledger") == [("legal-b",)]
    assert list(ck.partition_reports(instance, "intake")) == [f"legal-b|{ck.PERIOD}"]
    monkeypatch.setattr(WarehouseResource, "writer", real)
    monkeypatch.setattr(resources, "others_waiting", lambda database: False)
    assert ck.run_batch(kit, instance).success
    assert sorted(ck.query(kit.paths.warehouse, "SELECT agency_id FROM ledger")) == [("legal-b",), ("shelter-a",)]


def test_the_batch_keeps_its_warehouse_connection_between_groups_while_nobody_waits(ck, kit, instance, monkeypatch):
    """Opening and closing the warehouse per group cost a checkpoint each (about 2 s over 50
    bundles); the batch keeps one writer while no other process waits, and opens anew after letting
    one in (the turns themselves: test_central_writers)."""
    from dvnet.assets import resources
    from dvnet.assets.resources import WarehouseResource

    def opened_per_batch(waiting: bool) -> int:
        for name, agency, contract in (("a", "shelter-a", "service_episode"), ("b", "legal-b", "referral"), ("c", "health-c", "service_episode")):
            kit.drop(f"{name}{waiting}", kit.records(agency, contract, n=5, seed=3 * waiting, period=ck.EARLIER_PERIOD if waiting else ck.PERIOD).blob)
        calls = []
        monkeypatch.setattr(WarehouseResource, "writer", lambda self: calls.append(1) or real(self))
        monkeypatch.setattr(resources, "others_waiting", lambda database: waiting)
        assert ck.run_batch(kit, instance).success
        monkeypatch.setattr(WarehouseResource, "writer", real)
        assert not list(kit.inbox.glob("*.dvb")) and not list(kit.paths.quarantine.glob("*.dvb"))  # all three loaded
        return len(calls)

    real = WarehouseResource.writer
    assert opened_per_batch(False) == 1  # three groups and the checks on one connection
    assert opened_per_batch(True) == 4  # each group and the checks on their own


@pytest.mark.parametrize("every", [1, None], ids=["checked-as-groups-commit", "checked-at-the-end"])
def test_the_batch_check_proves_loaded_rows_by_the_file_ingest_encoded_from_what_it_validated(ck, kit, instance, monkeypatch, every):
    """The batch's ``loaded_rows_conform`` takes the rows ingest validated as proven when the
    stored rows have their digest; a load that stored something else has its rows validated again,
    so a value the rules refuse is caught and its rule named: whether the batch checks the rows
    as its groups commit (``CHECK_EVERY_ROWS`` reached) or all at the end."""
    import pyarrow as pa

    from dvnet.assets.intake import batch
    from dvnet.assets.intake.lib import ingest

    if every is not None:
        monkeypatch.setattr(batch, "CHECK_EVERY_ROWS", every)

    kit.drop("a", kit.records("shelter-a", n=12, seed=1).blob)
    kit.drop("c", kit.records("health-c", n=7, seed=2).blob)
    result = ck.run_batch(kit, instance)
    (conform,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "loaded_rows_conform"]
    assert conform.passed and conform.metadata["staged_rows_as_validated"].value == 19

    real = ingest.stage_rows

    def altering(con, contract_id, keys, rows, encoded=None):  # a load that stores a value other than the one validated
        column = rows.column("service_type").to_pylist()
        rows = rows.set_column(rows.column_names.index("service_type"), "service_type", pa.array(["teleportation", *column[1:]]))
        return real(con, contract_id, keys, rows)  # encoded from the altered rows, not verification's bytes

    monkeypatch.setattr(ingest, "stage_rows", altering)
    kit.drop("b", kit.records("shelter-a", n=9, seed=3, period=ck.EARLIER_PERIOD).blob)
    result = ck.run_batch(kit, instance, raise_on_error=False)
    (conform,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "loaded_rows_conform"]
    assert not conform.passed and conform.metadata["staged_rows_as_validated"].value == 0
    assert conform.metadata["violations_by_table"].value == {"staged_service_episode": {"service_type:isin": 1}}


def test_a_cube_rebuild_that_fails_is_reported_as_failed_checks_and_the_loads_stand(ck, kit, instance, monkeypatch, caplog):
    """The batch's last turn rebuilds the cubes; when that fails, each family it did not finish
    has a failed reconcile check naming the error's type (never its message, which may quote a
    value), the loads stay loaded and recorded, and nothing says the cubes were built."""
    from dvnet.assets.intake import batch

    real = batch.cube_metadata

    def failing(con, network, family):
        if family == "equity_cubes":
            raise RuntimeError("a message quoting 'canary-value-7731'")
        return real(con, network, family)

    monkeypatch.setattr(batch, "cube_metadata", failing)
    kit.drop("a", kit.records("shelter-a", n=10, seed=5).blob)
    result = ck.run_batch(kit, instance)
    assert result.success
    checks = ck.check_results(result)
    assert checks["service_indicator_cubes:service_indicator_cubes_reconcile"] == (True, "ERROR")  # built before the failure
    assert checks["equity_cubes:equity_cubes_reconcile"] == checks["referral_flow_cubes:referral_flow_cubes_reconcile"] == (False, "ERROR")
    failed = next(e for e in result.get_asset_check_evaluations() if e.check_name == "equity_cubes_reconcile")
    assert failed.metadata["rebuild_failed"].value == "RuntimeError"
    built = {m.asset_key.to_user_string() for m in result.asset_materializations_for_node("load_batch")}
    assert "service_indicator_cubes" in built and not built & {"equity_cubes", "referral_flow_cubes", "unduplicated_people"}
    assert ck.query(kit.paths.warehouse, "SELECT count(*) FROM staged_service_episode") == [(10,)]
    logs = "".join(str(e.message) for e in instance.all_logs(result.run_id)) + caplog.text
    assert "canary-value-7731" not in logs and "RuntimeError" in logs
