"""Sealing: encrypt a data file to the coordinator and sign it as the agency (SPEC §1–§4, §10).

Agencies seal format 2 (``BundleWriter``: the data is encrypted a segment at a time as it is
written, so it is never held whole; ``seal`` does the same for data already in memory). Format 1
(``encrypt_and_sign``, one HPKE message) is still opened, and kept here so its opening stays tested.

Also home to the three crypto constructions both sides share (the HPKE suite, its ``info``
and the signed message), so sealing and opening cannot drift apart. Time and the bundle id's
randomness are parameters, so tests and vectors get fixed headers (Fernet's ``encrypt_at_time``
idea); the key the segments are encrypted under is always the operating system's (``streamed.py``).
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, BinaryIO

from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

from dvnet.bundle.errors import TOO_LARGE, BundleError
from dvnet.bundle import streamed
from dvnet.bundle.framing import DEFAULT_MAX_BUNDLE_SIZE, ENC_SIZE, OVERHEAD, TAG_SIZE, encode_frame, encode_prefix
from dvnet.bundle.header import (
    FORMAT_STREAMED,
    FORMAT_WHOLE,
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
BUNDLE_ID_BYTES = 16


def hpke_info(header_bytes: bytes, fmt: str = FORMAT_WHOLE) -> bytes:
    """HPKE ``info`` = the format ("dvnet-bundle/1" or "/2") ‖ 0x00 ‖ SHA-256(header): the
    ciphertext opens only under its header."""
    return fmt.encode("ascii") + b"\x00" + hashlib.sha256(header_bytes).digest()


def signed_message(header_bytes: bytes, ciphertext: bytes | memoryview | None = None, *, ciphertext_sha256: bytes | None = None) -> bytes:
    """The 64 bytes the agency signs: SHA-256(header) ‖ SHA-256(ciphertext) (or the ciphertext's
    digest, taken as it was written)."""
    digest = hashlib.sha256(ciphertext).digest() if ciphertext_sha256 is None else ciphertext_sha256
    return hashlib.sha256(header_bytes).digest() + digest


def ciphertext_length(plaintext_length: int) -> int:
    """Format 1's ciphertext length (the HPKE output for this suite): encapsulated key ‖ ciphertext ‖ tag."""
    return ENC_SIZE + plaintext_length + TAG_SIZE


class Handover:
    """Data given to ``seal`` for it to let go of: ``seal`` takes the only reference and frees
    the data as soon as it is encrypted (a payload can be as large as the bundle cap). Taken once."""

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
    """A format-1 bundle: ``plaintext`` (manifest length ‖ manifest ‖ data) in one HPKE message
    under ``header_bytes``, framed and signed. No checks: for tests and vectors of format 1."""
    ciphertext = HPKE_SUITE.encrypt(plaintext, recipient_public_key, info=hpke_info(header_bytes))
    signature = signing_key.sign(signed_message(header_bytes, ciphertext))
    return encode_frame(header_bytes, signature, ciphertext)


@dataclass(frozen=True)
class SealedStream:
    """A format-2 bundle ready to be written: its header, manifest and signature made, its
    segments in the writer's spool. ``write_to`` writes the file once and returns its SHA-256."""

    header: dict[str, Any]
    manifest: dict[str, Any]
    bundle_id: str
    size: int  # bytes of the file
    header_bytes: bytes
    signature: bytes
    tail: bytes  # envelope ‖ E
    segments: streamed.SegmentWriter

    def write_to(self, out: BinaryIO) -> str:
        digest = hashlib.sha256()
        front = encode_prefix(self.header_bytes, self.signature, self.header["ciphertext_length"])
        out.write(front)
        digest.update(front)
        streamed.copy_spool(self.segments.spool, out, self.segments.segments_length, digest)
        out.write(self.tail)
        digest.update(self.tail)
        self.segments.spool.close()
        return digest.hexdigest()


