"""The 64-bit hashes of a unique column's keys (``kernels.value_hashes``) kept until every block
of an extract is read, without their memory growing with the extract.

Up to ``HashStore.MEMORY`` bytes of hashes are held in memory (two million keys); past that they
are written to files, one per range of hash values (``PARTITIONS``, by the hashes' top bits),
and the repeated hashes are found one file at a time: equal hashes are always in the same file,
so each file is checked on its own. At ten million keys that is 80 MB on disk instead of in
memory, read back 1.25 MB at a time.

The hashes are unkeyed functions of the agency's record keys (anyone who can list candidate keys
can recompute them), so the files are ``anonymize.scratch`` files: encrypted under a key that only
this process holds and never writes, owner-only in an owner-only folder, deleted when the store
is closed or collected, and unreadable if a killed run leaves them behind. Where no such folder
can be made, or the disk fills up while they are written, the hashes stay in (or come back to)
memory: the same answer, more memory.
"""

from __future__ import annotations

import logging

import numpy as np

from dvnet.anonymize.scratch import ScratchFolder
from dvnet.kernels.value_hashes import repeated_hashes

logger = logging.getLogger(__name__)

#: Ranges of hash values a spilled store is written in (a power of two: the top bits choose).
PARTITIONS = 64
_SHIFT = np.uint64(64 - PARTITIONS.bit_length() + 1)


class HashStore:
    """The hashes of one column's present keys, block after block; ``repeated`` gives those held
    more than once (sorted) and closes the store."""

    #: Bytes of hashes held in memory before the store goes to disk.
    MEMORY = 16 << 20

    def __init__(self, scratch: str | None = None) -> None:
        self._scratch = scratch  # where its files go (default: the temporary folder)
        self._held: list[np.ndarray] = []
        self._bytes = 0
        self._spill: _Spill | None = None
        self._in_memory = False  # the disk could not be used: every hash stays in memory

    @property
    def spilled(self) -> bool:
        return self._spill is not None

    def add(self, hashes: np.ndarray) -> None:
        if self._spill is None:
            self._held.append(hashes)
            self._bytes += hashes.nbytes
            if self._bytes < self.MEMORY or self._in_memory:
                return
            try:
                self._spill = _Spill(self._scratch)
            except OSError:  # no private folder can be made here (no temporary folder, no room): hold them
                logger.info("key hashes: no temporary folder could be made; holding them in memory")
                self._in_memory = True
                return
            pending, self._held = self._held, []
        else:
            pending = [hashes]
        for i, part in enumerate(pending):
            try:
                self._spill.write(part)
            except _DiskFull as full:  # what is on disk comes back, and every hash stays in memory from now
                logger.info("key hashes: the temporary folder is full; holding them in memory")
                self._held = [*self._spill.partitions(), full.rest, *pending[i + 1 :]]
                self._spill.close()
                self._spill, self._in_memory = None, True
                return

    def repeated(self) -> np.ndarray:
        """The hashes held more than once, sorted (files are read back one at a time)."""
        if self._spill is None:
            return repeated_hashes(self._held)
        try:
            found = [repeated_hashes([part]) for part in self._spill.partitions()]
            return np.concatenate(found) if found else np.zeros(0, dtype=np.uint64)
        finally:
            self.close()

    def close(self) -> None:
        """Delete whatever is on disk (nothing to do when nothing was spilled)."""
        self._held = []
        if self._spill is not None:
            self._spill.close()


class _DiskFull(Exception):
    def __init__(self, rest: np.ndarray) -> None:
        super().__init__("the temporary folder is full")
        self.rest = rest


class _Spill:
    """``PARTITIONS`` encrypted files in a private temporary folder (``anonymize.scratch``)."""

    def __init__(self, parent: str | None = None) -> None:
        self._scratch = ScratchFolder("dvnet-key-hashes-", parent)
        self.folder = self._scratch.path
        try:
            self._files = [self._scratch.file() for _ in range(PARTITIONS)]
        except OSError:
            self._scratch.close()
            raise

    def write(self, hashes: np.ndarray) -> None:
        """Each hash into its range's file; ``_DiskFull`` with the hashes not written when the
        disk fills up (each file's append is whole or nothing)."""
        ordered = np.sort(hashes)
        bounds = np.searchsorted(ordered >> _SHIFT, np.arange(PARTITIONS + 1, dtype=np.uint64))
        for p in range(PARTITIONS):
            piece = ordered[bounds[p] : bounds[p + 1]]
            if len(piece):
                try:
                    self._files[p].append(piece.tobytes())
                except OSError:
                    raise _DiskFull(ordered[bounds[p] :]) from None

    def partitions(self):
        """Each file's hashes, in order of their range."""
        for f in self._files:
            yield np.frombuffer(f.read(), dtype=np.uint64).copy()

    def close(self) -> None:
        for f in self._files:
            f.close()
        self._scratch.close()
