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

This module decides what is hashed under which key (field, prefix, hex length); the hashing
itself is ``kernels.keyed_hashes`` (HMAC-SHA256 of a whole column in a worker process).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from dvnet.contracts.errors import DvnetError
from dvnet.kernels.keyed_hashes import KeyedHashJob, WorkerFailed
from dvnet.kernels.masks import bool_mask

PSEUDONYM_HEX_CHARS = 32
HKDF_INFO_PREFIX = b"dvnet/linkage/v1/"


class KeyedHashError(DvnetError):
    """The process computing pseudonyms failed (it never sees a value to report; only its exit
    status is kept)."""

    def __init__(self, status: int | None) -> None:
        super().__init__(
            "KEYED_HASH_FAILED",
            f"the process computing pseudonyms stopped before it finished (exit status {status}); nothing was sealed",
            hint="run the contribution again; if it fails again, check the machine's free memory and free space in its temporary folder",
        )


def hkdf_sha256(ikm: bytes, *, salt: bytes | None, info: bytes, length: int = 32) -> bytes:
    """HKDF-SHA256 extract-and-expand (RFC 5869, by pyca/cryptography; checked against the RFC's
    test vectors). No salt, or an empty one, is the RFC's string of zeros."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt or None, info=info).derive(ikm)


def project_linkage_key(network_linkage_key: bytes, project_id: str) -> bytes:
    """The per-project linkage key: HKDF(network linkage key, info = prefix ‖ project id)."""
    return hkdf_sha256(network_linkage_key, salt=None, info=HKDF_INFO_PREFIX + project_id.encode("utf-8"))


class PendingHexes:
    """Keyed hex digests of a text column, being computed beside the caller (see
    ``kernels.keyed_hashes``) from the moment each part of it is given; NA stays NA. The column
    is given whole, or (``more=True``) a block at a time with ``add`` until ``close``.
    ``result()`` collects the digests; a hashing process that died is ``KeyedHashError``.
    ``digests``: where the digests wait until taken (``KeyedHashJob``; default in memory)."""

    def __init__(self, values: pa.Array | pa.ChunkedArray | None, *, key: bytes, prefix: bytes, hex_chars: int, more: bool = False,
                 digests=None) -> None:
        self._n = 0
        self._blocks: list[np.ndarray | int] = []  # per block: which rows are present, or its length if all are
        self._valid: np.ndarray | None = None
        self._job = KeyedHashJob(key, prefix, None, hex_chars, more=True, digests=digests)
        if values is not None:
            self.add(values)
        if not more:
            self.close()

    def add(self, values: pa.Array | pa.ChunkedArray) -> None:
        """The next rows of the column, hashed from now on."""
        values = values.cast(pa.large_string())
        # Every row is hashed, repeats included: finding the distinct values first costs about as
        # much as hashing the repeats (client numbers in a quarter are mostly distinct), and the
        # hashing runs beside the caller while the search for repeats would not.
        if values.null_count:
            self._blocks.append(bool_mask(pc.is_valid(values), len(values)))
            values = values.drop_null()
        else:
            self._blocks.append(len(values))
        self._n += len(self._blocks[-1]) if isinstance(self._blocks[-1], np.ndarray) else self._blocks[-1]
        self._valid = None
        self._job.add(values)

    def close(self) -> None:
        """No more rows."""
        self._job.close()

    def cancel(self) -> None:
        self._job.cancel()

    def release(self) -> None:
        """Let go of the digests once every one was taken."""
        try:
            self._job.release()
        except WorkerFailed as e:
            raise KeyedHashError(e.status) from None

    def _present(self) -> np.ndarray | None:
        """Which rows are present (None: every one), over every block given so far."""
        if all(isinstance(b, int) for b in self._blocks):
            return None
        if self._valid is None:
            self._valid = np.concatenate([b if isinstance(b, np.ndarray) else np.ones(b, dtype=bool) for b in self._blocks])
        return self._valid

    def rows(self, start: int, stop: int) -> pa.Array:
        """The digests of rows ``start`` to ``stop`` of the column (NA where it is NA); waits only
        for those rows."""
        present = self._present()
        if present is None:
            return self._hexes(start, stop)
        valid = present[start:stop]
        first = int(np.count_nonzero(present[:start]))
        hexed = self._hexes(first, first + int(np.count_nonzero(valid)))
        return hexed.take(pa.array(np.cumsum(valid) - 1, mask=~valid))

    def _hexes(self, start: int, stop: int) -> pa.Array:
        try:
            return self._job.hexes(start, stop)
        except WorkerFailed as e:
            raise KeyedHashError(e.status) from None

    def result(self) -> pa.ChunkedArray:
        return pa.chunked_array([self.rows(0, self._n)])


def pending_pseudonyms(values: pa.Array | pa.ChunkedArray | None, *, key: bytes, field: str, more: bool = False, digests=None) -> PendingHexes:
    """Agency-scoped pseudonyms (32 hex chars) of a text column, started now: HMAC-SHA256 under
    the agency key of ``field`` ‖ NUL ‖ value, truncated. ``more``: the column's next blocks follow
    (``PendingHexes.add``)."""
    return PendingHexes(values, key=key, prefix=field.encode("utf-8") + b"\x00", hex_chars=PSEUDONYM_HEX_CHARS, more=more, digests=digests)


def pseudonym_array(values: pa.Array | pa.ChunkedArray, *, key: bytes, field: str) -> pa.ChunkedArray:
    """The pseudonyms of an Arrow text column, NA kept as NA."""
    return pending_pseudonyms(values, key=key, field=field).result()


def pseudonymise(values: np.ndarray | list[str], *, key: bytes, field: str) -> np.ndarray:
    """Agency-scoped pseudonyms (32 hex chars) for ``values``, domain-separated by ``field``."""
    arr = np.asarray(values, dtype=object)
    out = pseudonym_array(pa.array(arr.astype(str).tolist(), pa.large_string()), key=key, field=field)
    return np.asarray(out.to_pylist(), dtype=object)


def normalise_name(name: str) -> str:
    """Case-, accent-, punctuation-, spacing- and order-insensitive form of a name for linkage."""
    decomposed = unicodedata.normalize("NFKD", name)
    letters = "".join(c if c.isalpha() else " " for c in decomposed if not unicodedata.combining(c))
    return " ".join(sorted(letters.casefold().split()))


def linkage_messages(names: Iterable[str], dates_of_birth: Iterable[str]) -> pa.Array:
    """What a linkage token is the keyed hash of: the normalised name and the ISO date of birth."""
    return pa.array([f"{normalise_name(n)}|{d}" for n, d in zip(names, dates_of_birth)], pa.large_string())


def pending_linkage_tokens(names: Iterable[str] | None, dates_of_birth: Iterable[str] | None, *, project_key: bytes, more: bool = False,
                           digests=None) -> PendingHexes:
    """Linkage tokens (64 hex chars) from names and ISO dates of birth under a project key, started
    now (``more``: the next blocks follow, as ``linkage_messages`` given to ``PendingHexes.add``)."""
    messages = None if names is None else linkage_messages(names, dates_of_birth)
    return PendingHexes(messages, key=project_key, prefix=b"", hex_chars=64, more=more, digests=digests)


def linkage_tokens(names: Iterable[str], dates_of_birth: Iterable[str], *, project_key: bytes) -> list[str]:
    """Linkage tokens (64 hex chars) from names and ISO dates of birth under a project key."""
    return pending_linkage_tokens(names, dates_of_birth, project_key=project_key).result().to_pylist()
