"""The warehouse's one-writer lock: every dvnet process that opens the DuckDB file takes it first.

DuckDB lets one process at a time hold a database file open for writing (and no reader beside a
writer); a second process gets an ``IOException`` on its own file lock. So every dvnet command
and Dagster run that opens the warehouse (``dvnet ingest``, ``publish``, ``demo``, ``dsa close``,
``extract make``, runs launched in the UI or by the inbox sensor) first takes an exclusive OS lock
(``fcntl.flock``) on ``<warehouse>.lock`` beside it. A second one waits up to a bounded time,
told every ``NOTICE_EVERY`` seconds who holds it, then fails with ``WAREHOUSE_BUSY``. The OS
releases the lock when its holder exits, however it exits (a killed process leaves no stale lock).

Reentrant within one thread of one process: a command holds it for all its work and the Dagster
runs it executes in-process (whose resources take it again) go straight through.

Turns, not a race: a waiter registers in ``<warehouse>.lock.waiting/`` while it waits, and a holder
that lets go while someone else waits pauses (``GIVE_WAY`` seconds, longer than a waiter's poll)
before it can take the lock again. Without it a writer that releases and re-takes the lock
straight away (``dvnet ingest``'s batch, which lets go between agency × period groups once someone waits) would never let a polling
waiter in, and a sensor run or a publish would wait for the whole batch after all.
"""

from __future__ import annotations

import fcntl
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from dvnet.contracts.errors import DvnetError

#: Default bound of a wait for the lock (``--wait``): an ingest of a quarter's bundles takes minutes.
DEFAULT_WAIT = 600.0
#: Seconds between "still waiting" notices.
NOTICE_EVERY = 10.0
POLL = 0.2
#: How long a holder that lets go pauses when another process waits: more than one ``POLL``.
GIVE_WAY = 1.5 * POLL

_held: dict[tuple[str, int], int] = {}  # (lock path, thread id) -> depth


def lock_path(database: Path) -> Path:
    return Path(f"{database}.lock")


def holder(database: Path) -> str:
    """Who holds the lock, as its holder wrote it (pid and command); "" when unknown."""
    try:
        return lock_path(database).read_text(encoding="utf-8").strip()
    except OSError:
        return ""


@contextmanager
def warehouse_lock(database: Path, *, wait: float = DEFAULT_WAIT,
                   notice: Callable[[float, str], None] = lambda waited, by: None) -> Iterator[None]:
    """Hold the exclusive lock of ``database`` for the block. Waits up to ``wait`` seconds for
    another holder, calling ``notice(seconds waited, holder)`` at once and every ``NOTICE_EVERY``
    seconds; then raises ``WAREHOUSE_BUSY``."""
    path = lock_path(Path(database).resolve())
    key = (str(path), threading.get_ident())
    if _held.get(key):
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        _acquire(fd, Path(database), wait, notice)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()} ({_command()})\n".encode(), 0)
        _held[key] = 1
        try:
            yield
        finally:
            del _held[key]
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
            if others_waiting(database):
                time.sleep(GIVE_WAY)  # the waiter's turn: it takes the lock within one poll
    finally:
        os.close(fd)


def _waiting_dir(path: Path) -> Path:
    return Path(f"{path}.waiting")


def others_waiting(database: Path) -> bool:
    """Whether a live process other than this one is waiting for the lock of ``database`` (a waiter
    killed while it waited leaves its entry behind: its pid is no longer running, so it is ignored)."""
    try:
        names = os.listdir(_waiting_dir(lock_path(Path(database).resolve())))
    except FileNotFoundError:
        return False
    for name in names:
        pid = int(name.split(".")[0]) if name.split(".")[0].isdigit() else 0
        if pid and pid != os.getpid():
            try:
                os.kill(pid, 0)
                return True
            except ProcessLookupError:
                continue
            except PermissionError:
                return True
    return False


def stderr_notice(wait: float) -> Callable[[float, str], None]:
    """The waiter's notice on stderr (a terminal, a pipe, a Dagster run's captured stderr alike)."""

    def notice(waited: float, by: str) -> None:
        print(f"waiting for the warehouse: in use by {by} ({waited:.0f} s of at most {wait:g} s)", file=sys.stderr, flush=True)

    return notice


def _acquire(fd: int, database: Path, wait: float, notice: Callable[[float, str], None]) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        pass
    waiting = _waiting_dir(lock_path(Path(database).resolve()))
    os.makedirs(waiting, mode=0o700, exist_ok=True)
    entry = waiting / f"{os.getpid()}.{threading.get_ident()}"
    entry.touch(mode=0o600)  # seen by the holder when it lets go: it gives this process its turn
    try:
        _wait_for(fd, database, wait, notice)
    finally:
        entry.unlink(missing_ok=True)


def _wait_for(fd: int, database: Path, wait: float, notice: Callable[[float, str], None]) -> None:
    started = time.monotonic()
    next_notice = 0.0
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        waited = time.monotonic() - started
        by = holder(database) or "another process"
        if waited >= wait:
            raise DvnetError(
                "WAREHOUSE_BUSY", f"the warehouse is in use by {by}; waited {wait:g} s for it",
                hint="run the command again when that one has finished, or give it longer with --wait SECONDS",
            )
        if waited >= next_notice:
            notice(waited, by)
            next_notice += NOTICE_EVERY
        time.sleep(min(POLL, max(wait - waited, 0.0)))


def _command() -> str:
    """What holds the lock, for the waiter's message: ``dvnet <command>`` or the program's name."""
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    return f"dvnet {args[0]}" if args and ("dvnet" in name or name == "cli.py") else name
