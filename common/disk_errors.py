"""A full or read-only disk under any command, told as one line instead of a traceback.

The error can come from anywhere a command writes (our own files, DuckDB, Parquet, Dagster's
SQLite storage) and is often wrapped (Dagster's step errors, SQLAlchemy's): the chain of causes
is walked for the operating system's ``ENOSPC``/``EDQUOT``/``EROFS``, or the message SQLite and
DuckDB give for them. What the command was writing is written whole or not at all (temporary
files renamed into place, one transaction per load), so the next run after space is freed
completes it; the message says so. It names no path: the file names of a failed write can be
temporary names, and the folder is the network's.
"""

from __future__ import annotations

import errno

from dvnet.contracts.errors import DvnetError

FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
#: What SQLite (Dagster's embedded storage) and DuckDB say instead of an errno.
FULL_MESSAGES = ("database or disk is full", "no space left on device", "disk quota exceeded")
READ_ONLY_MESSAGES = ("read-only file system", "attempt to write a readonly database")
#: How far down a chain of wrapped errors to look.
DEPTH = 12


def _chain(e: BaseException):
    seen = 0
    while e is not None and seen < DEPTH:
        yield e
        e, seen = e.__cause__ or e.__context__, seen + 1


def disk_fault(e: BaseException) -> str | None:
    """``DISK_FULL`` or ``DISK_READ_ONLY`` when a cause of ``e`` is one, else None."""
    for cause in _chain(e):
        text = str(cause).lower()
        if (isinstance(cause, OSError) and cause.errno in FULL_ERRNOS) or any(m in text for m in FULL_MESSAGES):
            return "DISK_FULL"
        if (isinstance(cause, OSError) and cause.errno == errno.EROFS) or any(m in text for m in READ_ONLY_MESSAGES):
            return "DISK_READ_ONLY"
    return None


def disk_error(e: BaseException, command: str) -> DvnetError | None:
    """The one-line error of ``disk_fault``, for ``dvnet command``; None when it is not one (a bug)."""
    fault = disk_fault(e)
    if fault == "DISK_FULL":
        return DvnetError(fault, f"the disk ran full during `dvnet {command}`; nothing it was writing was kept half-written",
                          hint="free space on the disk holding the network folder (and TMPDIR), then run the command again")
    if fault == "DISK_READ_ONLY":
        return DvnetError(fault, f"a folder `dvnet {command}` writes to is on a read-only file system",
                          hint="mount the network folder read-write (or run on a machine where it is), then run the command again")
    return None
