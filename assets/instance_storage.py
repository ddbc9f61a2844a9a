"""A network's embedded Dagster storage made whole or not at all.

Dagster creates its SQLite storage the first time an instance opens: ``history/runs.db``, the event
log's ``history/runs/index.db`` and ``schedules/schedules.db``, one table after the other, each
then stamped with its schema version. A process killed halfway (a first ``dvnet ingest`` stopped
by a power cut, SIGKILL, out of memory) leaves a file with some of its tables; Dagster opens it
the next time as an existing store and fails later, with a traceback, on the missing table
(``dynamic_partitions``: "run `dagster instance migrate`").

So dvnet makes the storage once, before any run, in a scratch folder inside the instance folder,
and moves each file into place (``os.replace``, atomic), then writes the ``READY`` marker. A
file already in place is kept when it holds every table the scratch one has and a schema stamp
(an instance made by an earlier dvnet, or a move done before a kill); anything else there is a
leftover of a killed start, moved aside to ``incomplete/`` (kept, never deleted) and replaced.
A PostgreSQL store is not handled here (dagster-postgres makes its tables in the database itself).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

from dvnet.common.files import atomic_write, private_dir

#: Written last: its presence means every storage file below is whole.
READY = ".dvnet-storage-ready"
#: The SQLite files Dagster creates when an instance opens (relative to the instance folder).
STORAGE_FILES = ("history/runs.db", "history/runs/index.db", "schedules/schedules.db")
#: Where a leftover of a killed start goes.
INCOMPLETE = "incomplete"
#: The scratch folder's name starts with this.
SCRATCH = ".storage-"
#: The files SQLite keeps beside a database (rollback journal, write-ahead log, its index).
SQLITE_COMPANIONS = ("-journal", "-wal", "-shm")


def ensure_storage(home: Path) -> None:
    """Make ``home``'s SQLite storage whole (idempotent; a no-op once ``READY`` exists)."""
    home = Path(home)
    if (home / READY).exists():
        return
    fd = os.open(home / ".dvnet-storage.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another dvnet command making the same storage: wait for it
        if not (home / READY).exists():
            _make(home)
    finally:
        os.close(fd)


def _make(home: Path) -> None:
    for stale in home.glob(f"{SCRATCH}*"):  # under the lock: left by a start killed while making it
        shutil.rmtree(stale, ignore_errors=True)
    scratch = Path(tempfile.mkdtemp(prefix=SCRATCH, dir=home))
    try:
        (scratch / "dagster.yaml").write_bytes((home / "dagster.yaml").read_bytes())
        _open_instance(scratch)
        for name in STORAGE_FILES:
            made, target = scratch / name, home / name
            if target.exists() and _whole(target, _tables(made)):
                continue
            if target.exists():
                stamp = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%f}-{name.replace('/', '_')}"
                for part in (target, *(Path(f"{target}{s}") for s in SQLITE_COMPANIONS)):
                    if part.exists():  # the journal goes with its file: never beside another one
                        os.replace(part, private_dir(home / INCOMPLETE) / f"{stamp}{part.name[len(target.name):]}")
            private_dir(target.parent)
            os.replace(made, target)
        atomic_write(home / READY, b"every storage file below was made whole before any run\n")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _open_instance(home: Path) -> None:
    """Open (and so create) the instance whose dagster.yaml is in ``home``, then close it."""
    from dagster import DagsterInstance

    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home)  # the template's base_dir reads it
    try:
        with DagsterInstance.get():
            pass
    finally:
        if previous is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = previous


def _tables(db: Path) -> set[str]:
    con = sqlite3.connect(db)  # read-write: a hot journal left by a killed writer is rolled back first
    try:
        return {name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        con.close()


def _whole(db: Path, expected: set[str]) -> bool:
    """Every expected table is there and the schema version was stamped (Dagster's last step)."""
    try:
        if not expected <= _tables(db):
            return False
        con = sqlite3.connect(db)
        try:
            return con.execute("SELECT count(*) FROM alembic_version").fetchone()[0] > 0
        finally:
            con.close()
    except sqlite3.Error:
        return False  # not a database at all (a file cut short at its first page)
