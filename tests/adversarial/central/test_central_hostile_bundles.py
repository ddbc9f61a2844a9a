"""Every kind of bad bundle that reaches the inbox is quarantined with its reason, and loads nothing.

Driven the way the coordinator runs: the inbox sensor files each bundle under a partition and
requests a run of ``intake_job`` per bundle; the runs execute in order. Good bundles in the same
inbox still load and reconcile.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from dvnet import bundle
from dvnet.common import network as store

SENTINEL = "_unverified|_unknown"


def _hostile(ck, kit, loaded_id_bytes: bytes) -> dict[str, tuple[bytes, str, str]]:
    """name -> (bundle bytes, expected reason code, expected partition)."""
    a = "shelter-a"
    p = f"{a}|{ck.PERIOD}"
    def donor(seed: int) -> bytes:  # sealed, never delivered: one per tampering, so each has its own bundle id
        return kit.records(a, n=12, seed=seed).blob

    other_coordinator = bundle.generate_encryption_key().public_key()
    ghost_key = bundle.generate_signing_key()
    bad_code = ck.service_episode_frame(12, ck.PERIOD, 8)
    bad_code.loc[3, "service_type"] = "teleportation"
    return {
        "header_byte": (ck.header_tampered(donor(30)), "SIGNATURE_INVALID", SENTINEL),
        "signature_byte": (ck.signature_tampered(donor(31)), "SIGNATURE_INVALID", SENTINEL),
        "ciphertext_byte": (ck.ciphertext_tampered(donor(32)), "SIGNATURE_INVALID", SENTINEL),
        "wrong_recipient": (kit.records(a, n=12, seed=9, recipient=other_coordinator).blob, "WRONG_RECIPIENT", SENTINEL),
        "unknown_agency": (kit.records("ghost-agency", n=12, signing_key=ghost_key, sequence=1).blob, "AGENCY_UNKNOWN", SENTINEL),
        "suspended_agency": (kit.records("health-c", n=12, seed=10).blob, "AGENCY_SUSPENDED", f"health-c|{ck.PERIOD}"),
        "tier_violation": (kit.records("legal-b", "service_episode", n=12, seed=11).blob, "TIER_VIOLATION", f"legal-b|{ck.PERIOD}"),
        "replay": (kit.records(a, n=12, seed=12, rng=lambda k: loaded_id_bytes).blob, "REPLAY", p),
        "sequence_rollback": (kit.records(a, n=12, seed=13, sequence=1).blob, "SEQUENCE_ROLLBACK", p),
        "expired": (kit.records(a, n=12, seed=14, now=dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=40)).blob, "EXPIRED", p),
        "truncated": (donor(33)[:-1], "FRAMING_INVALID", SENTINEL),
        "trailing_garbage": (donor(34) + b"\x00", "FRAMING_INVALID", SENTINEL),
        "manifest_mismatch": (ck.manifest_mismatch(kit, a), "MANIFEST_MISMATCH", p),
        "contract_violation": (kit.seal(a, "service_episode", ck.parquet_bytes(bad_code), 12).blob, "CONTRACT_VIOLATION", p),
    }


def test_each_bad_bundle_is_quarantined_with_its_reason_and_loads_nothing(ck, kit, instance):
    # Wave 1: good bundles from two agencies, both modes, two contracts.
    first = kit.records("shelter-a", n=30, seed=1)
    wave1 = {
        "a-episodes": first,
        "a-referral-counts": kit.counts("shelter-a", "referral", n=25, seed=2),
        "b-referrals": kit.records("legal-b", "referral", n=20, seed=3),
    }
    for name, sealed in wave1.items():
        kit.drop(name, sealed.blob)
    result, runs = ck.tick(kit, instance)
    assert len(runs) == 3 and all(r.success for _, r in runs)

    # Wave 2: every hostile kind, plus one more good bundle in the same inbox.
    store.set_status(kit.root, "health-c", "suspended", ck.acting(kit.root, "network.suspend"))
    hostile = _hostile(ck, kit, bytes.fromhex(first.bundle_id))
    for name, (blob, _, _) in hostile.items():
        kit.drop(name, blob)
    late_good = kit.records("shelter-a", n=15, seed=4, period=ck.EARLIER_PERIOD)  # Q3 already has its live bundle
    kit.drop("a-late-good", late_good.blob)
    _, runs = ck.tick(kit, instance, result.cursor)
    assert all(r.success for _, r in runs)
    assert len(runs) == len(hostile) + 1

    by_file = {req.tags["dvnet/bundle_file"]: (req, res) for req, res in runs}
    db = kit.paths.warehouse
    ledger_ids = {r[0] for r in ck.query(db, "SELECT bundle_id FROM ledger")}
    for name, (blob, reason, partition) in hostile.items():
        req, res = by_file[f"{name}.dvb"]
        assert req.partition_key == partition, name
        bundles = ck.materialization(res, "intake")["bundles"]
        assert [(b["outcome"], b["reason"]) for b in bundles] == [("quarantined", reason)], name
        # The file moved to quarantine with a reason file naming the same code ...
        assert not (kit.inbox / f"{name}.dvb").exists()
        reason_file = json.loads((kit.paths.quarantine / f"{name}.dvb.reason.json").read_text())
        assert reason_file["reason"] == reason and reason_file["file_sha256"] == ck.sha256(blob)
        # ... and nothing of it reached the warehouse.
        assert ck.query(db, "SELECT reason FROM quarantine_log WHERE file_name = ?", [f"{name}.dvb"]) == [(reason,)]
        assert ck.materialization(res, "staged_service_episodes") is None and ck.materialization(res, "contribution_counts") is None

    # Only the good bundles are in the ledger, and each one reconciles row for row.
    good = [*wave1.values(), late_good]
    assert ledger_ids == {s.bundle_id for s in good}
    for sealed in good:
        record_count, rows_loaded = ck.query(db, "SELECT record_count, rows_loaded FROM ledger WHERE bundle_id = ?", [sealed.bundle_id])[0]
        assert record_count == rows_loaded == sealed.manifest["record_count"]
    staged = dict(ck.query(db, "SELECT bundle_id, count(*) FROM staged_service_episode GROUP BY ALL"))
    assert staged == {first.bundle_id: 30, late_good.bundle_id: 15}
    assert dict(ck.query(db, "SELECT bundle_id, count(*) FROM staged_referral GROUP BY ALL")) == {wave1["b-referrals"].bundle_id: 20}
    counted = {r[0] for r in ck.query(db, "SELECT DISTINCT bundle_id FROM contribution_counts")}
    assert counted == {s.bundle_id for s in good}

    # The checks agree: reconciled, conforming, every quarantined file explained.
    checks = ck.check_results(runs[-1][1])
    for key in ("intake:bundles_reconcile", "intake:loaded_rows_conform", "intake:quarantine_explained"):
        assert checks[key] == (True, "ERROR"), key

    # Every processed bundle got a receipt signed by the coordinator, naming the same reason.
    reasons = _receipt_reasons(kit)
    for name, (blob, reason, _) in hostile.items():
        assert reasons[ck.sha256(blob)] == reason, name
    assert reasons[ck.sha256(late_good.blob)] is None


def _receipt_reasons(kit) -> dict[str, str | None]:
    """bundle sha256 -> reason, over every receipt on disk that verifies under the coordinator key."""
    coordinator_key = bundle.signing_public_key_from_text(store.load_network(kit.root).coordinator.signing_public_key)
    out = {}
    for path in kit.paths.receipts.rglob("*.receipt.json"):
        body = bundle.verify_receipt(path.read_bytes(), coordinator_key)
        out[body["bundle_sha256"]] = body["reason"]
    return out


def test_a_replay_does_not_overwrite_the_original_receipt(ck, kit, instance):
    original = kit.records("shelter-a", n=10, seed=40)
    kit.drop("original", original.blob)
    first, _ = ck.tick(kit, instance)
    replay = kit.records("shelter-a", n=10, seed=41, rng=lambda k: bytes.fromhex(original.bundle_id))
    kit.drop("replay", replay.blob)
    ck.tick(kit, instance, first.cursor)
    reasons = _receipt_reasons(kit)
    assert reasons.get(ck.sha256(replay.blob)) == "REPLAY"
    assert ck.sha256(original.blob) in reasons and reasons[ck.sha256(original.blob)] is None


def test_metadata_and_logs_never_carry_row_values(ck, kit, instance):
    """Quarantine messages, Dagster metadata and the event log hold codes and counts, not values."""
    frame = ck.service_episode_frame(12, ck.PERIOD, 21)
    frame.loc[0, "service_type"] = "MARKER-VALUE-7f3a"  # a value that must never be echoed
    kit.drop("violating", kit.seal("shelter-a", "service_episode", ck.parquet_bytes(frame), 12).blob)
    _, runs = ck.tick(kit, instance)
    (_, res), = runs
    assert ck.materialization(res, "intake")["rejections_by_reason"] == {"CONTRACT_VIOLATION": 1}
    pseudonym = str(frame.loc[1, "episode_pseudonym"])
    for event in instance.all_logs(res.run_id):
        text = repr(event)
        assert "MARKER-VALUE-7f3a" not in text and pseudonym not in text
    assert "MARKER-VALUE-7f3a" not in (kit.paths.quarantine / "violating.dvb.reason.json").read_text()


def test_a_column_outside_the_output_model_is_refused_without_repeating_its_name(ck, kit, instance):
    """A column name is sender text like any value: an extra column named after a person is
    refused by position and count, and its name is in no message, receipt, metadata or log."""
    frame = ck.service_episode_frame(12, ck.PERIOD, 22)
    frame.insert(3, "Jane MARKER-NAME-91c2", "x")
    kit.drop("extra-column", kit.seal("shelter-a", "service_episode", ck.parquet_bytes(frame), 12).blob)
    _, runs = ck.tick(kit, instance)
    (_, res), = runs
    assert ck.materialization(res, "intake")["rejections_by_reason"] == {"CONTRACT_VIOLATION": 1}
    reason = (kit.paths.quarantine / "extra-column.dvb.reason.json").read_text()
    assert "column 4" in reason
    texts = [reason, *(p.read_text() for p in kit.paths.receipts.rglob("*.json")), *(repr(e) for e in instance.all_logs(res.run_id))]
    assert not [t for t in texts if "MARKER-NAME-91c2" in t]
