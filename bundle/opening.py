"""Opening a bundle on the coordinator, one check at a time (SPEC §5).

The steps are separate functions because the coordinator runs its own checks between them:
registry checks after ``parse`` (who is the sender, and may it send this contract?) and the
replay ledger before ``decrypt``. ``open_bundle`` runs every step in order for callers that
have no checks of their own. Each step raises ``BundleError`` with the first reason that applies.
(The module is not called ``open`` so that it cannot be mistaken for the builtin.)
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

from dvnet.bundle.errors import (
    DATA_HASH_MISMATCH,
    DECRYPT_FAILED,
    EXPIRED,
    FRAMING_INVALID,
    MANIFEST_MISMATCH,
    NOT_YET_VALID,
    SIGNATURE_INVALID,
    WRONG_RECIPIENT,
    BundleError,
)
from dvnet.bundle import streamed
from dvnet.bundle.framing import DEFAULT_MAX_BUNDLE_SIZE, DEFAULT_MAX_HEADER_SIZE, decode_frame, peek_header_bytes, split_plaintext
from dvnet.bundle.header import FORMAT_STREAMED, SHARED_FIELDS, parse_header, parse_manifest, parse_time
from dvnet.bundle.keys import key_id
from dvnet.bundle.seal import HPKE_SUITE, hpke_info, signed_message

DEFAULT_MAX_CLOCK_SKEW = timedelta(minutes=10)


@dataclass(frozen=True)
class ParsedBundle:
    """A bundle whose framing and header are well formed. Nothing about it is authenticated yet."""

    header: dict[str, Any]
    header_bytes: bytes
    signature: bytes
    ciphertext: memoryview  # a view into the caller's buffer, not a copy

    @cached_property
    def signed_message(self) -> bytes:
        """SHA-256(header) ‖ SHA-256(ciphertext), hashed once however often it is asked for."""
        return signed_message(self.header_bytes, self.ciphertext)


@dataclass(frozen=True)
class OpenedBundle:
    """A decrypted bundle. ``data`` is a view into the plaintext (format 1) or into the buffer the
    segments were decrypted into (format 2); ``bytes(data)`` copies it."""

    header: dict[str, Any]
    manifest: dict[str, Any]
    data: memoryview


def parse(
    blob: bytes | bytearray | memoryview,
    max_size: int = DEFAULT_MAX_BUNDLE_SIZE,
    *,
    max_header_size: int = DEFAULT_MAX_HEADER_SIZE,
) -> ParsedBundle:
    """Size and framing, canonical header, then format and suite (steps 1–3). No crypto."""
    frame = decode_frame(blob, max_size=max_size, max_header_size=max_header_size)
    header = parse_header(frame.header_bytes)
    if header["ciphertext_length"] != frame.ciphertext.nbytes:
        raise BundleError(FRAMING_INVALID, "header ciphertext_length disagrees with the framed ciphertext")
    return ParsedBundle(header, frame.header_bytes, frame.signature, frame.ciphertext)


def peek_header(head: bytes | memoryview, *, max_header_size: int = DEFAULT_MAX_HEADER_SIZE) -> dict[str, Any]:
    """The parsed header from a file's first bytes, unauthenticated: for ordering an inbox, never for trust."""
    return parse_header(peek_header_bytes(head, max_header_size=max_header_size))


def verify_signature(parsed: ParsedBundle, signing_public_key: ed25519.Ed25519PublicKey) -> None:
    """The agency's Ed25519 signature covers every header byte and every ciphertext byte (step 4).

    The key must also be the one the header names. Otherwise a key picked from the registry
    for the wrong reason would go unnoticed.
    """
    if not isinstance(signing_public_key, ed25519.Ed25519PublicKey):
        raise TypeError("signing_public_key must be an Ed25519 public key")
    if key_id(signing_public_key) != parsed.header["signing_key_id"]:
        raise BundleError(SIGNATURE_INVALID, "the supplied signing key is not the one the header names")
    try:
        signing_public_key.verify(parsed.signature, parsed.signed_message)
    except InvalidSignature:
        raise BundleError(SIGNATURE_INVALID, "signature does not verify over the header and ciphertext") from None


