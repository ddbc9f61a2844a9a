"""A network's Dagster storage is made whole before any run (``assets/instance_storage.py``).

Found by the random-kill suite on a loaded CI machine: a first ``dvnet ingest`` killed while Dagster
was creating its SQLite tables left an event-log index without ``dynamic_partitions``; every later
ingest then died with a traceback ("run `dagster instance migrate`") and the inbox stayed full.
"""

from __future__ import annotations

import sqlite3

from dagster import DagsterInstance, RunsFilter

from dvnet.assets.instance_storage import INCOMPLETE, READY, STORAGE_FILES
from dvnet.assets.runs import instance_yaml
from dvnet.common.files import private_dir


def _ingest(ck, kit):
    out = ck.run_cli(["ingest", "--network", str(kit.root), *ck.as_coordinator(kit.root)])
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def _runs(home, monkeypatch) -> int:
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with DagsterInstance.from_config(str(home)) as instance:
        return len(instance.get_runs(filters=RunsFilter(job_name="intake_batch")))


def test_a_store_cut_short_by_a_kill_is_set_aside_and_the_next_ingest_completes(ck, tmp_path, monkeypatch):
    kit = ck.make_network(tmp_path / "net")
    kit.drop("a", kit.records("shelter-a", n=20, seed=1).blob)
    home = private_dir(kit.root / "coordinator" / "dagster")
    (home / "dagster.yaml").write_text(instance_yaml("sqlite", {}), encoding="utf-8")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with DagsterInstance.get():
        pass  # Dagster makes its tables one after the other and stamps the version last:
    index = home / "history" / "runs" / "index.db"
    con = sqlite3.connect(index)  # ... what a kill between two of them leaves (open: its log stays beside it)
    with con:
        con.execute("DROP TABLE dynamic_partitions")
        con.execute("DELETE FROM alembic_version")
    monkeypatch.delenv("DAGSTER_HOME")

    _ingest(ck, kit)
    assert not list(kit.inbox.glob("*.dvb"))
    assert (home / READY).exists()
    con.close()
    aside = sorted(p.name.split("-", 1)[1] for p in (home / INCOMPLETE).iterdir())  # kept, not deleted
    assert aside == ["history_runs_index.db", "history_runs_index.db-shm", "history_runs_index.db-wal"]  # the log went with it
    assert not [p for p in index.parent.iterdir() if p.name.startswith("index.db-")]  # none left beside the new file
    con = sqlite3.connect(index)
    assert con.execute("SELECT count(*) FROM dynamic_partitions").fetchone()[0] > 0
    con.close()
    assert _runs(home, monkeypatch) == 1


def test_a_whole_store_made_before_the_marker_existed_is_kept(ck, tmp_path, monkeypatch):
    kit = ck.make_network(tmp_path / "net")
    kit.drop("a", kit.records("shelter-a", n=20, seed=1).blob)
    _ingest(ck, kit)
    home = kit.root / "coordinator" / "dagster"
    assert all((home / name).is_file() for name in STORAGE_FILES)
    (home / READY).unlink()  # an instance made by an earlier dvnet: whole, no marker
    kit.drop("b", kit.counts("shelter-a", "referral", n=20, seed=2).blob)
    _ingest(ck, kit)
    assert (home / READY).exists()
    assert not (home / INCOMPLETE).exists()
    assert _runs(home, monkeypatch) == 2  # the first run's history is still there
