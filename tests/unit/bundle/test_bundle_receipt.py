"""Receipts: signed by the coordinator, verified by the agency, refused when altered (SPEC §6)."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone

import pytest

from dvnet.bundle import BundleError, generate_signing_key, key_id, make_receipt, verify_receipt
from dvnet.bundle.header import canonical_json

RECEIVED = datetime(2026, 10, 1, 12, 5, tzinfo=timezone.utc)
HEAD = {"entries": 42, "sha256": "ef" * 32}  # the coordinator's audit log as the receipt anchors it


@pytest.fixture
def coordinator():
    return generate_signing_key()


def _loaded(signing_key, **overrides):
    kwargs = dict(
        bundle_sha256="ab" * 32,
        bundle_id="cd" * 16,
        agency_id="shelter-north",
        sequence=3,
        outcome="loaded",
        reason=None,
        rows_loaded=120,
        received_at=RECEIVED,
        signing_key=signing_key,
        audit_head=HEAD,
    )
    kwargs.update(overrides)
    return make_receipt(**kwargs)


def _reason(call, *args, **kwargs) -> str:
    try:
        call(*args, **kwargs)
    except BundleError as error:
        return error.reason
    return "success"


def test_loaded_receipt_verifies(coordinator):
    blob = _loaded(coordinator)
    body = verify_receipt(blob, coordinator.public_key())
    assert body == {
        "format": "dvnet-receipt/1",
        "bundle_sha256": "ab" * 32,
        "bundle_id": "cd" * 16,
        "agency_id": "shelter-north",
        "sequence": 3,
        "outcome": "loaded",
        "reason": None,
        "rows_loaded": 120,
        "received_at": "2026-10-01T12:05:00Z",
        "coordinator_key_id": key_id(coordinator.public_key()),
        "audit_head": HEAD,
    }
    assert blob == canonical_json(json.loads(blob))


def test_quarantined_receipt_for_unreadable_bundle(coordinator):
    blob = _loaded(
        coordinator, outcome="quarantined", reason="FRAMING_INVALID", rows_loaded=0,
        bundle_id=None, agency_id=None, sequence=None,
    )  # fmt: skip
    body = verify_receipt(blob, coordinator.public_key())
    assert body["outcome"] == "quarantined" and body["reason"] == "FRAMING_INVALID" and body["bundle_id"] is None


def test_receipt_for_a_real_bundle(make_bundle, coordinator):
    sealed = make_bundle()
    blob = _loaded(coordinator, bundle_sha256=sealed.sha256, bundle_id=sealed.bundle_id, sequence=1)
    assert verify_receipt(blob, coordinator.public_key())["bundle_sha256"] == sealed.sha256


def test_every_altered_byte_is_refused(coordinator):
    blob = _loaded(coordinator)
    public = coordinator.public_key()
    for index in range(len(blob)):
        for mask in (0x01, 0x20):
            altered = blob[:index] + bytes([blob[index] ^ mask]) + blob[index + 1 :]
            assert _reason(verify_receipt, altered, public) == "RECEIPT_INVALID", index


def test_re_encoded_or_edited_receipts_are_refused(coordinator):
    blob = _loaded(coordinator)
    public = coordinator.public_key()
    receipt = json.loads(blob)
    assert _reason(verify_receipt, json.dumps(receipt, indent=1).encode(), public) == "RECEIPT_INVALID"
    edited = canonical_json({**receipt, "rows_loaded": 121})
    assert _reason(verify_receipt, edited, public) == "RECEIPT_INVALID"
    unsigned = canonical_json({k: v for k, v in receipt.items() if k != "signature"})
    assert _reason(verify_receipt, unsigned, public) == "RECEIPT_INVALID"
    moved = canonical_json({**receipt, "audit_head": {"entries": 41, "sha256": "ef" * 32}})
    assert _reason(verify_receipt, moved, public) == "RECEIPT_INVALID"  # the anchor is signed too
    extra = canonical_json({**receipt, "note": "x"})
    assert _reason(verify_receipt, extra, public) == "RECEIPT_INVALID"
    bad_sig = canonical_json({**receipt, "signature": base64.b64encode(b"\x00" * 64).decode()})
    assert _reason(verify_receipt, bad_sig, public) == "RECEIPT_INVALID"
    assert _reason(verify_receipt, canonical_json({**receipt, "signature": "!!"}), public) == "RECEIPT_INVALID"
    assert _reason(verify_receipt, b"x" * 5000, public) == "RECEIPT_INVALID"


def test_receipt_from_another_key_is_refused(coordinator):
    impostor = generate_signing_key()
    assert _reason(verify_receipt, _loaded(impostor), coordinator.public_key()) == "RECEIPT_INVALID"
    # Even if it claims the real coordinator's key id, the signature does not verify.
    receipt = json.loads(_loaded(impostor))
    body = {k: v for k, v in receipt.items() if k != "signature"}
    body["coordinator_key_id"] = key_id(coordinator.public_key())
    forged = canonical_json({**body, "signature": base64.b64encode(impostor.sign(canonical_json(body))).decode()})
    assert _reason(verify_receipt, forged, coordinator.public_key()) == "RECEIPT_INVALID"


@pytest.mark.parametrize(
    "overrides",
    [
        {"outcome": "ok"},
        {"reason": "SIGNATURE_INVALID"},  # loaded with a reason
        {"outcome": "quarantined", "reason": None, "rows_loaded": 0},
        {"outcome": "quarantined", "reason": "bad reason", "rows_loaded": 0},
        {"outcome": "quarantined", "reason": "REPLAY", "rows_loaded": 5},
        {"bundle_id": None},  # only a quarantined receipt may lack identities
        {"rows_loaded": -1},
        {"rows_loaded": True},
        {"sequence": 0},
        {"bundle_sha256": "AB" * 32},
        {"agency_id": "Shelter"},
        {"audit_head": None},  # every receipt anchors the log
        {"audit_head": {"entries": -1, "sha256": "ef" * 32}},
        {"audit_head": {"entries": 1, "sha256": "EF" * 32}},
        {"audit_head": {"entries": 1, "sha256": "ef" * 32, "extra": 1}},
    ],
)
def test_make_receipt_refuses_inconsistent_fields(coordinator, overrides):
    assert _reason(_loaded, coordinator, **overrides) == "RECEIPT_INVALID"


def test_make_receipt_caller_bugs(coordinator):
    with pytest.raises(ValueError):
        _loaded(coordinator, received_at=datetime(2026, 10, 1))
    with pytest.raises(TypeError):
        verify_receipt(_loaded(coordinator), coordinator)
