"""Sealing: encrypt a data file to the coordinator and sign it as the agency (SPEC §1–§4).

Also home to the three crypto constructions both sides share (the HPKE suite, its ``info``
and the signed message), so sealing and opening cannot drift apart. Time and randomness are
parameters, so tests and vectors get fixed headers (Fernet's ``encrypt_at_time`` idea).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

from dvnet.bundle.errors import TOO_LARGE, BundleError
from dvnet.bundle.framing import DEFAULT_MAX_BUNDLE_SIZE, ENC_SIZE, OVERHEAD, TAG_SIZE, encode_frame, encode_plaintext
from dvnet.bundle.header import (
    FORMAT,
    SHARED_FIELDS,
    SUITE,
    encode_header,
    encode_manifest,
    format_time,
    parse_time,
    validate_header,
)
from dvnet.bundle.keys import key_id

#: The only suite (SPEC §1). There is deliberately no parameter to choose another.
HPKE_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
HPKE_INFO_LABEL = FORMAT.encode("ascii") + b"\x00"
BUNDLE_ID_BYTES = 16


def hpke_info(header_bytes: bytes) -> bytes:
    """HPKE ``info`` = "dvnet-bundle/1" ‖ 0x00 ‖ SHA-256(header): the ciphertext opens only under its header."""
    return HPKE_INFO_LABEL + hashlib.sha256(header_bytes).digest()


def signed_message(header_bytes: bytes, ciphertext: bytes | memoryview) -> bytes:
    """The 64 bytes the agency signs: SHA-256(header) ‖ SHA-256(ciphertext)."""
    return hashlib.sha256(header_bytes).digest() + hashlib.sha256(ciphertext).digest()


def ciphertext_length(plaintext_length: int) -> int:
    """HPKE output length for this suite: encapsulated key ‖ ciphertext ‖ tag."""
    return ENC_SIZE + plaintext_length + TAG_SIZE


class Handover:
    """Data given to ``seal`` for it to let go of: ``seal`` takes the only reference and frees
    the data as soon as it is copied into the plaintext (a payload can be as large as the bundle
    cap, and three copies of it at once were the contributor's peak). Taken once."""

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self._data = data

    def take(self) -> bytes | bytearray | memoryview:
        data, self._data = self._data, None
        if data is None:
            raise ValueError("this data was already handed over")
        return data


@dataclass(frozen=True)
class SealedBundle:
    """A sealed bundle file and what the agency keeps about it for its report and receipts."""

    blob: bytes
    header: dict[str, Any]
    manifest: dict[str, Any]
    bundle_id: str
    sha256: str  # of the whole file: what the coordinator's receipt names


def encrypt_and_sign(
    header_bytes: bytes,
    plaintext: bytes,
    signing_key: ed25519.Ed25519PrivateKey,
    recipient_public_key: x25519.X25519PublicKey,
) -> bytes:
    """Encrypt ``plaintext`` under ``header_bytes`` and frame a signed bundle. No checks: see ``seal``."""
    ciphertext = HPKE_SUITE.encrypt(plaintext, recipient_public_key, info=hpke_info(header_bytes))
    signature = signing_key.sign(signed_message(header_bytes, ciphertext))
    return encode_frame(header_bytes, signature, ciphertext)


def seal(
    data: bytes | bytearray | memoryview | Handover,
    *,
    agency_id: str,
    contract_id: str,
    contract_version: int,
    mode: str,
    sequence: int,
    period: str,
    record_count: int,
    signing_key: ed25519.Ed25519PrivateKey,
    recipient_public_key: x25519.X25519PublicKey,
    now: datetime,
    data_format: str = "parquet",
    key_epoch: int = 1,
    lifetime: timedelta = timedelta(days=30),
    supersedes: str | None = None,
    details: dict[str, Any] | None = None,
    rng: Callable[[int], bytes] = os.urandom,
    max_size: int = DEFAULT_MAX_BUNDLE_SIZE,
) -> SealedBundle:
    """Seal ``data`` for the coordinator.

    Refuses with ``BundleError`` (HEADER_INVALID, MANIFEST_INVALID, TOO_LARGE) anything the
    coordinator would refuse for the same reason, so an agency finds out before it sends.
    Peak memory is about twice the data, one copy giving way to the next (data, plaintext,
    ciphertext, file), when the caller hands the data over (``Handover``, keeping no reference of
    its own): it is let go here once copied into the plaintext. Otherwise the caller's data stays
    and the peak is three times the data.
    """
    if isinstance(data, Handover):
        data = data.take()
    if not isinstance(signing_key, ed25519.Ed25519PrivateKey):
        raise TypeError("signing_key must be an Ed25519 private key")
    if not isinstance(recipient_public_key, x25519.X25519PublicKey):
        raise TypeError("recipient_public_key must be an X25519 public key")
    if not isinstance(lifetime, timedelta) or lifetime < timedelta(seconds=1):
        raise ValueError("lifetime must be at least one second")
    random_id = rng(BUNDLE_ID_BYTES)
    if not isinstance(random_id, bytes) or len(random_id) != BUNDLE_ID_BYTES:
        raise ValueError(f"rng must return {BUNDLE_ID_BYTES} bytes")
    bundle_id = random_id.hex()
    created_at = format_time(now)
    data_view = memoryview(data).cast("B")

    header = {
        "format": FORMAT,
        "suite": SUITE,
        "agency_id": agency_id,
        "signing_key_id": key_id(signing_key.public_key()),
        "recipient_key_id": key_id(recipient_public_key),
        "key_epoch": key_epoch,
        "contract_id": contract_id,
        "contract_version": contract_version,
        "mode": mode,
        "bundle_id": bundle_id,
        "sequence": sequence,
        "created_at": created_at,
        "not_after": format_time(parse_time(created_at) + lifetime),
        "ciphertext_length": 0,  # set below, once the manifest's size is known
    }
    validate_header(header)  # first, so a bad identity is reported as a header problem
    manifest = {
        **{name: header[name] for name in SHARED_FIELDS},
        "period": period,
        "record_count": record_count,
        "data_sha256": hashlib.sha256(data_view).hexdigest(),
        "data_format": data_format,
        "supersedes": supersedes,
        "details": {} if details is None else details,
    }
    manifest_bytes = encode_manifest(manifest)
    header["ciphertext_length"] = ciphertext_length(4 + len(manifest_bytes) + data_view.nbytes)
    header_bytes = encode_header(header)
    size = OVERHEAD + len(header_bytes) + header["ciphertext_length"]
    if size > max_size:
        raise BundleError(TOO_LARGE, f"bundle would be {size} bytes; the cap is {max_size}", size=size, cap=max_size)

    plaintext = encode_plaintext(manifest_bytes, data_view)
    data_view.release()
    del data_view, data  # the data lives on in the plaintext only (unless the caller kept it)
    ciphertext = HPKE_SUITE.encrypt(plaintext, recipient_public_key, info=hpke_info(header_bytes))
    del plaintext  # free it before the file copy: peak memory is wall time on these machines
    if len(ciphertext) != header["ciphertext_length"]:
        raise AssertionError("HPKE output length differs from the suite's fixed overhead")
    signature = signing_key.sign(signed_message(header_bytes, ciphertext))
    blob = encode_frame(header_bytes, signature, ciphertext)
    del ciphertext
    return SealedBundle(
        blob=blob,
        header=header,
        manifest=manifest,
        bundle_id=bundle_id,
        sha256=hashlib.sha256(blob).hexdigest(),
    )
