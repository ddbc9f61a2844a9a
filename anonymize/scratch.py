"""What a contribution keeps on disk while it runs: encrypted files in a private folder.

A large extract's by-products (its keys' hashes until repeats are found, its pseudonyms until
the payload is written) would make the contributor's memory grow with the extract; past a few
megabytes they go to files instead. Those files hold functions of the agency's data, so each is
encrypted (ChaCha20) under a key only this process holds and never writes, in an owner-only
folder (0700, files 0600) that is deleted when closed or collected: a killed run leaves
ciphertext only, under a key that died with it.

``ScratchFolder.file()`` makes an append-only ``EncryptedFile`` (its own nonce under the folder's
key, so no two files share keystream); any range of it can be read back (ChaCha20 is a stream
cipher with a block counter, so a read starts at the 64-byte block holding its first byte).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

_CHACHA_BLOCK = 64
_pwrite = os.pwrite  # where a test fills the disk


def memory_backed(path: str, mountinfo: str | None = None) -> bool:
    """Whether ``path`` lies on a file system held in memory (tmpfs, ramfs: ``/tmp`` on Debian 13
    and Fedora), from ``/proc/self/mountinfo`` (Linux; elsewhere, or unreadable: False)."""
    if mountinfo is None:
        try:
            with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
                mountinfo = f.read()
        except OSError:
            return False
    path = os.path.realpath(path)
    best, kind = "", ""
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        fields = left.split()
        if len(fields) < 5 or not right:
            continue
        point = fields[4].replace("\\040", " ")
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, right.split()[0]
    return kind in ("tmpfs", "ramfs")


class ScratchFolder:
    """A private temporary folder whose files are encrypted under one key of this process, in
    ``parent`` (default: the system's temporary folder). Making one raises ``OSError`` where no
    such folder can be made (callers then keep things in memory)."""

    def __init__(self, prefix: str, parent: str | None = None) -> None:
        self.path = tempfile.mkdtemp(prefix=prefix, dir=parent)  # 0700
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.path, ignore_errors=True)
        self._key = os.urandom(32)
        self._files = 0

    def file(self) -> EncryptedFile:
        number, self._files = self._files, self._files + 1
        return EncryptedFile(os.path.join(self.path, f"{number:03d}"), self._key, number)

    def close(self) -> None:
        """Delete the folder and everything in it (its files' descriptors close as they are collected)."""
        self._cleanup()


class EncryptedFile:
    """An owner-only file written at its end (``append``) and read at any range (``read``), in
    ChaCha20 under ``key`` with ``number`` as the nonce."""

    def __init__(self, path: str, key: bytes, number: int) -> None:
        self._fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        self._closer = weakref.finalize(self, os.close, self._fd)
        self._key, self._nonce = key, number.to_bytes(12, "little")
        self._encryptor = self._cipher(0).encryptor()
        self.size = 0

    def _cipher(self, block: int) -> Cipher:
        # pyca's ChaCha20 takes 16 bytes: the block counter (4, little-endian), then the nonce.
        return Cipher(algorithms.ChaCha20(self._key, block.to_bytes(4, "little") + self._nonce), mode=None)

    def append(self, data: bytes | bytearray | memoryview) -> None:
        """Write ``data`` at the end, all of it or (``OSError``: the disk is full, …) none of it."""
        view = memoryview(self._encryptor.update(data))
        end = self.size
        try:
            while view.nbytes:
                written = _pwrite(self._fd, view, end)
                end += written
                view = view[written:]
        except OSError:
            os.ftruncate(self._fd, self.size)
            self._encryptor = self._cipher(self.size // _CHACHA_BLOCK).encryptor()  # the keystream back at the end
            self._encryptor.update(bytes(self.size % _CHACHA_BLOCK))
            raise
        self.size = end

    def read(self, start: int = 0, stop: int | None = None) -> bytes:
        """The plaintext bytes ``start`` to ``stop`` (default: to the end)."""
        stop = self.size if stop is None else min(stop, self.size)
        if start >= stop:
            return b""
        first = start - start % _CHACHA_BLOCK
        raw = bytearray()
        while len(raw) < stop - first:
            piece = os.pread(self._fd, stop - first - len(raw), first + len(raw))
            if not piece:
                raise OSError("a scratch file is shorter than what was written to it")
            raw += piece
        return self._cipher(first // _CHACHA_BLOCK).decryptor().update(bytes(raw))[start - first :]

    def close(self) -> None:
        self._closer()
        self._fd = -1  # a read or append after this fails (EBADF) instead of reaching a reused descriptor


class SpillingBuffer:
    """Bytes appended at the end and read back by range (``extend``, ``len``, ``read``): held in
    memory up to ``memory`` bytes, then moved to an ``EncryptedFile`` that takes the rest. Where
    no private folder can be made, or the disk fills up, they stay in (or come back to) memory:
    the same bytes, more memory."""

    #: Bytes held in memory before the buffer goes to disk. Small, so that a contribution's memory
    #: is the same from a million rows to ten: at 16 MiB the buffers of a large extract (a
    #: contribution has four or five) held up to 80 MiB that a million rows' did not fill.
    MEMORY = 4 << 20

    def __init__(self, prefix: str, memory: int | None = None, parent: str | None = None) -> None:
        self._prefix, self._parent = prefix, parent
        self._memory = self.MEMORY if memory is None else memory
        self._held = bytearray()
        self._folder: ScratchFolder | None = None
        self._file: EncryptedFile | None = None
        self._in_memory = False  # the disk could not be used
        self._closed = False

    @property
    def spilled(self) -> bool:
        return self._file is not None

    def __len__(self) -> int:
        return self._file.size if self._file is not None else len(self._held)

    def extend(self, data: bytes | bytearray | memoryview) -> None:
        self._check_open()
        if self._file is not None:
            try:
                self._file.append(data)
            except OSError:  # the disk filled up: what is there comes back, and the rest stays in memory
                self._held = bytearray(self._file.read())
                self._held += data
                self._in_memory = True
                self._file.close()
                self._folder.close()
                self._file = self._folder = None
            return
        self._held += data
        if len(self._held) >= self._memory and not self._in_memory:
            try:
                self._folder = ScratchFolder(self._prefix, self._parent)
                self._file = self._folder.file()
            except OSError:  # no private folder can be made here (no temporary folder, no room): hold them
                if self._folder is not None:
                    self._folder.close()
                self._folder, self._in_memory = None, True
                return
            held, self._held = self._held, bytearray()
            self.extend(held)

    def read(self, start: int, stop: int) -> bytes:
        self._check_open()
        if self._file is not None:
            return self._file.read(start, stop)
        return bytes(self._held[start:stop])

    def close(self) -> None:
        """Let go of the bytes (and delete the file, if any); nothing can be read or added after."""
        self._held = bytearray()
        self._in_memory = True
        if self._folder is not None:
            self._file.close()
            self._folder.close()
            self._folder = None
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("this buffer was closed")
