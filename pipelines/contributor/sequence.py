"""The agency's bundle sequence number: strictly increasing, advanced atomically.

The number is persisted *before* a bundle is sealed with it, under an exclusive lock, so two runs
never share a number and a crash can only leave a gap (the coordinator accepts gaps, never
repeats or rollbacks).
"""

from __future__ import annotations

import fcntl
from pathlib import Path

from dvnet.common.files import atomic_write


def current(path: Path) -> int:
    path = Path(path)
    return int(path.read_text().strip() or 0) if path.exists() else 0


def advance(path: Path) -> int:
    """Reserve and return the next sequence number."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with (path.parent / ".sequence.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        nxt = current(path) + 1
        atomic_write(path, f"{nxt}\n".encode())
    return nxt
