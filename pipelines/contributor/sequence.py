"""The agency's bundle sequence number: strictly increasing, taken only by a sealed bundle.

``reserve`` holds an exclusive lock while the caller seals: the number is persisted only when the
sealing step succeeds, and before the bundle file is written, so a refused or failed run never
uses up a number, two runs never share one, and a crash after sealing can only leave a gap (the
coordinator accepts gaps, never repeats or rollbacks).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dvnet.common.files import PRIVATE_FILE, atomic_write, private_dir


def current(path: Path) -> int:
    path = Path(path)
    return int(path.read_text().strip() or 0) if path.exists() else 0


@contextmanager
def reserve(path: Path) -> Iterator[int]:
    """The next sequence number, persisted when the ``with`` block ends without an exception."""
    path = Path(path)
    private_dir(path.parent)
    with os.fdopen(os.open(path.parent / ".sequence.lock", os.O_RDWR | os.O_CREAT, PRIVATE_FILE), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        nxt = current(path) + 1
        yield nxt
        atomic_write(path, f"{nxt}\n".encode())