def check_recipient(parsed: ParsedBundle, expected_recipient_key_id: str, key_epoch: int | None = None) -> None:
    """The bundle was sealed to the coordinator's current key, under its epoch when given (step 5).
    An epoch the key does not have is refused even with the right key id: the header must say
    exactly which key it was sealed to."""
    if parsed.header["recipient_key_id"] != expected_recipient_key_id:
        raise BundleError(WRONG_RECIPIENT, "bundle is sealed to a different recipient key")
    if key_epoch is not None and parsed.header["key_epoch"] != key_epoch:
        raise BundleError(WRONG_RECIPIENT, "bundle names another epoch of the recipient key")


def check_freshness(
    parsed: ParsedBundle, now: datetime, max_clock_skew: timedelta = DEFAULT_MAX_CLOCK_SKEW
) -> None:
    """The header's created_at is not ahead of ``now`` by more than the skew, and not_after has not passed (step 6)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    if parse_time(parsed.header["created_at"]) > now + max_clock_skew:
        raise BundleError(NOT_YET_VALID, "created_at is in the future beyond the allowed clock skew")
    if now > parse_time(parsed.header["not_after"]):
        raise BundleError(EXPIRED, "not_after has passed")


def decrypt(parsed: ParsedBundle, recipient_private_key: x25519.X25519PrivateKey) -> OpenedBundle:
    """HPKE-open under this header, then check the plaintext layout, manifest and data hash (step 7).
    Format 2: the ciphertext's layout (the envelope's length E and the segments' fit it:
    FRAMING_INVALID, read only now that the signature has covered them), the envelope (its key and
    the manifest), then the segments one by one.

    A header swapped onto another bundle's ciphertext fails here even if it was re-signed,
    because the HPKE ``info`` binds SHA-256 of the exact header bytes.
    """
    if not isinstance(recipient_private_key, x25519.X25519PrivateKey):
        raise TypeError("recipient_private_key must be an X25519 private key")
    if key_id(recipient_private_key.public_key()) != parsed.header["recipient_key_id"]:
        raise BundleError(WRONG_RECIPIENT, "the supplied private key is not the recipient the header names")
    fmt = parsed.header["format"]
    if fmt == FORMAT_STREAMED:
        segments, envelope = streamed.split_ciphertext(parsed.ciphertext)
        key, manifest_bytes = streamed.split_envelope_plaintext(_hpke_open(envelope, recipient_private_key, parsed.header_bytes, fmt))
        manifest = parse_manifest(manifest_bytes)
        data = streamed.decrypt_segments(key, segments, manifest["data_sha256"])
        return OpenedBundle(parsed.header, manifest, memoryview(data))
    manifest_bytes, data = split_plaintext(_hpke_open(parsed.ciphertext, recipient_private_key, parsed.header_bytes, fmt))
    manifest = parse_manifest(manifest_bytes)
    if not hmac.compare_digest(hashlib.sha256(data).hexdigest(), manifest["data_sha256"]):
        raise BundleError(DATA_HASH_MISMATCH, "SHA-256 of the data differs from the manifest's data_sha256")
    return OpenedBundle(parsed.header, manifest, data)


def _hpke_open(ciphertext: memoryview, recipient_private_key: x25519.X25519PrivateKey, header_bytes: bytes, fmt: str) -> bytes:
    try:
        return HPKE_SUITE.decrypt(ciphertext, recipient_private_key, info=hpke_info(header_bytes, fmt))
    except InvalidTag:
        raise BundleError(DECRYPT_FAILED, "ciphertext does not open under this header and key") from None


def check_manifest(header: dict[str, Any], manifest: dict[str, Any]) -> None:
    """The identities inside the ciphertext equal those in the signed header (step 8)."""
    differing = [name for name in SHARED_FIELDS if header.get(name) != manifest.get(name)]
    if differing:
        raise BundleError(MANIFEST_MISMATCH, f"manifest differs from the header in {differing}", fields=differing)


def open_bundle(
    blob: bytes | bytearray | memoryview,
    *,
    signing_public_key: ed25519.Ed25519PublicKey,
    recipient_private_key: x25519.X25519PrivateKey,
    now: datetime,
    max_size: int = DEFAULT_MAX_BUNDLE_SIZE,
    max_clock_skew: timedelta = DEFAULT_MAX_CLOCK_SKEW,
) -> OpenedBundle:
    """Every step of SPEC §5 in order, for callers without registry or ledger checks."""
    parsed = parse(blob, max_size)
    verify_signature(parsed, signing_public_key)
    check_recipient(parsed, key_id(recipient_private_key.public_key()))
    check_freshness(parsed, now, max_clock_skew)
    opened = decrypt(parsed, recipient_private_key)
    check_manifest(opened.header, opened.manifest)
    return opened
