"""The intake job and inbox sensor: partitions, metadata, idempotency and corrections."""

from __future__ import annotations

import os
import shutil

import pytest
from dagster import AssetKey, MultiPartitionKey


def test_sensor_files_each_bundle_under_its_agency_and_period_and_loads_it(ck, kit, instance):
    episodes = kit.records("shelter-a", n=30, seed=1)
    earlier = kit.records("shelter-a", n=10, seed=2, period=ck.EARLIER_PERIOD)
    referrals = kit.counts("legal-b", "referral", n=25, seed=3)
    for name, sealed in (("a-q3", episodes), ("a-q2", earlier), ("b-q3", referrals)):
        kit.drop(name, sealed.blob)

    result, runs = ck.tick(kit, instance)

    assert set(instance.get_dynamic_partitions("agency")) == {"shelter-a", "legal-b"}
    assert set(instance.get_dynamic_partitions("period")) == {ck.PERIOD, ck.EARLIER_PERIOD}
    assert {(r.tags["dvnet/bundle_file"], r.partition_key) for r, _ in runs} == {
        ("a-q3.dvb", f"shelter-a|{ck.PERIOD}"),
        ("a-q2.dvb", f"shelter-a|{ck.EARLIER_PERIOD}"),
        ("b-q3.dvb", f"legal-b|{ck.PERIOD}"),
    }
    assert {r.run_key.split("/")[0] for r, _ in runs} == {episodes.bundle_id, earlier.bundle_id, referrals.bundle_id}
    assert not list(kit.inbox.glob("*.dvb"))

    by_file = {r.tags["dvnet/bundle_file"]: res for r, res in runs}
    meta = ck.materialization(by_file["a-q3.dvb"], "intake")
    assert (meta["loaded"], meta["quarantined"], meta["duplicate"], meta["rows_loaded"]) == (1, 0, 0, 30)
    assert meta["contract_versions"] == ["service_episode/v1"] and meta["bundle_ids"] == [episodes.bundle_id]
    staged = ck.materialization(by_file["a-q3.dvb"], "staged_service_episodes")
    assert staged["rows_loaded"] == 30 and staged["dagster/partition_row_count"] == 30
    assert ck.materialization(by_file["a-q3.dvb"], "contribution_counts")["count_rows_loaded"] > 0
    # An aggregate bundle materialises counts but no staged rows.
    assert ck.materialization(by_file["b-q3.dvb"], "staged_referrals") is None
    assert ck.materialization(by_file["b-q3.dvb"], "contribution_counts")["count_rows_loaded"] == referrals.manifest["record_count"]

    # Dagster's partition view: each materialised partition is the one the bundle belongs to.
    mats = instance.fetch_materializations(AssetKey("staged_service_episodes"), limit=10).records
    assert {m.partition_key for m in mats} == {f"shelter-a|{ck.PERIOD}", f"shelter-a|{ck.EARLIER_PERIOD}"}

    # A tick with nothing new requests nothing; the cursor only remembers what is still in the inbox.
    again, runs2 = ck.tick(kit, instance, result.cursor)
    assert runs2 == [] and again.skip_reason is not None


def test_the_same_bundle_twice_loads_once(ck, kit, instance):
    sealed = kit.records("shelter-a", n=20, seed=5)
    kit.drop("first-copy", sealed.blob)
    kit.drop("second-copy", sealed.blob)  # the same bytes delivered twice
    first, runs = ck.tick(kit, instance)
    outcomes = sorted(ck.materialization(res, "intake")["bundles"][0]["outcome"] for _, res in runs)
    assert outcomes == ["duplicate", "loaded"]
    db = kit.paths.warehouse
    assert ck.query(db, "SELECT count(*) FROM ledger") == [(1,)]
    assert ck.query(db, "SELECT count(*) FROM staged_service_episode") == [(20,)]
    state = ck.snapshot(db)

    # Delivered a third time, later: a new run (new arrival), recorded as a duplicate, nothing changes.
    kit.drop("third-copy", sealed.blob)
    _, runs = ck.tick(kit, instance, first.cursor)
    assert [ck.materialization(res, "intake")["bundles"][0]["reason"] for _, res in runs] == ["DUPLICATE"]
    assert ck.snapshot(db) == state


