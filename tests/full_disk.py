"""A disk that fills up, for the scratch files' writes (``anonymize.scratch._pwrite``)."""

from __future__ import annotations

import errno
import os


class FullDisk:
    """``os.pwrite`` with ``room`` bytes left: a write that does not fit writes what fits (as a
    real one does), and once nothing fits, every write fails with ENOSPC."""

    def __init__(self, room: int) -> None:
        self.room = room

    def __call__(self, fd: int, data, offset: int) -> int:
        if self.room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = min(len(data), self.room)
        self.room -= n
        return os.pwrite(fd, bytes(data)[:n], offset)
