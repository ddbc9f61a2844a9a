"""Format 2's ciphertext (SPEC §10): the data in segments under a key of its own, so that a
bundle is sealed as its data is written and opened a segment at a time. No header, no signature
here: ``seal.py`` and ``opening.py`` put those around it, as for format 1.

    ciphertext = segments ‖ envelope ‖ E      (E: the envelope's length, 4 bytes big-endian)
    envelope   = HPKE (the §1 suite and info) of  K (32 bytes) ‖ manifest
    segment i  = ChaCha20-Poly1305 under K of the data's i-th SEGMENT_SIZE bytes (the last: 0 to
                 SEGMENT_SIZE), nonce = i (11 bytes, big-endian) ‖ 0x01 on the last, else 0x00

The last-segment flag and the index in the nonce make a dropped, repeated, reordered or cut
segment fail its tag (the STREAM construction, Hoang et al. 2015; age's payload is built the same
way). K is made here from the operating system's randomness for each bundle and never leaves the
envelope, so a nonce is never used twice under one key.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
import tempfile
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from dvnet.bundle.errors import DATA_HASH_MISMATCH, DECRYPT_FAILED, FRAMING_INVALID, MANIFEST_INVALID, BundleError
from dvnet.bundle.framing import ENC_SIZE, TAG_SIZE
from dvnet.bundle.header import MAX_MANIFEST_SIZE

SEGMENT_SIZE = 64 * 1024  # data bytes per segment but the last
KEY_SIZE = 32
#: E, the envelope's length, at the ciphertext's end (SPEC §10).
_E = struct.Struct(">I")
E_SIZE = _E.size
SEGMENT_OVERHEAD = TAG_SIZE
#: The shortest envelope: the HPKE suite's encapsulated key and tag around K and a manifest of one byte.
MIN_ENVELOPE_SIZE = ENC_SIZE + KEY_SIZE + 1 + TAG_SIZE


def envelope_and_length(envelope: bytes) -> bytes:
    """The ciphertext's tail: the envelope, then E (its length)."""
    return envelope + _E.pack(len(envelope))