def test_rerunning_a_run_changes_nothing(ck, kit, instance):
    kit.drop("a", kit.records("shelter-a", n=20, seed=6).blob)
    _, runs = ck.tick(kit, instance)
    (request, _), = runs
    db = kit.paths.warehouse
    state = ck.snapshot(db)
    receipts = ck.receipts(kit)

    # The same run again (same partition, same config): its file was processed, so nothing happens.
    agency, period = request.partition_key.split("|")
    rerun = ck.run_partition(kit, instance, agency, period, files=["a.dvb"])
    meta = ck.materialization(rerun, "intake")
    assert meta["bundles_processed"] == 0 and meta["skipped"] == {"not_in_inbox": 1}
    # ... and the partition's default (every pending bundle of it) finds none either.
    ck.run_partition(kit, instance, agency, period)
    assert ck.snapshot(db) == state
    assert ck.receipts(kit) == receipts


def test_a_run_leaves_other_partitions_bundles_alone(ck, kit, instance):
    kit.drop("a", kit.records("shelter-a", n=10, seed=7).blob)
    kit.drop("b", kit.records("legal-b", "referral", n=10, seed=8).blob)
    res = ck.run_partition(kit, instance, "shelter-a", ck.PERIOD, files=["a.dvb", "b.dvb"])
    assert ck.materialization(res, "intake")["skipped"] == {"other_partition": 1}
    assert (kit.inbox / "b.dvb").exists() and not (kit.inbox / "a.dvb").exists()


def test_a_correction_replaces_rather_than_adds(ck, kit, instance):
    db = kit.paths.warehouse
    original = kit.records("shelter-a", n=30, seed=9)
    counts = kit.counts("shelter-a", "referral", n=40, seed=10)
    kit.drop("original", original.blob)
    kit.drop("counts", counts.blob)
    first, _ = ck.tick(kit, instance)
    counts_before = ck.query(db, "SELECT count(*) FROM contribution_counts WHERE bundle_id = ?", [original.bundle_id])[0][0]
    assert counts_before > 0

    fixed = kit.records("shelter-a", n=22, seed=11, supersedes=original.bundle_id)
    fixed_counts = kit.counts("shelter-a", "referral", n=35, seed=12, supersedes=counts.bundle_id)
    kit.drop("fixed", fixed.blob)
    kit.drop("fixed-counts", fixed_counts.blob)
    _, runs = ck.tick(kit, instance, first.cursor)
    assert all(res.success for _, res in runs)

    partition = ["shelter-a", ck.PERIOD]
    assert ck.query(db, "SELECT bundle_id, count(*) FROM staged_service_episode WHERE agency_id = ? AND period = ? GROUP BY ALL", partition) == [(fixed.bundle_id, 22)]
    assert ck.query(db, "SELECT count(*) FROM contribution_counts WHERE bundle_id IN (?, ?)", [original.bundle_id, counts.bundle_id]) == [(0,)]
    assert ck.query(db, "SELECT count(*) FROM contribution_counts WHERE bundle_id = ?", [fixed_counts.bundle_id]) == [(fixed_counts.manifest["record_count"],)]
    assert dict(ck.query(db, "SELECT bundle_id, superseded_by FROM ledger WHERE agency_id = 'shelter-a'")) == {
        original.bundle_id: fixed.bundle_id,
        counts.bundle_id: fixed_counts.bundle_id,
        fixed.bundle_id: None,
        fixed_counts.bundle_id: None,
    }
    by_file = {r.tags["dvnet/bundle_file"]: res for r, res in runs}
    assert ck.materialization(by_file["fixed.dvb"], "staged_service_episodes")["replaced_bundle_ids"] == [original.bundle_id]
    assert ck.materialization(by_file["fixed.dvb"], "staged_service_episodes")["dagster/partition_row_count"] == 22
    checks = ck.check_results(by_file["fixed.dvb"])
    assert checks["intake:bundles_reconcile"] == (True, "ERROR")


def test_the_partition_key_is_agency_then_period():
    from dvnet.assets.intake.partitions import SENTINEL_KEY, partition_key

    assert str(partition_key("shelter-a", "2026-Q3")) == "shelter-a|2026-Q3"
    assert isinstance(SENTINEL_KEY, MultiPartitionKey) and str(SENTINEL_KEY) == "_unverified|_unknown"


def test_cursor_survives_a_copy_that_keeps_an_old_mtime(ck, kit, instance):
    """A bundle copied in with its original (old) modification time is still picked up."""
    first, _ = ck.tick(kit, instance)
    staged = kit.paths.root / "outside.dvb"
    staged.write_bytes(kit.records("shelter-a", n=5, seed=13).blob)
    os.utime(staged, (1_000_000_000, 1_000_000_000))  # 2001: older than anything the sensor saw
    shutil.copy2(staged, kit.inbox / "old-mtime.dvb")
    _, runs = ck.tick(kit, instance, first.cursor)
    assert [r.tags["dvnet/bundle_file"] for r, _ in runs] == ["old-mtime.dvb"]


