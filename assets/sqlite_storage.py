"""The network's embedded Dagster storage: Dagster's SQLite storage, its event log keeping its connections.

Dagster's SQLite event log (``SqliteEventLogStorage``) makes a new SQLAlchemy engine, opens a new
connection and closes both for every statement it runs: storing one asset materialisation does it
four times (the run's file, then the cross-run index: the event, its tags, the asset's row), and
each new engine starts with an empty cache of compiled statements, so every insert is compiled
again. Measured on the benchmark's 50 bundles (``dvnet ingest``, 171 events): 13.6 ms an event,
2.3 s of the run (docs/architecture.md, "The event log keeps its connections").

``NetworkSqliteStorage`` is Dagster's own SQLite storage (the same files, tables and schema
stamps: an instance made by either opens with the other) with one change: its event log keeps one
engine for the index file and one for each of the last ``KEPT_RUN_SHARDS`` runs' files, each
holding its open connection between statements. Every rule of Dagster's stays: statements on one
store run one at a time under its lock, a run's file is made on its first use, and a long-lived
process (the webserver) keeps at most ``KEPT_RUN_SHARDS`` + 1 files open however many runs it
reads. A process forked from one holding connections drops them in the child (SQLite connections
must not cross a fork), and ``wipe`` lets go of the files before it deletes them.

Its commits wait for the disk once a run, not once a statement: every event-log file is in WAL mode
(Dagster makes it so), and on each kept connection to a file in WAL mode SQLite's ``synchronous`` is
``NORMAL``, SQLite's own advice for WAL: a commit is written to the WAL without waiting for the disk,
and the database stays consistent through a power loss. When a run ends (its success, failure or
cancellation stored), its file's WAL and the index's are flushed to the disk (``_flush``), so what
a power loss can take back is the latest events of a run still in progress, whose run Dagster's run
storage (untouched, every commit synced) keeps as started and the next dvnet command marks failed
(``run_owner``); a crash of the process itself loses nothing whatever the setting. The network's own
record (warehouse, receipts, quarantine, audit log) is synced by dvnet as before. Two commits of
each asset event (the run's file, the index) had waited about 1-2 ms each for the disk: on a
50-bundle ingest, 422 commits took 0.98 s against 0.17 s (cProfile of one `dvnet ingest`).

The network's dagster.yaml names it (``storage: custom``); PostgreSQL instances do not use it.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from dagster._core.events import DagsterEventType
from dagster._core.storage.base_storage import DagsterStorage
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    _event_logs_directory,
    _runs_directory,
    _schedule_directory,
)
from sqlalchemy import create_engine

#: Runs' event files kept open besides the index (the run being written and the ones read beside it).
KEPT_RUN_SHARDS = 4
#: The events after which a run's file and the index are flushed to the disk (``_flush``).
RUN_ENDS = frozenset({DagsterEventType.RUN_SUCCESS, DagsterEventType.RUN_FAILURE, DagsterEventType.RUN_CANCELED})

_storages: weakref.WeakSet = weakref.WeakSet()  # every kept-connections event log in this process


class KeptConnectionsEventLogStorage(SqliteEventLogStorage):
    """Dagster's run-sharded SQLite event log, one engine (and its open connection) kept per file."""

    def __init__(self, base_dir: str, inst_data=None):
        self._engines: OrderedDict[str, object] = OrderedDict()  # by shard, the least recently used first
        self._engines_lock = threading.Lock()
        self._tables_found: set[str] = set()
        super().__init__(base_dir, inst_data)
        _storages.add(self)

    def kept_files(self) -> list[str]:
        """The shards whose engines are kept, the least recently used first (the index included)."""
        with self._engines_lock:
            return list(self._engines)

    def _engine(self, shard: str):
        with self._engines_lock:
            engine = self._engines.pop(shard, None)
            if engine is None:
                # SQLAlchemy's pool for a SQLite file (a QueuePool, its connections usable from any
                # thread) keeping one connection open when a statement's block ends; a second one at
                # the same time (Dagster reads the schema inside a write) is closed when given back.
                engine = create_engine(self.conn_string_for_shard(shard), pool_size=1, max_overflow=2,
                                       connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
            self._engines[shard] = engine
            runs = [name for name in self._engines if name != INDEX_SHARD_NAME]
            for name in runs[: max(0, len(runs) - KEPT_RUN_SHARDS)]:
                self._engines.pop(name).dispose()  # a connection in use is closed when it is given back
            return engine

    @contextmanager
    def _kept_connection(self, shard: str) -> Iterator[object]:
        # As Dagster's own (the store's lock around the statement, the file made on first use),
        # but the engine and its connection outlive the block.
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn:
                _commit_without_waiting(conn)
                with conn.begin():
                    yield conn

    def store_event(self, event) -> None:
        super().store_event(event)
        if event.is_dagster_event and event.dagster_event_type in RUN_ENDS:
            self._flush(event.run_id)

    def _flush(self, run_id: str) -> None:
        """The run's file's and the index's committed events onto the disk (their WALs, and the
        folder that names them)."""
        for shard in (run_id, INDEX_SHARD_NAME):
            try:
                fd = os.open(self.path_for_shard(shard) + "-wal", os.O_RDONLY)
            except FileNotFoundError:  # nothing written since the last checkpoint
                continue
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fd = os.open(self._base_dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def run_connection(self, run_id: str | None = None):
        return self._kept_connection(run_id)

    def index_connection(self):
        return self._kept_connection(INDEX_SHARD_NAME)

    def has_table(self, table_name: str) -> bool:
        # Asked for every event's tags, inside the index's write, so not under the store's lock: a
        # second connection reads the schema beside the open write. A table found stays (Dagster's
        # migrations add tables and never drop one while an instance is open), so it is asked once.
        if table_name in self._tables_found:
            return True
        engine = self._engine(INDEX_SHARD_NAME)
        with engine.connect() as conn:
            found = bool(engine.dialect.has_table(conn, table_name))
        if found:
            self._tables_found.add(table_name)
        return found

    def forget_connections(self, *, close: bool = True) -> None:
        """Dispose every kept engine (``close=False`` in a forked child: the parent's connections
        are left to the parent)."""
        with self._engines_lock:
            engines, self._engines = list(self._engines.values()), OrderedDict()
        for engine in engines:
            engine.dispose(close=close)

    def wipe(self) -> None:
        self.forget_connections()  # no open connection to a file about to be deleted
        super().wipe()

    def dispose(self) -> None:
        super().dispose()
        self.forget_connections()


def _commit_without_waiting(conn) -> None:
    """``synchronous=NORMAL`` on a connection to a file in WAL mode, once (in the rollback-journal
    mode NORMAL could corrupt a file on a power loss, so such a file keeps FULL). Asked again until
    it is WAL: a connection opened while Dagster made the file sees the file's WAL mode only from
    its first transaction on."""
    info = conn.connection.info
    if info.get("dvnet_synchronous") == "NORMAL":
        return
    raw = conn.connection.dbapi_connection
    if str(raw.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
        raw.execute("PRAGMA synchronous=NORMAL")
        info["dvnet_synchronous"] = "NORMAL"


def _forget_in_child() -> None:
    for storage in list(_storages):
        storage.forget_connections(close=False)


os.register_at_fork(after_in_child=_forget_in_child)


class NetworkSqliteStorage(DagsterSqliteStorage):
    """Dagster's SQLite storage in ``base_dir`` (runs, event log, schedules, the same layout), its
    event log a ``KeptConnectionsEventLogStorage``."""

    def __init__(self, base_dir: str, inst_data=None):
        self.base_dir = base_dir
        self._run_storage = SqliteRunStorage.from_local(_runs_directory(base_dir))
        self._event_log_storage = KeptConnectionsEventLogStorage(_event_logs_directory(base_dir))
        self._schedule_storage = SqliteScheduleStorage.from_local(_schedule_directory(base_dir))
        self._inst_data = inst_data
        DagsterStorage.__init__(self)

    @classmethod
    def from_config_value(cls, inst_data, config_value):  # Dagster's names its own class
        return cls.from_local(inst_data=inst_data, **config_value)
