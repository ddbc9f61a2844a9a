"""Signed receipts: the coordinator's word on what became of each bundle (SPEC §6).

An agency keeps the receipt as proof that a bundle arrived and was loaded or quarantined.
It is signed, so a receipt cannot be forged or edited on its way back. ``bundle_sha256``
names the file as received, so even a bundle whose header could not be read gets a receipt
that the agency can match to what it sent.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from dvnet.bundle.errors import RECEIPT_INVALID, BundleError
from dvnet.bundle.header import (
    AGENCY_ID_RE,
    BUNDLE_ID_RE,
    KEY_ID_RE,
    MAX_JSON_INT,
    REASON_RE,
    SHA256_RE,
    canonical_json,
    format_time,
    parse_canonical_json,
    parse_time,
)
from dvnet.bundle.keys import key_id

RECEIPT_FORMAT = "dvnet-receipt/1"
OUTCOMES = ("loaded", "quarantined")
RECEIPT_FIELDS = frozenset(
    {
        "format", "bundle_sha256", "bundle_id", "agency_id", "sequence", "outcome", "reason",
        "rows_loaded", "received_at", "coordinator_key_id", "audit_head", "signature",
    }
)  # fmt: skip
MAX_RECEIPT_SIZE = 4096


def _matches(value: Any, pattern) -> bool:
    return type(value) is str and pattern.fullmatch(value) is not None


def _is_int(value: Any, minimum: int) -> bool:
    return type(value) is int and minimum <= value <= MAX_JSON_INT


def _is_head(value: Any) -> bool:
    """The coordinator's audit-log head when the receipt was made: ``{"entries": n, "sha256": hex}``."""
    return type(value) is dict and set(value) == {"entries", "sha256"} and _is_int(value["entries"], 0) and _matches(value["sha256"], SHA256_RE)


def _validate(body: dict[str, Any]) -> None:
    """Check every field except the signature; raise RECEIPT_INVALID naming the broken ones."""
    quarantined = body["outcome"] == "quarantined"
    loaded = body["outcome"] == "loaded"
    rules = {
        "format": body["format"] == RECEIPT_FORMAT,
        "bundle_sha256": _matches(body["bundle_sha256"], SHA256_RE),
        "bundle_id": _matches(body["bundle_id"], BUNDLE_ID_RE) or (quarantined and body["bundle_id"] is None),
        "agency_id": _matches(body["agency_id"], AGENCY_ID_RE) or (quarantined and body["agency_id"] is None),
        "sequence": _is_int(body["sequence"], 1) or (quarantined and body["sequence"] is None),
        "outcome": loaded or quarantined,
        "reason": (loaded and body["reason"] is None) or (quarantined and _matches(body["reason"], REASON_RE)),
        "rows_loaded": _is_int(body["rows_loaded"], 0) and (loaded or body["rows_loaded"] == 0),
        "received_at": _is_time(body["received_at"]),
        "coordinator_key_id": _matches(body["coordinator_key_id"], KEY_ID_RE),
        "audit_head": _is_head(body["audit_head"]),
    }
    bad = sorted(name for name, ok in rules.items() if not ok)
    if bad:
        raise BundleError(RECEIPT_INVALID, f"receipt fields break their rules: {bad}", fields=bad)


def _is_time(value: Any) -> bool:
    try:
        parse_time(value)
    except ValueError:
        return False
    return True


def make_receipt(
    *,
    bundle_sha256: str,
    bundle_id: str | None,
    agency_id: str | None,
    sequence: int | None,
    outcome: str,
    reason: str | None,
    rows_loaded: int,
    received_at: datetime,
    signing_key: ed25519.Ed25519PrivateKey,
    audit_head: dict[str, Any],
) -> bytes:
    """A signed receipt as canonical JSON bytes. Raises RECEIPT_INVALID for inconsistent fields.

    ``audit_head`` anchors the coordinator's audit log (its entry count and newest entry's hash
    once this bundle's entry is written): an agency holding the receipt can later show that the
    log was cut or rewritten."""
    if not isinstance(signing_key, ed25519.Ed25519PrivateKey):
        raise TypeError("signing_key must be an Ed25519 private key")
    body = {
        "format": RECEIPT_FORMAT,
        "bundle_sha256": bundle_sha256,
        "bundle_id": bundle_id,
        "agency_id": agency_id,
        "sequence": sequence,
        "outcome": outcome,
        "reason": reason,
        "rows_loaded": rows_loaded,
        "received_at": format_time(received_at),
        "coordinator_key_id": key_id(signing_key.public_key()),
        "audit_head": audit_head,
    }
    _validate(body)
    signature = signing_key.sign(canonical_json(body))
    return canonical_json({**body, "signature": base64.b64encode(signature).decode("ascii")})


def verify_receipt(blob: bytes, coordinator_public_key: ed25519.Ed25519PublicKey) -> dict[str, Any]:
    """Check a receipt's form, key id and signature; return its fields without the signature."""
    if not isinstance(coordinator_public_key, ed25519.Ed25519PublicKey):
        raise TypeError("coordinator_public_key must be an Ed25519 public key")
    if len(blob) > MAX_RECEIPT_SIZE:
        raise BundleError(RECEIPT_INVALID, f"receipt is {len(blob)} bytes; the cap is {MAX_RECEIPT_SIZE}")
    receipt = parse_canonical_json(blob, RECEIPT_INVALID, "receipt")
    missing, unknown = sorted(RECEIPT_FIELDS - receipt.keys()), receipt.keys() - RECEIPT_FIELDS
    if missing or unknown:
        raise BundleError(RECEIPT_INVALID, f"receipt fields wrong: missing {missing}, {len(unknown)} unknown")
    body = {name: value for name, value in receipt.items() if name != "signature"}
    _validate(body)
    if body["coordinator_key_id"] != key_id(coordinator_public_key):
        raise BundleError(RECEIPT_INVALID, "receipt names a different coordinator key")
    try:
        signature = base64.b64decode(str(receipt["signature"]).encode("ascii"), validate=True)
        coordinator_public_key.verify(signature, canonical_json(body))
    except (binascii.Error, UnicodeEncodeError, InvalidSignature):
        raise BundleError(RECEIPT_INVALID, "receipt signature does not verify") from None
    return body