def _taken_when_read(monkeypatch, module, kit, names: set[str] | None = None) -> list[str]:
    """Make ``module.read_entry`` find each inbox file gone, as when another writer (a concurrent
    ``dvnet ingest`` or a sensor run) moves it out between this writer's listing and its read."""
    real, taken = module.read_entry, []
    elsewhere = kit.root / "taken-by-another-writer"
    elsewhere.mkdir(exist_ok=True)

    def read_entry(path, *args, **kwargs):
        if path.parent == kit.inbox and path.exists() and (names is None or path.name in names):
            path.rename(elsewhere / path.name)
            taken.append(path.name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(module, "read_entry", read_entry)
    return taken


def test_a_bundle_another_writer_takes_while_this_one_plans_is_not_planned(ck, kit, monkeypatch):
    from dvnet.assets.intake import partitions
    from dvnet.assets.intake.lib.ingest import CoordinatorContext
    from dvnet.assets.intake.partitions import plan_groups

    kit.drop("a", kit.records("shelter-a", n=5, seed=21).blob)
    ctx = CoordinatorContext.load(kit.root)
    assert [[p.name for p in files] for *_, files in plan_groups(ctx)[0]] == [["a.dvb"]]
    taken = _taken_when_read(monkeypatch, partitions, kit)
    assert plan_groups(ctx) == ([], {"not_in_inbox": 1}) and taken == ["a.dvb"]


def test_a_bundle_another_writer_takes_while_the_batch_verifies_is_counted_not_a_crash(ck, kit, instance, monkeypatch):
    """The batch files each bundle as it verifies it: one another writer takes before it is read
    belongs to no partition; it is counted and logged, and the others load once."""
    from dvnet.assets.intake.lib import ingest

    kit.drop("a", kit.records("shelter-a", n=5, seed=22).blob)
    kit.drop("b", kit.records("shelter-a", n=5, seed=23).blob)
    taken = _taken_when_read(monkeypatch, ingest, kit, {"a.dvb"})
    res = ck.run_batch(kit, instance)
    assert res.success and taken == ["a.dvb"]
    reports = ck.partition_reports(instance, "intake")
    assert {p: [(b["file"], b["outcome"]) for b in bundles] for p, bundles in reports.items()} == {f"shelter-a|{ck.PERIOD}": [("b.dvb", "loaded")]}
    assert "skipped: {'not_in_inbox': 1}" in " ".join(str(e.message) for e in instance.all_logs(res.run_id))
    assert len(ck.receipts(kit)) == 1
    assert ck.query(kit.paths.warehouse, "SELECT count(*) FROM ledger") == [(1,)]


def test_a_batch_of_named_files_loads_only_those_and_logs_nothing_skipped_when_all_are_pending(ck, kit, instance):
    """``dvnet ingest FILE`` runs the batch over the files it names: the others stay pending, and
    a batch whose named files are all in the inbox has nothing skipped to log."""
    kit.drop("a", kit.records("shelter-a", n=5, seed=24).blob)
    kit.drop("b", kit.records("legal-b", n=5, seed=25).blob)
    res = ck.run_batch(kit, instance, files=["a.dvb"])
    assert res.success
    assert list(ck.partition_reports(instance, "intake")) == [f"shelter-a|{ck.PERIOD}"]
    assert (kit.paths.inbox / "b.dvb").exists() and not (kit.paths.inbox / "a.dvb").exists()
    assert not [e for e in instance.all_logs(res.run_id) if str(e.message).startswith("skipped")]


def test_a_bundle_another_writer_takes_while_this_run_verifies_is_skipped_not_a_crash(ck, kit, instance, monkeypatch):
    from dvnet.assets.intake.lib import ingest

    kit.drop("a", kit.records("shelter-a", n=5, seed=22).blob)
    kit.drop("b", kit.records("shelter-a", n=5, seed=23).blob)
    taken = _taken_when_read(monkeypatch, ingest, kit, {"a.dvb"})
    res = ck.run_partition(kit, instance, "shelter-a", ck.PERIOD)
    assert res.success and taken == ["a.dvb"]
    meta = ck.materialization(res, "intake")
    # "a" is the other writer's to record; "b" loads as usual, once.
    assert meta["skipped"] == {"not_in_inbox": 1}
    assert [(b["file"], b["outcome"]) for b in meta["bundles"]] == [("b.dvb", "loaded")]
    assert len(ck.receipts(kit)) == 1
    assert ck.query(kit.paths.warehouse, "SELECT count(*) FROM ledger") == [(1,)]
