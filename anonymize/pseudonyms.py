"""Keyed pseudonyms and project-scoped linkage tokens.

Never an unkeyed hash: an unkeyed hash of a client number, a name or a birth date can be reversed
by anyone who can enumerate candidates (HMIS-style "hashed" exports are dictionary-attackable).

* **Pseudonym**: HMAC-SHA256 under the agency's own pseudonym key (the coordinator never holds
  it), domain-separated by field name, truncated to 128 bits. Stable across the agency's bundles,
  so corrections and repeat episodes line up; meaningless to every other party.
* **Linkage token** (Tier 4 only): HMAC-SHA256 of the normalised name and date of birth under a
  key derived with HKDF-SHA256 (RFC 5869) from the network linkage key, ``info`` = the project
  id. Two projects' tokens cannot be joined, and the coordinator, which never holds the network
  linkage key, cannot run a dictionary attack.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

PSEUDONYM_HEX_CHARS = 32
HKDF_INFO_PREFIX = b"dvnet/linkage/v1/"
_BLOCK = 64  # SHA-256 block size


def hkdf_sha256(ikm: bytes, *, salt: bytes | None, info: bytes, length: int = 32) -> bytes:
    """HKDF-SHA256 extract-and-expand exactly as RFC 5869 (checked against its test vectors)."""
    prk = hmac.new(salt if salt else b"\x00" * 32, ikm, hashlib.sha256).digest()
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
        counter += 1
    return okm[:length]


def project_linkage_key(network_linkage_key: bytes, project_id: str) -> bytes:
    """The per-project linkage key: HKDF(network linkage key, info = prefix ‖ project id)."""
    return hkdf_sha256(network_linkage_key, salt=None, info=HKDF_INFO_PREFIX + project_id.encode("utf-8"))


class _Hmac:
    """HMAC-SHA256 with precomputed inner and outer pads: same output as ``hmac``, ~3x faster in bulk."""

    def __init__(self, key: bytes):
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_BLOCK, b"\x00")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def digest(self, message: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def digests(self, prefix: bytes, messages: Iterable[bytes]) -> bytes:
        """The 32-byte digests of ``prefix ‖ message`` for each message, concatenated.

        The hot loop of a contribution (one turn per distinct client or episode number): it
        makes no Python string per value and no hex text; callers slice the joined bytes.
        """
        inner_base = self._inner.copy()
        inner_base.update(prefix)
        new_inner, new_outer = inner_base.copy, self._outer.copy
        out: list[bytes] = []
        append = out.append
        for message in messages:
            inner = new_inner()
            inner.update(message)
            outer = new_outer()
            outer.update(inner.digest())
            append(outer.digest())
        return b"".join(out)

    def hexdigests(self, prefix: bytes, values: Iterable[str], hex_chars: int) -> list[str]:
        inner_base, outer_base = self._inner, self._outer
        inner_base = inner_base.copy()
        inner_base.update(prefix)
        out = []
        for value in values:
            inner = inner_base.copy()
            inner.update(value.encode("utf-8"))
            outer = outer_base.copy()
            outer.update(inner.digest())
            out.append(outer.hexdigest()[:hex_chars])
        return out


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    return _Hmac(key).digest(message)


def pseudonymise(values: np.ndarray | list[str], *, key: bytes, field: str) -> np.ndarray:
    """Agency-scoped pseudonyms (32 hex chars) for ``values``, domain-separated by ``field``.

    Each distinct value is hashed once (client numbers repeat across episodes).
    """
    arr = np.asarray(values, dtype=object)
    out = pseudonym_array(pa.array(arr.astype(str).tolist(), pa.large_string()), key=key, field=field)
    return np.asarray(out.to_pylist(), dtype=object)


def _hex_array(joined: bytes, count: int, hex_chars: int) -> pa.Array:
    """``count`` 32-byte digests, each cut to its first ``hex_chars`` hex characters, as one
    Arrow text array built from a single buffer."""
    digests = np.frombuffer(joined, dtype=np.uint8).reshape(count, 32)[:, : hex_chars // 2]
    text = np.frombuffer(digests.tobytes().hex().encode("ascii"), dtype=np.uint8)
    offsets = np.arange(0, count * hex_chars + 1, hex_chars, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(text))


def pseudonym_array(values: pa.Array | pa.ChunkedArray, *, key: bytes, field: str) -> pa.ChunkedArray:
    """``pseudonymise`` for an Arrow text column: the same pseudonyms, NA kept as NA.

    Each distinct value is hashed once; the hex text is made in one buffer, not per row.
    """
    if isinstance(values, pa.Array):
        values = pa.chunked_array([values])
    values = values.cast(pa.large_string())
    distinct = pc.unique(values).drop_null()
    joined = _Hmac(key).digests(field.encode("utf-8") + b"\x00", distinct.cast(pa.large_binary()).to_pylist())
    hexed = _hex_array(joined, len(distinct), PSEUDONYM_HEX_CHARS)
    if len(distinct) == len(values) and values.equals(pa.chunked_array([distinct])):
        return pa.chunked_array([hexed])  # every value differs (episode numbers), in row order already
    return hexed.take(pc.index_in(values, value_set=distinct))


def normalise_name(name: str) -> str:
    """Case-, accent-, punctuation-, spacing- and order-insensitive form of a name for linkage."""
    decomposed = unicodedata.normalize("NFKD", name)
    letters = "".join(c if c.isalpha() else " " for c in decomposed if not unicodedata.combining(c))
    return " ".join(sorted(letters.casefold().split()))


def linkage_tokens(names: Iterable[str], dates_of_birth: Iterable[str], *, project_key: bytes) -> list[str]:
    """Linkage tokens (64 hex chars) from names and ISO dates of birth under a project key."""
    mac = _Hmac(project_key)
    return mac.hexdigests(b"", (f"{normalise_name(n)}|{d}" for n, d in zip(names, dates_of_birth)), 64)
