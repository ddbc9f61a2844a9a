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

import duckdb
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


def _pads(key: bytes) -> tuple[bytes, bytes]:
    """HMAC's inner and outer key pads (RFC 2104)."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\x00")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """HMAC-SHA256 of one message (RFC 2104 from the pads, checked against RFC 4231's vectors)."""
    inner, outer = _pads(key)
    return hashlib.sha256(outer + hashlib.sha256(inner + message).digest()).digest()


# The bulk form, HMAC-SHA256(key, prefix ‖ value) per value, in DuckDB: its SHA-256 runs on every
# core without Python's lock (Python's hashlib holds it for short messages), about 1.5x faster for
# 600,000 values here and bit-identical (tests compare it with ``hmac.new``). The pads travel as
# bound parameters into a private in-memory database that is closed at once.
_BULK_HMAC = "SELECT left(sha256($outer || unhex(sha256($inner || value))), $chars) AS mac FROM messages"


def _hmac_hex(key: bytes, prefix: bytes, messages: pa.Array, hex_chars: int) -> pa.Array:
    """``hex_chars`` hex characters of HMAC-SHA256(key, prefix ‖ m) for each binary ``m``, in order."""
    inner, outer = _pads(key)
    con = duckdb.connect()
    try:
        con.execute("SET preserve_insertion_order = true")  # row i of the result is message i
        con.register("messages", pa.table({"value": messages.cast(pa.large_binary())}))
        result = con.sql(_BULK_HMAC, params={"inner": inner + prefix, "outer": outer, "chars": hex_chars}).to_arrow_table()
    finally:
        con.close()
    macs = result.column("mac").combine_chunks().cast(pa.large_string())
    if len(macs) != len(messages):  # never expected; a silent misalignment would be a wrong pseudonym
        raise RuntimeError("bulk HMAC returned a different number of values")
    return macs


def pseudonymise(values: np.ndarray | list[str], *, key: bytes, field: str) -> np.ndarray:
    """Agency-scoped pseudonyms (32 hex chars) for ``values``, domain-separated by ``field``.

    Each distinct value is hashed once (client numbers repeat across episodes).
    """
    arr = np.asarray(values, dtype=object)
    out = pseudonym_array(pa.array(arr.astype(str).tolist(), pa.large_string()), key=key, field=field)
    return np.asarray(out.to_pylist(), dtype=object)


def pseudonym_array(values: pa.Array | pa.ChunkedArray, *, key: bytes, field: str) -> pa.ChunkedArray:
    """``pseudonymise`` for an Arrow text column: the same pseudonyms, NA kept as NA.

    Each distinct value is hashed once, then spread back to the rows.
    """
    if isinstance(values, pa.Array):
        values = pa.chunked_array([values])
    values = values.cast(pa.large_string())
    distinct = pc.unique(values).drop_null()
    hexed = _hmac_hex(key, field.encode("utf-8") + b"\x00", distinct, PSEUDONYM_HEX_CHARS)
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
    messages = pa.array([f"{normalise_name(n)}|{d}" for n, d in zip(names, dates_of_birth)], pa.large_string())
    return _hmac_hex(project_key, b"", messages, 64).to_pylist()