class BundleWriter:
    """Seal data written a piece at a time (format 2, SPEC §10): ``write`` it as to a binary file
    (pyarrow's Parquet writer can write here), then ``seal`` once with the bundle's identities.
    Holds one segment of data in memory; the encrypted segments wait in ``spool`` (by default an
    unnamed temporary file; give one on a disk where the temporary folder is held in memory).
    The sequence number is needed only by ``seal``, after every byte is written."""

    def __init__(self, spool: BinaryIO | None = None) -> None:
        self._segments = streamed.SegmentWriter(spool)

    def writable(self) -> bool:
        return True

    @property
    def closed(self) -> bool:
        return self._segments.closed

    def write(self, data: bytes | bytearray | memoryview) -> int:
        return self._segments.write(data)

    def tell(self) -> int:
        return self._segments.data_length

    def flush(self) -> None:
        pass

    def seal(
        self,
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
    ) -> SealedStream:
        """Close the segments and make the header, manifest, envelope and signature. Refuses with
        ``BundleError`` (HEADER_INVALID, MANIFEST_INVALID, TOO_LARGE) anything the coordinator
        would refuse for the same reason, so an agency finds out before it sends."""
        if self._segments.closed:
            raise ValueError("this bundle is already sealed")
        header, bundle_id = _header(agency_id, contract_id, contract_version, mode, sequence, signing_key, recipient_public_key,
                                    now, key_epoch, lifetime, rng, FORMAT_STREAMED)  # fmt: skip
        segments = self._segments
        key = segments.close()
        manifest = _manifest(header, period, record_count, segments.data_sha256.hexdigest(), data_format, supersedes, details)
        manifest_bytes = encode_manifest(manifest)
        header["ciphertext_length"] = segments.segments_length + streamed.envelope_length(len(manifest_bytes)) + streamed.E_SIZE
        header_bytes = encode_header(header)
        size = OVERHEAD + len(header_bytes) + header["ciphertext_length"]
        if size > max_size:
            segments.spool.close()
            raise BundleError(TOO_LARGE, f"bundle would be {size} bytes; the cap is {max_size}", size=size, cap=max_size)
        tail, signature = _envelope_and_sign(header_bytes, key, manifest_bytes, segments, signing_key, recipient_public_key)
        if segments.segments_length + len(tail) != header["ciphertext_length"]:
            raise AssertionError("HPKE output length differs from the suite's fixed overhead")
        return SealedStream(header, manifest, bundle_id, size, header_bytes, signature, tail, segments)


def _envelope_and_sign(header_bytes: bytes, key: bytes, manifest_bytes: bytes, segments: streamed.SegmentWriter,
                       signing_key: ed25519.Ed25519PrivateKey, recipient_public_key: x25519.X25519PublicKey) -> tuple[bytes, bytes]:  # fmt: skip
    """Format 2's envelope ‖ E, and the signature over the header and the whole ciphertext."""
    envelope = HPKE_SUITE.encrypt(streamed.envelope_plaintext(key, manifest_bytes), recipient_public_key, info=hpke_info(header_bytes, FORMAT_STREAMED))
    tail = streamed.envelope_and_length(envelope)
    ciphertext_sha = segments.segments_sha256.copy()
    ciphertext_sha.update(tail)
    return tail, signing_key.sign(signed_message(header_bytes, ciphertext_sha256=ciphertext_sha.digest()))


def encrypt_and_sign_streamed(
    header_bytes: bytes,
    manifest_bytes: bytes,
    data: bytes,
    signing_key: ed25519.Ed25519PrivateKey,
    recipient_public_key: x25519.X25519PublicKey,
) -> bytes:
    """A format-2 bundle of exactly these header and manifest bytes over ``data``, framed and
    signed. No checks: for tests and vectors (a header or manifest that breaks a rule on purpose)."""
    segments = streamed.SegmentWriter(io.BytesIO())
    segments.write(data)
    key = segments.close()
    tail, signature = _envelope_and_sign(header_bytes, key, manifest_bytes, segments, signing_key, recipient_public_key)
    return encode_frame(header_bytes, signature, segments.spool.getvalue() + tail)


def _header(agency_id, contract_id, contract_version, mode, sequence, signing_key, recipient_public_key, now, key_epoch, lifetime, rng, fmt) -> tuple[dict[str, Any], str]:
    """The header of SPEC §3 (``ciphertext_length`` still 0), checked first, so that a bad
    identity is reported as a header problem."""
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
    header = {
        "format": fmt,
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
        "ciphertext_length": 0,  # set once the manifest's size is known
    }
    validate_header(header)
    return header, bundle_id


def _manifest(header, period, record_count, data_sha256, data_format, supersedes, details) -> dict[str, Any]:
    return {
        **{name: header[name] for name in SHARED_FIELDS},
        "period": period,
        "record_count": record_count,
        "data_sha256": data_sha256,
        "data_format": data_format,
        "supersedes": supersedes,
        "details": {} if details is None else details,
    }


def seal(data: bytes | bytearray | memoryview | Handover, **fields: Any) -> SealedBundle:
    """Seal ``data`` (in memory) for the coordinator: a ``BundleWriter`` in memory, the file as
    bytes. ``fields``: those of ``BundleWriter.seal`` (the bundle's identities, keys, time).

    Refuses with ``BundleError`` (HEADER_INVALID, MANIFEST_INVALID, TOO_LARGE) anything the
    coordinator would refuse for the same reason. Peak memory is about twice the data when the
    caller hands it over (``Handover``, keeping no reference of its own): it is let go once
    encrypted; otherwise the caller's data stays beside the two.
    """
    if isinstance(data, Handover):
        data = data.take()
    writer = BundleWriter(io.BytesIO())
    view = memoryview(data).cast("B")
    writer.write(view)
    view.release()
    del view, data  # the data lives on in the caller only (if the caller kept it)
    sealed = writer.seal(**fields)
    out = io.BytesIO()
    sha256 = sealed.write_to(out)
    blob = out.getvalue()
    del out
    return SealedBundle(blob=blob, header=sealed.header, manifest=sealed.manifest, bundle_id=sealed.bundle_id, sha256=sha256)
