"""Byte layout of a bundle file and of the plaintext inside it (SPEC §2, §4). No crypto here.

Decoding returns views into the caller's buffer instead of copies, because a bundle can be
100 MB and memory that is touched for the first time is slow on the target machines.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from dvnet.bundle.errors import FORMAT_UNSUPPORTED, FRAMING_INVALID, MANIFEST_INVALID, TOO_LARGE, BundleError
from dvnet.bundle.header import MAX_MANIFEST_SIZE

MAGIC = b"\x89DVB\r\n\x1a\n"  # PNG-style: a high byte, CR LF, ^Z, LF catch text-mode transfer damage
FRAME_VERSION = 1
DEFAULT_MAX_BUNDLE_SIZE = 256 * 1024 * 1024
DEFAULT_MAX_HEADER_SIZE = 4096
SIGNATURE_SIZE = 64
ENC_SIZE = 32  # X25519 encapsulated key at the start of the HPKE output
TAG_SIZE = 16
MIN_CIPHERTEXT_SIZE = ENC_SIZE + TAG_SIZE

_PREFIX = struct.Struct(">8sBI")  # magic, frame version, header length
_CT_LENGTH = struct.Struct(">Q")
_MANIFEST_LENGTH = struct.Struct(">I")
#: Bytes of a bundle that are neither header nor ciphertext.
OVERHEAD = _PREFIX.size + SIGNATURE_SIZE + _CT_LENGTH.size
#: Bytes before the header: magic, frame version, header length.
PREFIX_SIZE = _PREFIX.size


@dataclass(frozen=True)
class Frame:
    """The three parts of a bundle file, unparsed. ``ciphertext`` is a view into the file bytes."""

    header_bytes: bytes
    signature: bytes
    ciphertext: memoryview


def encode_prefix(header_bytes: bytes, signature: bytes, ciphertext_length: int) -> bytes:
    """Everything of a bundle file before its ciphertext."""
    if len(signature) != SIGNATURE_SIZE:
        raise ValueError("an Ed25519 signature is 64 bytes")
    return b"".join((_PREFIX.pack(MAGIC, FRAME_VERSION, len(header_bytes)), header_bytes, signature, _CT_LENGTH.pack(ciphertext_length)))


def encode_frame(header_bytes: bytes, signature: bytes, ciphertext: bytes | memoryview) -> bytes:
    """Lay out a bundle file. The one copy of the ciphertext is the output itself."""
    return b"".join((encode_prefix(header_bytes, signature, len(ciphertext)), ciphertext))


def _byte_view(blob: bytes | bytearray | memoryview) -> memoryview:
    view = memoryview(blob)
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


def decode_frame(
    blob: bytes | bytearray | memoryview,
    *,
    max_size: int = DEFAULT_MAX_BUNDLE_SIZE,
    max_header_size: int = DEFAULT_MAX_HEADER_SIZE,
) -> Frame:
    """Split a bundle file into its parts, checking size caps, magic, lengths and the exact end."""
    view = _byte_view(blob)
    size = view.nbytes
    if size > max_size:
        raise BundleError(TOO_LARGE, f"bundle is {size} bytes; the cap is {max_size}", size=size, cap=max_size)
    if size < _PREFIX.size or bytes(view[:8]) != MAGIC:
        raise BundleError(FRAMING_INVALID, "not a dvnet bundle (bad magic or too short)", size=size)
    _, version, header_length = _PREFIX.unpack_from(view)
    if version != FRAME_VERSION:
        raise BundleError(FORMAT_UNSUPPORTED, f"frame version {version} is not supported", version=version)
    if header_length > max_header_size:
        raise BundleError(TOO_LARGE, f"header is {header_length} bytes; the cap is {max_header_size}", part="header")
    if header_length == 0:
        raise BundleError(FRAMING_INVALID, "header length is zero")
    ct_length_at = _PREFIX.size + header_length + SIGNATURE_SIZE
    ciphertext_at = ct_length_at + _CT_LENGTH.size
    if size < ciphertext_at:
        raise BundleError(FRAMING_INVALID, "bundle is truncated before the ciphertext", size=size)
    (ct_length,) = _CT_LENGTH.unpack_from(view, ct_length_at)
    if ct_length < MIN_CIPHERTEXT_SIZE:
        raise BundleError(FRAMING_INVALID, f"ciphertext length {ct_length} is below the minimum {MIN_CIPHERTEXT_SIZE}")
    end = ciphertext_at + ct_length
    if size < end:
        raise BundleError(FRAMING_INVALID, f"bundle is truncated: {end - size} bytes missing", size=size)
    if size > end:
        raise BundleError(FRAMING_INVALID, f"{size - end} trailing bytes after the ciphertext", size=size)
    return Frame(
        header_bytes=bytes(view[_PREFIX.size : _PREFIX.size + header_length]),
        signature=bytes(view[_PREFIX.size + header_length : ct_length_at]),
        ciphertext=view[ciphertext_at:end],
    )


def peek_header_bytes(head: bytes | memoryview, *, max_header_size: int = DEFAULT_MAX_HEADER_SIZE) -> bytes:
    """The header bytes from the first ``OVERHEAD_BEFORE_HEADER + max_header_size`` bytes of a file,
    for looking at a bundle without reading it whole (it is not checked against the rest)."""
    view = _byte_view(head)
    if view.nbytes < _PREFIX.size or bytes(view[:8]) != MAGIC:
        raise BundleError(FRAMING_INVALID, "not a dvnet bundle (bad magic or too short)")
    _, version, header_length = _PREFIX.unpack_from(view)
    if version != FRAME_VERSION:
        raise BundleError(FORMAT_UNSUPPORTED, f"frame version {version} is not supported", version=version)
    if not 1 <= header_length <= max_header_size or view.nbytes < _PREFIX.size + header_length:
        raise BundleError(FRAMING_INVALID, "the header does not fit the first bytes of the file")
    return bytes(view[_PREFIX.size : _PREFIX.size + header_length])


def read_bundle_file(path: str | os.PathLike[str], *, max_size: int = DEFAULT_MAX_BUNDLE_SIZE) -> bytes:
    """Read a bundle file, refusing one over ``max_size`` before reading it into memory."""
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > max_size:
            raise BundleError(TOO_LARGE, f"bundle is {size} bytes; the cap is {max_size}", size=size, cap=max_size)
        blob = handle.read(size)
        if handle.read(1):
            raise BundleError(TOO_LARGE, "bundle file grew while it was being read", cap=max_size)
    return blob


def encode_plaintext(manifest_bytes: bytes, data: bytes | memoryview) -> bytes:
    """Plaintext = manifest length (4 bytes) ‖ manifest ‖ data, built with one copy of the data."""
    return b"".join((_MANIFEST_LENGTH.pack(len(manifest_bytes)), manifest_bytes, data))


def split_plaintext(plaintext: bytes) -> tuple[memoryview, memoryview]:
    """Plaintext → (manifest bytes, data) as views; a bad layout gives MANIFEST_INVALID."""
    view = memoryview(plaintext)
    if view.nbytes < _MANIFEST_LENGTH.size:
        raise BundleError(MANIFEST_INVALID, "plaintext is shorter than its manifest length prefix")
    (length,) = _MANIFEST_LENGTH.unpack_from(view)
    if not 1 <= length <= MAX_MANIFEST_SIZE or _MANIFEST_LENGTH.size + length > view.nbytes:
        raise BundleError(MANIFEST_INVALID, f"manifest length {length} does not fit the plaintext or the cap")
    start = _MANIFEST_LENGTH.size
    return view[start : start + length], view[start + length :]
