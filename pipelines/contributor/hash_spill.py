"""The 64-bit hashes of a unique column's keys (``kernels.value_hashes``) kept until every block
of an extract is read, without their memory growing with the extract.

Up to ``HashStore.MEMORY`` bytes of hashes are held in memory (two million keys); past that they
are written to files, one per range of hash values (``PARTITIONS``, by the hashes' top bits),
and the repeated hashes are found one file at a time: equal hashes are always in the same file,
so each file is checked on its own. At ten million keys that is 80 MB on disk instead of in
memory, read back 1.25 MB at a time.

The hashes are unkeyed functions of the agency's record keys (anyone who can list candidate keys
can recompute them), so the files are encrypted (ChaCha20, one stream per file) under a key that
only this process holds and never writes: owner-only files in an owner-only folder, deleted when
the store is closed or collected, and unreadable if a killed run leaves them behind. Where no
such folder can be made, the hashes stay in memory (the same answer, more memory).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import weakref

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

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

    def __init__(self) -> None:
        self._held: list[np.ndarray] = []
        self._bytes = 0
        self._spill: _Spill | None = None
        self._in_memory = False  # the disk could not be used: every hash stays in memory

    @property
    def spilled(self) -> bool:
        return self._spill is not None

    def add(self, hashes: np.ndarray) -> None:
        if self._spill is not None:
            self._spill.write(hashes)
            return
        self._held.append(hashes)
        self._bytes += hashes.nbytes
        if self._bytes >= self.MEMORY and not self._in_memory:
            try:
                self._spill = _Spill()
            except OSError:  # no private folder can be made here (no temporary folder, no room): hold them
                logger.info("key hashes: no temporary folder could be made; holding them in memory")
                self._in_memory = True
                return
            while self._held:
                self._spill.write(self._held.pop(0))

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


class _Spill:
    """``PARTITIONS`` encrypted files in a private temporary folder."""

    def __init__(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="dvnet-key-hashes-")  # 0700
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.folder, ignore_errors=True)
        self._key = os.urandom(32)
        self._files = []
        self._ciphers = []
        for p in range(PARTITIONS):
            fd = os.open(os.path.join(self.folder, f"{p:03d}"), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            self._files.append(os.fdopen(fd, "wb"))
            self._ciphers.append(Cipher(algorithms.ChaCha20(self._key, _nonce(p)), mode=None).encryptor())

    def write(self, hashes: np.ndarray) -> None:
        ordered = np.sort(hashes)
        bounds = np.searchsorted(ordered >> _SHIFT, np.arange(PARTITIONS + 1, dtype=np.uint64))
        for p in range(PARTITIONS):
            piece = ordered[bounds[p] : bounds[p + 1]]
            if len(piece):
                self._files[p].write(self._ciphers[p].update(piece.tobytes()))

    def partitions(self):
        """Each file's hashes, in order of their range."""
        for f in self._files:
            f.close()
        for p in range(PARTITIONS):
            with open(os.path.join(self.folder, f"{p:03d}"), "rb") as f:
                data = Cipher(algorithms.ChaCha20(self._key, _nonce(p)), mode=None).decryptor().update(f.read())
            yield np.frombuffer(data, dtype=np.uint64).copy()

    def close(self) -> None:
        for f in self._files:
            f.close()
        self._cleanup()


def _nonce(partition: int) -> bytes:
    """ChaCha20's 16 bytes for one file: the block counter from 0 (4 bytes), then the partition
    as the nonce (12), so no two files share any of the key's stream."""
    return (0).to_bytes(4, "little") + partition.to_bytes(12, "little")
