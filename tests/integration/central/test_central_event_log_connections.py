"""A network's Dagster event log keeps its connections (``assets/sqlite_storage.py``).

Dagster's SQLite event log opened a new engine and connection for every statement: four for each
asset materialisation, 2.3 s of a 50-bundle ingest. The network's instance (made from the shipped
dagster.yaml) opens each file once; Dagster's own storage, beside it, is the measure's contrast.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from dagster import AssetKey, AssetMaterialization, DagsterInstance, job, op
from sqlalchemy import event
from sqlalchemy.engine import Engine

from dvnet.assets.runs import dagster_home_for, instance_yaml
from dvnet.assets.sqlite_storage import KEPT_RUN_SHARDS, KeptConnectionsEventLogStorage
from dvnet.common.files import private_dir

EVENTS = 60
PLAIN_SQLITE = "storage:\n  sqlite:\n    base_dir:\n      env: DAGSTER_HOME\n"  # as dvnet wrote it until 2026-12-07


@op
def materialise_many(context):
    for i in range(EVENTS):
        context.log_event(AssetMaterialization(asset_key=AssetKey(["many", f"k{i}"])))


@job
def many_events():
    materialise_many()


def _home(tmp_path: Path, yaml_text: str) -> Path:
    home = private_dir(tmp_path / "dagster")
    (home / "dagster.yaml").write_text(yaml_text, encoding="utf-8")
    return home


@pytest.fixture
def connections():
    """The files of every DBAPI connection any SQLAlchemy engine opens while the test runs."""
    opened: list[str] = []

    def count(dbapi_connection, record):
        opened.append(dbapi_connection.execute("PRAGMA database_list").fetchone()[2])

    event.listen(Engine, "connect", count)
    yield opened
    event.remove(Engine, "connect", count)


def _materialised(instance) -> int:
    return sum(instance.get_latest_materialization_event(AssetKey(["many", f"k{i}"])) is not None for i in range(EVENTS))


def _db_files_open(folder: str) -> set[str]:
    """The database files under ``folder`` this process holds open (a deleted one named so)."""
    names = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(folder) and target.removesuffix(" (deleted)").endswith(".db"):
            names.add(target[len(folder):])
    return names


@pytest.mark.parametrize("storage", ["network", "dagster_plain"])
def test_a_runs_events_are_stored_through_a_few_kept_connections(storage, tmp_path, monkeypatch, connections):
    yaml_text = instance_yaml("sqlite", {}) if storage == "network" else PLAIN_SQLITE
    monkeypatch.setenv("DAGSTER_HOME", str(_home(tmp_path, yaml_text)))
    with DagsterInstance.get() as instance:
        before = len(connections)
        assert many_events.execute_in_process(instance=instance).success
        events_dir = os.path.join(os.environ["DAGSTER_HOME"], "history", "runs", "")
        opened = len([f for f in connections[before:] if f.startswith(events_dir)])  # the event log's files
        assert _materialised(instance) == EVENTS  # every event stored and read back
        if storage == "network":
            assert isinstance(instance.event_log_storage, KeptConnectionsEventLogStorage)
            assert opened <= 4, opened  # the run's file and the index (and one beside an index write)
        else:
            assert opened > 2 * EVENTS, opened  # the contrast: Dagster's own opens one per statement


def test_a_long_lived_process_keeps_only_the_last_runs_files_open(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(_home(tmp_path, instance_yaml("sqlite", {}))))
    with DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        runs = [many_events.execute_in_process(instance=instance).run_id for _ in range(KEPT_RUN_SHARDS + 3)]
        kept = storage.kept_files()
        assert "index" in kept and len(kept) == KEPT_RUN_SHARDS + 1
        assert kept[-KEPT_RUN_SHARDS:] != runs[:KEPT_RUN_SHARDS]  # the oldest runs' files were let go
        assert set(kept) - {"index"} <= set(runs[-KEPT_RUN_SHARDS - 1:])
        events_dir = os.path.join(os.environ["DAGSTER_HOME"], "history", "runs", "")
        assert _db_files_open(events_dir) == {f"{shard}.db" for shard in kept}
        for run_id in runs:  # a file let go opens again when read
            assert len(instance.all_logs(run_id)) > EVENTS
        assert _materialised(instance) == EVENTS

        storage.wipe()  # deleting the runs' files lets go of them first (the index is emptied, not deleted)
        assert storage.kept_files() == ["index"]
        assert _db_files_open(events_dir) == {"index.db"}  # no run's file held open after its deletion
        assert many_events.execute_in_process(instance=instance).success
        assert _materialised(instance) == EVENTS
    assert _db_files_open(events_dir) == set()  # closed with the instance


def test_the_network_storage_and_dagsters_own_read_each_others_history(tmp_path, monkeypatch):
    home = _home(tmp_path, PLAIN_SQLITE)  # a network made before this storage existed
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with DagsterInstance.get() as instance:
        first = many_events.execute_in_process(instance=instance).run_id
    (home / "dagster.yaml").write_text(instance_yaml("sqlite", {}), encoding="utf-8")
    with DagsterInstance.get() as instance:
        assert isinstance(instance.event_log_storage, KeptConnectionsEventLogStorage)
        assert len(instance.all_logs(first)) > EVENTS and _materialised(instance) == EVENTS
        second = many_events.execute_in_process(instance=instance).run_id
    (home / "dagster.yaml").write_text(PLAIN_SQLITE, encoding="utf-8")
    with DagsterInstance.get() as instance:
        assert {r.run_id for r in instance.get_runs()} == {first, second}
        assert len(instance.all_logs(second)) > EVENTS


def test_a_forked_child_opens_its_own_connections(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(_home(tmp_path, instance_yaml("sqlite", {}))))
    with DagsterInstance.get() as instance:
        first = many_events.execute_in_process(instance=instance).run_id
        assert instance.event_log_storage.kept_files()
        pid = os.fork()
        if pid == 0:  # the child: none of the parent's connections, its own work complete
            code = 1
            try:
                if instance.event_log_storage.kept_files() == [] and len(instance.all_logs(first)) > EVENTS:
                    code = 0 if many_events.execute_in_process(instance=instance).success else 3
                else:
                    code = 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert many_events.execute_in_process(instance=instance).success  # the parent's connections still work
        assert len(instance.get_runs()) == 3


def test_an_instance_made_before_gets_the_kept_connections_and_keeps_its_history(tmp_path, monkeypatch):
    network = tmp_path / "net"
    home = _home(network / "coordinator", instance_yaml("sqlite", {}).replace(_template_block(), "\n" + PLAIN_SQLITE))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with DagsterInstance.get() as instance:  # as dvnet wrote it before: Dagster's own storage
        assert not isinstance(instance.event_log_storage, KeptConnectionsEventLogStorage)
        first = many_events.execute_in_process(instance=instance).run_id

    assert dagster_home_for(network, None, {}) == home
    assert (home / "dagster.yaml").read_text(encoding="utf-8") == instance_yaml("sqlite", {})
    with DagsterInstance.get() as instance:
        assert isinstance(instance.event_log_storage, KeptConnectionsEventLogStorage)
        assert len(instance.all_logs(first)) > EVENTS


def test_a_storage_block_someone_changed_is_left_as_it_is(tmp_path):
    network = tmp_path / "net"  # Dagster's plain storage kept on purpose, written another way
    changed = instance_yaml("sqlite", {}).replace(_template_block(), "\nstorage:\n  sqlite: {base_dir: {env: DAGSTER_HOME}}\n")
    home = _home(network / "coordinator", changed)
    dagster_home_for(network, None, {})
    assert (home / "dagster.yaml").read_text(encoding="utf-8") == changed


def _template_block() -> str:
    text = instance_yaml("sqlite", {})
    start = text.index("\nstorage:\n")
    return text[start: text.index("\n\n", start) + 1]


def _synchronous(engine) -> int:
    with engine.connect() as conn:  # the kept connection (one a file)
        return conn.exec_driver_sql("PRAGMA synchronous").scalar()


def test_commits_do_not_wait_for_the_disk_and_a_run_ends_on_it(tmp_path, monkeypatch):
    """Every kept connection to an event-log file (in WAL mode) commits with synchronous=NORMAL
    (1: no wait for the disk a statement); when the run ends, its file's WAL, the index's WAL and
    their folder are flushed to the disk."""
    from dvnet.assets import sqlite_storage

    monkeypatch.setenv("DAGSTER_HOME", str(_home(tmp_path, instance_yaml("sqlite", {}))))
    flushed: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        flushed.append(os.readlink(f"/proc/self/fd/{fd}"))
        return real_fsync(fd)

    monkeypatch.setattr(sqlite_storage.os, "fsync", recording_fsync)
    with DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        run_id = many_events.execute_in_process(instance=instance).run_id
        assert _materialised(instance) == EVENTS
        events_dir = os.path.join(os.environ["DAGSTER_HOME"], "history", "runs")
        for shard in (run_id, "index"):
            engine = storage._engines[shard]
            with engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert _synchronous(engine) == 1, shard
        # once, at the run's end (not a flush an event): the two WALs, then the folder naming them
        assert flushed == [os.path.join(events_dir, f"{run_id}.db-wal"), os.path.join(events_dir, "index.db-wal"), events_dir]


@pytest.mark.parametrize(("journal", "expected"), [("DELETE", 2), ("WAL", 1)])
def test_a_file_not_in_wal_mode_keeps_waiting_for_the_disk(journal, expected, tmp_path):
    """NORMAL is safe only in WAL mode: a rollback-journal file keeps FULL (2), a WAL file gets NORMAL (1)."""
    from sqlalchemy import create_engine

    from dvnet.assets.sqlite_storage import _commit_without_waiting

    engine = create_engine(f"sqlite:///{tmp_path / 'events.db'}", pool_size=1)
    with engine.connect() as conn:
        conn.exec_driver_sql(f"PRAGMA journal_mode={journal}")
        _commit_without_waiting(conn)
    assert _synchronous(engine) == expected
    engine.dispose()
