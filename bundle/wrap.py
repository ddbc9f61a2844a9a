"""The wrapped network linkage key: sealed by the custodian to one Tier 4 agency (SPEC §9).

The custodian makes the network linkage key and keeps it; each Tier 4 agency receives it sealed
to that agency's own X25519 key and signed by the custodian. The coordinator may carry the file
but can neither open it (HPKE to the agency's key) nor swap in a key of its own making (the
custodian's signature, whose key id the agency confirms with the custodian directly).

The cleartext header names the agency, its key, the custodian's key and the linkage key's id (a
hash of the key, so every agency and the custodian can compare that they hold the same one). The
HPKE ``info`` binds the header, so a ciphertext cannot be moved under another agency's name.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

from dvnet.bundle.errors import WRAP_INVALID, WRAP_NOT_FOR_AGENCY, WRAP_WRONG_CUSTODIAN, BundleError
from dvnet.bundle.header import AGENCY_ID_RE, KEY_ID_RE, canonical_json, format_time, parse_canonical_json, parse_time
from dvnet.bundle.keys import SECRET_SIZE, key_id
from dvnet.bundle.seal import HPKE_SUITE

WRAP_FORMAT = "dvnet-linkage-wrap/1"
WRAP_INFO_LABEL = WRAP_FORMAT.encode("ascii") + b"\x00"
LINKAGE_ID_LABEL = b"dvnet-linkage-key-id/1\x00"
HEADER_FIELDS = ("format", "agency_id", "recipient_key_id", "custodian_key_id", "linkage_key_id", "created_at")
MAX_WRAP_SIZE = 4096


def linkage_key_id(secret: bytes) -> str:
    """A public id of the linkage key: 16 hex chars of SHA-256 over a label and the key. The key
    is 32 random bytes, so its id reveals nothing a dictionary could use."""
    return hashlib.sha256(LINKAGE_ID_LABEL + secret).hexdigest()[:16]


def _info(header: dict[str, Any]) -> bytes:
    return WRAP_INFO_LABEL + hashlib.sha256(canonical_json(header)).digest()


def _signed(header: dict[str, Any], ciphertext: bytes) -> bytes:
    return hashlib.sha256(canonical_json(header)).digest() + hashlib.sha256(ciphertext).digest()


def wrap_secret(
    secret: bytes,
    *,
    agency_id: str,
    recipient_public_key: x25519.X25519PublicKey,
    custodian_key: ed25519.Ed25519PrivateKey,
    now: datetime,
) -> bytes:
    """The wrapped-key file (canonical JSON) sealing ``secret`` to one agency's key."""
    if len(secret) != SECRET_SIZE:
        raise BundleError(WRAP_INVALID, f"a linkage key is {SECRET_SIZE} bytes")
    header = {
        "format": WRAP_FORMAT,
        "agency_id": agency_id,
        "recipient_key_id": key_id(recipient_public_key),
        "custodian_key_id": key_id(custodian_key.public_key()),
        "linkage_key_id": linkage_key_id(secret),
        "created_at": format_time(now),
    }
    ciphertext = HPKE_SUITE.encrypt(secret, recipient_public_key, info=_info(header))
    signature = custodian_key.sign(_signed(header, ciphertext))
    return canonical_json({**header, "ciphertext": base64.b64encode(ciphertext).decode("ascii"), "signature": base64.b64encode(signature).decode("ascii")})


def read_header(blob: bytes) -> dict[str, Any]:
    """The wrapped file's cleartext fields, checked for form (nothing is verified yet)."""
    if len(blob) > MAX_WRAP_SIZE:
        raise BundleError(WRAP_INVALID, f"wrapped key file is {len(blob)} bytes; the cap is {MAX_WRAP_SIZE}")
    doc = parse_canonical_json(blob, WRAP_INVALID, "wrapped key file")
    if set(doc) != {*HEADER_FIELDS, "ciphertext", "signature"}:
        raise BundleError(WRAP_INVALID, "wrapped key file has missing or unknown fields")
    ok = (
        doc["format"] == WRAP_FORMAT
        and isinstance(doc["agency_id"], str) and AGENCY_ID_RE.fullmatch(doc["agency_id"])
        and all(isinstance(doc[k], str) and KEY_ID_RE.fullmatch(doc[k]) for k in ("recipient_key_id", "custodian_key_id", "linkage_key_id"))
    )  # fmt: skip
    try:
        parse_time(doc["created_at"])
    except ValueError:
        ok = False
    if not ok:
        raise BundleError(WRAP_INVALID, "wrapped key file fields break their rules")
    return doc


def unwrap_secret(
    blob: bytes,
    *,
    agency_id: str,
    recipient_private_key: x25519.X25519PrivateKey,
    custodian_public_key: ed25519.Ed25519PublicKey,
) -> tuple[bytes, dict[str, Any]]:
    """Open a wrapped key meant for ``agency_id`` and signed by the custodian's key; returns the
    secret and the header. Refuses a file for another agency or key (``WRAP_NOT_FOR_AGENCY``),
    from another custodian (``WRAP_WRONG_CUSTODIAN``), or altered (``WRAP_INVALID``)."""
    doc = read_header(blob)
    header = {k: doc[k] for k in HEADER_FIELDS}
    if header["agency_id"] != agency_id or header["recipient_key_id"] != key_id(recipient_private_key.public_key()):
        raise BundleError(WRAP_NOT_FOR_AGENCY, "the wrapped key was sealed for another agency or another key")
    if header["custodian_key_id"] != key_id(custodian_public_key):
        raise BundleError(WRAP_WRONG_CUSTODIAN, "the wrapped key names a different custodian key")
    try:
        ciphertext = base64.b64decode(doc["ciphertext"].encode("ascii"), validate=True)
        custodian_public_key.verify(base64.b64decode(doc["signature"].encode("ascii"), validate=True), _signed(header, ciphertext))
        secret = HPKE_SUITE.decrypt(ciphertext, recipient_private_key, info=_info(header))
    except (binascii.Error, UnicodeEncodeError, InvalidSignature, InvalidTag, ValueError):
        raise BundleError(WRAP_INVALID, "the wrapped key does not verify or does not open") from None
    if len(secret) != SECRET_SIZE or linkage_key_id(secret) != header["linkage_key_id"]:
        raise BundleError(WRAP_INVALID, "the wrapped key is not the linkage key its header names")
    return secret, header
