"""The coordinator's Dagster instance on PostgreSQL (issue 17): ``DVNET_DAGSTER_PG_URL`` set, the
same intake job keeps its runs, event log and partitions in a real PostgreSQL server, and nothing
in SQLite files; an instance folder that keeps the other storage, or a URL without the installed driver, is refused."""

from __future__ import annotations

from dagster import DagsterEventType

from dvnet.assets.runs import PG_URL_ENV


def test_ingest_keeps_runs_and_events_in_postgresql_and_nothing_in_sqlite(ck, kit, postgres, tmp_path):
    kit.drop("a-episodes", kit.records("shelter-a", n=20, seed=1).blob)
    kit.drop("b-counts", kit.counts("legal-b", "referral", n=30, seed=2).blob)
    url = postgres.create_database("dagster")
    home = tmp_path / "dagster_home"  # a new instance folder: dvnet writes its dagster.yaml

    out = ck.run_cli(["ingest", "--network", str(kit.root), "--dagster-home", str(home), *ck.as_coordinator(kit.root)], env={PG_URL_ENV: url})

    assert out.returncode == 0, out.stderr[-3000:]
    # One process, two runs, on pooled connections: 70 sessions here, against 512 with
    # dagster-postgres's default of a new connection (a backend process and an authentication)
    # for every statement.
    sessions = postgres.query("SELECT sessions FROM pg_stat_database WHERE datname = 'dagster'")[0][0]
    assert sessions < 150, sessions
    assert "totals: 2 loaded, 0 duplicate, 0 quarantined" in out.stdout
    runs = postgres.query("SELECT pipeline_name, status FROM runs ORDER BY create_timestamp", db="dagster")
    assert runs == [("intake_batch", "SUCCESS")]  # the cubes rebuilt in its last turn
    intake = postgres.query("SELECT partition FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION' AND asset_key = %s ORDER BY 1",
                            db="dagster", params=('["intake"]',))
    assert intake == [(f"legal-b|{ck.PERIOD}",), (f"shelter-a|{ck.PERIOD}",)]
    events = dict(postgres.query("SELECT dagster_event_type, count(*) FROM event_logs GROUP BY 1", db="dagster"))
    assert events[DagsterEventType.RUN_SUCCESS.value] == 1
    cubes = postgres.query("SELECT count(*) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION' AND asset_key = %s",
                           db="dagster", params=('["service_indicator_cubes"]',))
    assert cubes == [(1,)]
    assert events[DagsterEventType.ASSET_MATERIALIZATION.value] >= 2 and events[DagsterEventType.ASSET_CHECK_EVALUATION.value] >= 2
    partitions = postgres.query("SELECT partition FROM dynamic_partitions WHERE partitions_def_name = 'agency' ORDER BY 1", db="dagster")
    assert partitions == [("legal-b",), ("shelter-a",)]
    # Nothing went to the embedded store, and the password stays in the environment.
    assert not [p for p in home.rglob("*") if p.suffix in {".db", ".sqlite"}]
    config = (home / "dagster.yaml").read_text()
    assert PG_URL_ENV in config and postgres.password not in config


def test_an_instance_folder_keeping_the_other_storage_is_refused(ck, kit, tmp_path):
    kit.drop("a", kit.records("shelter-a", n=5, seed=3).blob)
    sqlite_home = ck.dagster_home(tmp_path)  # the shipped dagster.yaml: SQLite
    pg_home = tmp_path / "pg_home"
    pg_home.mkdir()
    (pg_home / "dagster.yaml").write_text(f"storage:\n  postgres:\n    postgres_url:\n      env: {PG_URL_ENV}\n")
    ingest = ["ingest", "--network", str(kit.root), *ck.as_coordinator(kit.root)]

    cases = (
        (sqlite_home, "postgresql+psycopg2://dvnet:secret@127.0.0.1:1/dagster", "USAGE_DAGSTER_STORAGE_MISMATCH"),
        (pg_home, "", "USAGE_DAGSTER_STORAGE_MISMATCH"),
        # A bare postgresql:// is psycopg 3 to SQLAlchemy 2.1, which dagster-postgres does not install.
        (pg_home, "postgresql://dvnet:secret@127.0.0.1:1/dagster", "USAGE_DAGSTER_PG_URL_INVALID"),
    )
    for home, url, reason in cases:
        out = ck.run_cli([*ingest, "--dagster-home", str(home)], env={PG_URL_ENV: url})
        assert out.returncode == 2, out.stderr[-3000:]
        assert reason in out.stderr and "Traceback" not in out.stderr
        assert "secret" not in out.stderr
    assert list(kit.inbox.glob("*.dvb")), "nothing was ingested"


def test_an_instance_server_refusing_the_login_is_one_line_and_exit_2(ck, kit, postgres, tmp_path):
    """A wrong password (the same for a server down, a wrong host or database) is the deployer's
    configuration: one line naming the variable, never Dagster's traceback nor the password."""
    kit.drop("a", kit.records("shelter-a", n=5, seed=4).blob)
    wrong = postgres.create_database("dagster").replace(postgres.password, "not-the-password-x9")

    out = ck.run_cli(["ingest", "--network", str(kit.root), "--dagster-home", str(tmp_path / "pg_home"), *ck.as_coordinator(kit.root)],
                     env={PG_URL_ENV: wrong})

    assert out.returncode == 2, out.stderr[-3000:]
    assert "DAGSTER_UNREACHABLE" in out.stderr and "Traceback" not in out.stderr
    assert "not-the-password-x9" not in out.stderr + out.stdout
    assert list(kit.inbox.glob("*.dvb")), "nothing was ingested"


def test_another_networks_instance_database_is_refused_before_any_run(ck, kit, postgres, tmp_path):
    """DVNET_DAGSTER_PG_URL copied from another network's environment file once put both
    networks' runs, partitions and agencies in one instance; the database now keeps the id of
    the network that first used it, and the instance folder the same."""
    url = postgres.create_database("dagster")
    ingest = ["ingest", "--network", str(kit.root), *ck.as_coordinator(kit.root)]
    kit.drop("a", kit.records("shelter-a", n=5, seed=5).blob)
    first = ck.run_cli([*ingest, "--dagster-home", str(tmp_path / "first")], env={PG_URL_ENV: url})
    assert first.returncode == 0, first.stderr[-3000:]
    runs = postgres.query("SELECT count(*) FROM runs", db="dagster")

    kit.drop("b", kit.counts("legal-b", "referral", n=10, seed=6).blob)
    other = ck.run_cli([*ingest, "--dagster-home", str(tmp_path / "other")], env={PG_URL_ENV: url})  # an instance folder that never used it

    assert other.returncode == 2, other.stderr[-3000:]
    assert other.stderr.startswith("error: DAGSTER_OTHER_DATABASE: ") and postgres.password not in other.stderr
    assert postgres.query("SELECT count(*) FROM runs", db="dagster") == runs  # no run started there
    assert list(kit.inbox.glob("*.dvb")), "b waits in the inbox"