def segment_nonce(index: int, last: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def segments_length(data_length: int) -> int:
    """Bytes of the encrypted segments of ``data_length`` data bytes (always at least one segment)."""
    count = max(1, -(-data_length // SEGMENT_SIZE))
    return data_length + count * SEGMENT_OVERHEAD


def envelope_length(manifest_length: int) -> int:
    return ENC_SIZE + KEY_SIZE + manifest_length + TAG_SIZE


def ciphertext_length(data_length: int, manifest_length: int) -> int:
    return segments_length(data_length) + envelope_length(manifest_length) + E_SIZE


def envelope_plaintext(key: bytes, manifest_bytes: bytes) -> bytes:
    return key + manifest_bytes


class SegmentWriter:
    """The data's segments, encrypted as the data is written (``write``), into
    ``spool`` (by default an unnamed temporary file, gone with the process). Holds at most one
    segment of data; the last segment is written by ``close``, which returns K."""

    def __init__(self, spool: BinaryIO | None = None) -> None:
        self._key = ChaCha20Poly1305.generate_key()  # never from an injected rng: see the module doc
        self._aead = ChaCha20Poly1305(self._key)
        self.spool = spool if spool is not None else _temporary_file()
        self._pending = bytearray()
        self._out = bytearray(SEGMENT_SIZE + SEGMENT_OVERHEAD)
        self._index = 0
        self.data_sha256 = hashlib.sha256()
        self.segments_sha256 = hashlib.sha256()
        self.data_length = 0
        self.segments_length = 0
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self.closed:
            raise ValueError("the segments are closed")
        view = memoryview(data).cast("B")
        n = view.nbytes
        self.data_sha256.update(view)
        self.data_length += n
        while view.nbytes:
            if not self._pending and view.nbytes > SEGMENT_SIZE:  # more follows: not the last segment
                self._emit(view[:SEGMENT_SIZE], last=False)
                view = view[SEGMENT_SIZE:]
                continue
            if len(self._pending) == SEGMENT_SIZE:  # more follows (view is not empty)
                self._emit(self._pending, last=False)
                self._pending.clear()
            take = min(SEGMENT_SIZE - len(self._pending), view.nbytes)
            self._pending += view[:take]
            view = view[take:]
        return n

    def _emit(self, plain: bytes | bytearray | memoryview, last: bool) -> None:
        out = memoryview(self._out)[: len(plain) + SEGMENT_OVERHEAD]
        self._aead.encrypt_into(segment_nonce(self._index, last), plain, None, out)
        self.spool.write(out)
        self.segments_sha256.update(out)
        self.segments_length += out.nbytes
        self._index += 1

    def close(self) -> bytes:
        """Write the last segment (0 to SEGMENT_SIZE bytes) and give K, once."""
        if self.closed:
            raise ValueError("the segments are closed")
        self._emit(self._pending, last=True)
        self._pending = bytearray()
        self.closed = True
        key, self._key = self._key, b""
        return key


def _temporary_file() -> BinaryIO:
    return tempfile.TemporaryFile()  # the writer owns it until the bundle is written


def split_ciphertext(ciphertext: memoryview) -> tuple[memoryview, memoryview]:
    """(segments, envelope) of a format-2 ciphertext, or FRAMING_INVALID when E does not fit it or the
    segments' length is not one a writer makes."""
    size = ciphertext.nbytes
    if size < E_SIZE + MIN_ENVELOPE_SIZE + SEGMENT_OVERHEAD:
        raise BundleError(FRAMING_INVALID, f"ciphertext of {size} bytes is too short for format 2")
    (w,) = _E.unpack_from(ciphertext, size - E_SIZE)
    segments = size - E_SIZE - w
    if w < MIN_ENVELOPE_SIZE or segments < SEGMENT_OVERHEAD:
        raise BundleError(FRAMING_INVALID, f"envelope length {w} does not fit a ciphertext of {size} bytes")
    last = segments % (SEGMENT_SIZE + SEGMENT_OVERHEAD)
    if 0 < last < SEGMENT_OVERHEAD:
        raise BundleError(FRAMING_INVALID, f"segments of {segments} bytes end inside a segment's tag")
    return ciphertext[:segments], ciphertext[segments : size - E_SIZE]


def split_envelope_plaintext(inner: bytes) -> tuple[bytes, memoryview]:
    """K and the manifest bytes from an opened envelope (MANIFEST_INVALID when no manifest follows K)."""
    view = memoryview(inner)
    if view.nbytes <= KEY_SIZE or view.nbytes - KEY_SIZE > MAX_MANIFEST_SIZE:
        raise BundleError(MANIFEST_INVALID, f"the envelope holds {view.nbytes} bytes: no manifest of 1 to {MAX_MANIFEST_SIZE} bytes after the key")
    return bytes(view[:KEY_SIZE]), view[KEY_SIZE:]


def decrypt_segments(key: bytes, segments: memoryview, data_sha256: str) -> bytearray:
    """The data, a segment at a time into one buffer; DECRYPT_FAILED at the first segment whose tag
    fails, DATA_HASH_MISMATCH when the data is not what the manifest names."""
    step = SEGMENT_SIZE + SEGMENT_OVERHEAD
    count = max(1, -(-segments.nbytes // step))
    data = bytearray(segments.nbytes - count * SEGMENT_OVERHEAD)
    out = memoryview(data)
    aead = ChaCha20Poly1305(key)
    digest = hashlib.sha256()
    for i in range(count):
        piece = segments[i * step : (i + 1) * step]
        plain = out[i * SEGMENT_SIZE : i * SEGMENT_SIZE + piece.nbytes - SEGMENT_OVERHEAD]
        try:
            aead.decrypt_into(segment_nonce(i, i == count - 1), piece, None, plain)
        except InvalidTag:
            raise BundleError(DECRYPT_FAILED, f"segment {i} of {count} does not open under the bundle's key") from None
        digest.update(plain)
    if not hmac.compare_digest(digest.hexdigest(), data_sha256):
        raise BundleError(DATA_HASH_MISMATCH, "SHA-256 of the data differs from the manifest's data_sha256")
    return data


def copy_spool(spool: BinaryIO, out: BinaryIO, expected: int, digest) -> None:
    """The spooled segments into ``out`` (and ``digest``), from the start, checking their length."""
    spool.flush()
    spool.seek(0)
    copied = 0
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    while n := spool.readinto(buffer):
        out.write(view[:n])
        digest.update(view[:n])
        copied += n
    if copied != expected:
        raise OSError(f"the spooled segments are {copied} bytes, not {expected}")

