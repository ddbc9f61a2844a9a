"""The scaled profile's warehouse (issue 17): the intake's tables in a real PostgreSQL server,
written by several writers at once, and the warehouse file as DuckDB's copy of them.

What each test would catch: rows that change on the way in or out (an empty text read back as
NULL, a quote or a newline cut); two writers counting one agency × period twice, or a writer
waiting for another agency; a copy that keeps a superseded or destroyed bundle's rows, or misses
a new one; a file of one profile opened by the other; a bad configuration reaching the database.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import threading
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from fixtures_postgres import _bindir, _start, _stop

from dvnet.assets.intake.lib.ingest import CoordinatorContext, ingest_file
from dvnet.assets.warehouse.lib import schema
from dvnet.assets.warehouse.lib.postgres import WAREHOUSE_PG_URL_ENV, PgConnection, configured_url
from dvnet.assets.warehouse.lib.writes import append_rows
from dvnet.contracts.errors import DvnetError


@pytest.fixture(scope="module")
def server():
    folder = Path(tempfile.mkdtemp(prefix="dvnet-pg-"))
    bindir = _bindir()
    if bindir is None:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip("no initdb program (Debian package postgresql); `make test` installs it")
    running = _start(folder, bindir)
    yield running
    _stop(running)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def pg_url(server, request, monkeypatch) -> str:
    """A new database for the test, set as the warehouse (``DVNET_WAREHOUSE_PG_URL``)."""
    name = "w_" + request.node.name.lower().translate({ord(c): "_" for c in "[]-. "})[:50]
    server.create_database(name)
    url = server.dsn(name)
    monkeypatch.setenv(WAREHOUSE_PG_URL_ENV, url)
    return url


def _pg_rows(url: str, sql: str, params=None) -> list[tuple]:
    con = PgConnection(url)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def _ingest(kit, name: str, sealed, url: str):
    con = PgConnection(url)
    try:
        return ingest_file(kit.drop(name, sealed.blob), CoordinatorContext.load(kit.root), con)
    finally:
        con.close()


def test_rows_come_back_from_postgresql_as_they_went_in(pg_url):
    rows = pa.table({
        "text": pa.array(["plain", "", None, 'a "quote", a comma\nand a newline', "é ü 中"]),
        "flag": pa.array([True, False, None, True, False]),
        "number": pa.array([1, None, 0, -4, 2**40], pa.int64()),
        "day": pa.array([dt.date(2026, 1, 1), None, dt.date(2025, 12, 31), dt.date(2026, 3, 31), dt.date(2026, 6, 30)]),
    })  # fmt: skip
    con = PgConnection(pg_url)
    try:
        con.execute("BEGIN TRANSACTION")
        append_rows(con, "staged_roundtrip", {"bundle_id": "b1"}, rows)
        con.execute("COMMIT")
        back = con.sql("SELECT text, flag, number, day FROM staged_roundtrip WHERE bundle_id = ?", ["b1"]).to_arrow_table()
    finally:
        con.close()
    assert back.schema == rows.schema
    assert back.to_pylist() == rows.to_pylist()


def test_a_type_postgresql_has_no_column_for_is_refused(pg_url):
    con = PgConnection(pg_url)
    try:
        with pytest.raises(DvnetError) as refused:
            append_rows(con, "staged_lists", {"bundle_id": "b1"}, pa.table({"codes": pa.array([["a"]])}))
    finally:
        con.close()
    assert refused.value.reason == "WAREHOUSE_TYPE_UNSUPPORTED"


def test_list_contains_means_the_same_on_both_engines_and_postgresql_inlines_it(pg_url):
    """The SQL ingest and the checks share uses DuckDB's ``list_contains``; PostgreSQL's is made by
    dvnet. Same truth values (NULL for NULL), and inlined to ``= ANY`` so an index still serves it."""
    query = "SELECT list_contains(?::VARCHAR[], x) FROM (VALUES ('a', 1), ('b', 2), (NULL, 3)) AS t(x, i) ORDER BY i"
    con = PgConnection(pg_url)
    try:
        on_postgresql = [r[0] for r in con.execute(query, [["a", "c"]]).fetchall()]
        con.execute("CREATE TABLE staged_probe (bundle_id VARCHAR)")
        plan = "\n".join(r[0] for r in con.execute("EXPLAIN SELECT * FROM staged_probe WHERE list_contains(?::VARCHAR[], bundle_id)", [["b1"]]).fetchall())
    finally:
        con.close()
    on_duckdb = [r[0] for r in duckdb.connect().execute(query, [["a", "c"]]).fetchall()]
    assert on_postgresql == on_duckdb == [True, False, None]
    assert "= ANY" in plan and "list_contains" not in plan


SECRET = "Jane-Roe-1987"


def _traceback_text(error: BaseException) -> str:
    import traceback

    return "".join(traceback.format_exception(error))


def test_a_row_postgresql_rejects_on_the_way_in_is_never_quoted(pg_url):
    """A staged table whose column type the rows do not fit: PostgreSQL's own message quotes the
    CSV line it could not read; the error raised names the copy and the error's type only."""
    con = PgConnection(pg_url)
    try:
        con.execute("CREATE TABLE staged_drift (bundle_id VARCHAR, age INTEGER)")
        with pytest.raises(DvnetError) as refused:
            append_rows(con, "staged_drift", {"bundle_id": "b1"}, pa.table({"age": pa.array([SECRET])}))
    finally:
        con.close()
    assert refused.value.reason == "WAREHOUSE_COPY_FAILED"
    assert SECRET not in _traceback_text(refused.value)


def test_a_row_duckdb_cannot_read_on_the_way_out_is_never_quoted(pg_url, monkeypatch):
    """The CSV read typed by a column type that does not fit the text (fault injected in the type
    map): DuckDB's own message quotes the line; the error raised does not."""
    import dvnet.assets.warehouse.lib.postgres as postgres

    monkeypatch.setitem(postgres.PG_TO_DUCKDB, 25, "INTEGER")  # text read as INTEGER
    con = PgConnection(pg_url)
    try:
        with pytest.raises(DvnetError) as refused:
            con.sql("SELECT ?::TEXT AS name", [SECRET]).to_arrow_table()
    finally:
        con.close()
    assert refused.value.reason == "WAREHOUSE_COPY_FAILED"
    assert SECRET not in _traceback_text(refused.value)


def test_intake_loads_into_postgresql_and_the_file_copies_it_bundle_by_bundle(ck, kit, pg_url):
    first = kit.records("shelter-a", n=30, seed=1)
    other = kit.counts("legal-b", "referral", n=20, seed=2)
    assert _ingest(kit, "a", first, pg_url).outcome == "loaded"
    assert _ingest(kit, "b", other, pg_url).outcome == "loaded"
    assert _ingest(kit, "a-again", first, pg_url).outcome == "duplicate"
    assert _pg_rows(pg_url, "SELECT count(*) FROM staged_service_episode") == [(30,)]
    assert not kit.paths.warehouse.exists()  # intake never opened the file

    def copy_matches() -> None:
        with schema.connect(kit.paths.warehouse) as con:
            for table in ("ledger", "live_contributions", "quarantine_log", "staged_service_episode", "contribution_counts"):
                in_pg = _pg_rows(pg_url, f"SELECT count(*) FROM {table}")[0][0]
                assert con.execute(f"SELECT count(*) FROM {table}").fetchall() == [(in_pg,)], table
            pg_ids = sorted(_pg_rows(pg_url, "SELECT DISTINCT bundle_id FROM staged_service_episode"))
            assert sorted(con.execute("SELECT DISTINCT bundle_id FROM staged_service_episode").fetchall()) == pg_ids

    copy_matches()
    correction = kit.records("shelter-a", n=12, seed=3, supersedes=first.bundle_id)
    assert _ingest(kit, "a-fix", correction, pg_url).outcome == "loaded"
    copy_matches()  # the superseded bundle's rows left the copy, the correction's arrived
    with schema.connect(kit.paths.warehouse, read_only=True) as con:
        assert con.execute("SELECT DISTINCT bundle_id FROM staged_service_episode").fetchall() == [(correction.bundle_id,)]
        assert con.execute("SELECT count(*) FROM staged_service_episode").fetchall() == [(12,)]


def test_two_writers_never_count_one_period_twice_and_other_agencies_load_meanwhile(ck, kit, pg_url):
    a1 = kit.records("shelter-a", n=20, seed=4)
    a2 = kit.records("shelter-a", n=25, seed=5)  # the same agency × contract × period, no correction
    b = kit.counts("legal-b", "referral", n=15, seed=6)
    paths = [kit.drop("a1", a1.blob), kit.drop("a2", a2.blob), kit.drop("b", b.blob)]
    ctx = CoordinatorContext.load(kit.root)
    outcomes: dict[str, str] = {}
    start = threading.Barrier(len(paths))

    def write(path: Path) -> None:
        con = PgConnection(pg_url)
        try:
            start.wait()
            out = ingest_file(path, ctx, con)
            outcomes[path.stem] = out.reason or out.outcome
        finally:
            con.close()

    threads = [threading.Thread(target=write, args=(p,)) for p in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert outcomes["b"] == "loaded"
    # One of the two loads; the other is refused: by the live key if the lower sequence went
    # first, else by the replay ledger's sequence order (the agency's writers take turns).
    assert sorted([outcomes["a1"], outcomes["a2"]]) in (["PERIOD_ALREADY_LOADED", "loaded"], ["SEQUENCE_ROLLBACK", "loaded"])
    assert _pg_rows(pg_url, "SELECT agency_id, count(*) FROM live_contributions GROUP BY 1 ORDER BY 1") == [("legal-b", 1), ("shelter-a", 1)]
    assert _pg_rows(pg_url, "SELECT count(*) FROM staged_service_episode") == [(20 if outcomes["a1"] == "loaded" else 25,)]


def test_an_agency_waits_for_its_own_load_and_not_for_another_agency(pg_url):
    holder, other, same = PgConnection(pg_url), PgConnection(pg_url), PgConnection(pg_url)
    try:
        with holder.serial("agency:shelter-a"):
            got_other = threading.Event()
            got_same = threading.Event()

            def take(con, name, event):
                with con.serial(name):
                    event.set()

            t1 = threading.Thread(target=take, args=(other, "agency:legal-b", got_other))
            t2 = threading.Thread(target=take, args=(same, "agency:shelter-a", got_same))
            t1.start(), t2.start()
            assert got_other.wait(30)
            assert not got_same.wait(1.0)  # held: shelter-a's second writer waits
        assert got_same.wait(30)  # released: it goes on
        t1.join(), t2.join()
    finally:
        for con in (holder, other, same):
            con.close()


def test_a_file_of_one_profile_is_refused_by_the_other(ck, kit, pg_url, monkeypatch):
    embedded = kit.paths.warehouse.with_name("embedded.duckdb")
    monkeypatch.delenv(WAREHOUSE_PG_URL_ENV)
    with duckdb.connect(str(kit.paths.warehouse.parent / "embedded.duckdb")) as con:
        schema.ensure_schema(con)
        con.execute("INSERT INTO ledger VALUES ('b', 'shelter-a', 1, 'referral', 1, 'aggregate', '2026Q1', 1, 1, NULL, NULL, NULL, NULL, 'x', now())")
    monkeypatch.setenv(WAREHOUSE_PG_URL_ENV, pg_url)
    with pytest.raises(DvnetError) as refused:
        schema.connect(embedded)
    assert refused.value.reason == "WAREHOUSE_PROFILE_MISMATCH"  # the refresh would have deleted its contributions
    schema.connect(kit.paths.warehouse).close()  # a new file becomes the copy
    monkeypatch.delenv(WAREHOUSE_PG_URL_ENV)
    with pytest.raises(DvnetError) as refused:
        schema.connect(kit.paths.warehouse)
    assert refused.value.reason == "WAREHOUSE_PROFILE_MISMATCH"  # writes here would never reach PostgreSQL
    with duckdb.connect(str(embedded)) as con:
        assert con.execute("SELECT count(*) FROM ledger").fetchall() == [(1,)]


def test_a_bad_warehouse_url_is_a_usage_error_and_says_nothing_of_the_password(server):
    with pytest.raises(DvnetError) as refused:
        configured_url({WAREHOUSE_PG_URL_ENV: "mysql://user:s3cret@host/db"})
    assert refused.value.reason == "USAGE_WAREHOUSE_PG_URL_INVALID" and "s3cret" not in str(refused.value)
    assert configured_url({WAREHOUSE_PG_URL_ENV: "postgresql+psycopg2://u:p@h/d"}) == "postgresql://u:p@h/d"
    assert configured_url({}) is None
    closed = server.dsn("postgres").replace(f":{server.port}/", ":1/")
    with pytest.raises(DvnetError) as refused:
        PgConnection(closed)
    assert refused.value.reason == "WAREHOUSE_UNREACHABLE" and server.password not in str(refused.value)


def test_closing_an_agreement_destroys_its_rows_in_postgresql_and_in_the_copy(ck, kit, pg_url, server):
    from dvnet.assets.research.lib.extract import close

    ck.add_agency(kit, "uni-d", 4)
    for dsa in ("dsa-one", "dsa-two"):
        ck.add_agreement(kit, dsa, ["uni-d"])
    for name, project, seed in (("one", "dsa-one", 1), ("two", "dsa-two", 2)):
        sealed = kit.records("uni-d", "research_extract", n=12, seed=seed, details={"project": project})
        assert _ingest(kit, name, sealed, pg_url).outcome == "loaded"
    schema.connect(kit.paths.warehouse).close()  # the copy holds both projects' rows
    tokens = "SELECT s.episode_pseudonym FROM staged_research_extract s JOIN ledger l USING (bundle_id) WHERE l.project = ?"
    destroyed, kept = ([t for (t,) in _pg_rows(pg_url, tokens, [p])] for p in ("dsa-one", "dsa-two"))
    record = close(kit.root, "dsa-one", "retention end", ck.acting(kit.root, "dsa.close"))
    assert record["staged_rows_destroyed"] == 12 and len(record["bundles"]) == 1
    by_project = "SELECT l.project, count(*) FROM staged_research_extract s JOIN ledger l USING (bundle_id) GROUP BY 1 ORDER BY 1"
    assert _pg_rows(pg_url, by_project) == [("dsa-two", 12)]
    # The table's file on the server's disk: the kept rows are there as text, the destroyed ones
    # are not (a DELETE alone leaves them in the pages until VACUUM FULL rewrites the table).
    _pg_rows(pg_url, "CHECKPOINT; SELECT 1")  # the pages written out to the file
    (relation,) = _pg_rows(pg_url, "SELECT pg_relation_filepath('staged_research_extract')")[0]
    pages = (server.folder / "data" / relation).read_bytes()
    assert all(t.encode() in pages for t in kept) and not any(t.encode() in pages for t in destroyed)
    with duckdb.connect(str(kit.paths.warehouse), read_only=True) as con:
        assert con.execute(by_project).fetchall() == [("dsa-two", 12)]


# --- an embedded network moved into PostgreSQL (`dvnet warehouse move-to-postgres`) ----------------


def _embedded_intake(kit, monkeypatch, *named) -> None:
    """Bundles ingested into the warehouse file (the embedded profile: no URL set)."""
    url = os.environ[WAREHOUSE_PG_URL_ENV]
    monkeypatch.delenv(WAREHOUSE_PG_URL_ENV)
    with schema.connect(kit.paths.warehouse) as con:
        for name, blob in named:
            ingest_file(kit.drop(name, blob), CoordinatorContext.load(kit.root), con)
    monkeypatch.setenv(WAREHOUSE_PG_URL_ENV, url)


def _move(ck, kit) -> int:
    from dvnet.pipelines.cli import main

    return main(["warehouse", "move-to-postgres", "--network", str(kit.root), *ck.as_coordinator(kit.root)])


INTAKE_TABLES = ("ledger", "live_contributions", "quarantine_log", "contribution_counts", "staged_service_episode")


def test_an_embedded_warehouse_moves_into_postgresql_and_goes_on_as_the_scaled_profile(ck, kit, pg_url, monkeypatch):
    first = kit.records("shelter-a", n=30, seed=11)
    _embedded_intake(kit, monkeypatch, ("a", first.blob), ("b", kit.counts("legal-b", "referral", n=20, seed=12).blob),
                     ("bad", ck.signature_tampered(kit.records("shelter-a", n=5, seed=13).blob)))  # fmt: skip
    with duckdb.connect(str(kit.paths.warehouse), read_only=True) as con:
        before = {t: sorted(con.execute(f"SELECT * FROM {t}").fetchall(), key=str) for t in INTAKE_TABLES}
    assert before["quarantine_log"] and before["staged_service_episode"]

    assert _move(ck, kit) == 0
    for table in INTAKE_TABLES:  # every row, as it was in the file (arrival times included)
        assert sorted(_pg_rows(pg_url, f"SELECT * FROM {table}"), key=str) == before[table], table
    assert _move(ck, kit) == 0  # again: already moved, nothing changes
    assert _pg_rows(pg_url, "SELECT count(*) FROM ledger") == [(len(before["ledger"]),)]

    correction = kit.records("shelter-a", n=12, seed=14, supersedes=first.bundle_id)
    assert _ingest(kit, "a-fix", correction, pg_url).outcome == "loaded"  # intake now writes PostgreSQL
    with schema.connect(kit.paths.warehouse, read_only=True) as con:  # and the file follows it
        assert con.execute("SELECT DISTINCT bundle_id FROM staged_service_episode").fetchall() == [(correction.bundle_id,)]
    monkeypatch.delenv(WAREHOUSE_PG_URL_ENV)
    with pytest.raises(DvnetError) as refused:
        schema.connect(kit.paths.warehouse)
    assert refused.value.reason == "WAREHOUSE_PROFILE_MISMATCH"  # the file is the copy now


def test_a_move_cut_after_postgresql_committed_is_completed_by_the_next_run(ck, kit, pg_url, monkeypatch):
    from dvnet.assets.warehouse.lib import analytic_copy

    _embedded_intake(kit, monkeypatch, ("a", kit.records("shelter-a", n=20, seed=21).blob))
    before = ck.snapshot(kit.paths.warehouse)

    class Killed(Exception):
        """The process dies between PostgreSQL's commit and marking the file."""

    def crash(con):
        raise Killed

    with monkeypatch.context() as m:
        m.setattr(analytic_copy, "mark_copy", crash)
        with pytest.raises(Killed):
            _move(ck, kit)
    assert _pg_rows(pg_url, "SELECT count(*) FROM staged_service_episode") == [(20,)]  # committed
    assert _move(ck, kit) == 0  # recognised as this file's own rows: only the mark was missing
    assert _pg_rows(pg_url, "SELECT count(*) FROM staged_service_episode") == [(20,)]  # not copied twice
    assert ck.snapshot(kit.paths.warehouse)["staged_service_episode"] == before["staged_service_episode"]


def test_moving_into_a_database_that_holds_other_bundles_is_refused_and_changes_nothing(ck, kit, pg_url, monkeypatch, capsys):
    _embedded_intake(kit, monkeypatch, ("a", kit.records("shelter-a", n=20, seed=31).blob))
    assert _ingest(kit, "b", kit.counts("legal-b", "referral", n=10, seed=32), pg_url).outcome == "loaded"  # another network's, say
    before = ck.snapshot(kit.paths.warehouse)
    assert _move(ck, kit) == 2  # a configuration error
    assert "WAREHOUSE_TARGET_NOT_EMPTY" in capsys.readouterr().err
    assert _pg_rows(pg_url, "SELECT agency_id FROM ledger") == [("legal-b",)]  # nothing merged
    from dvnet.assets.warehouse.lib.identity import stamp_path

    assert not stamp_path(kit.paths.warehouse).exists()  # nor bound to it: the right database can still be given
    monkeypatch.delenv(WAREHOUSE_PG_URL_ENV)
    assert ck.snapshot(kit.paths.warehouse) == before  # still the embedded warehouse, unmarked
    schema.connect(kit.paths.warehouse).close()


def test_a_move_whose_two_sides_then_differ_is_refused(ck, kit, pg_url, monkeypatch, capsys):
    """The comparison after the move catches a copy that lost rows (fault injected: a refresh
    that drops one staged row from the file)."""
    from dvnet.assets.warehouse.lib import analytic_copy

    _embedded_intake(kit, monkeypatch, ("a", kit.records("shelter-a", n=20, seed=41).blob))

    def faulty_refresh(con, pg):
        con.execute("DELETE FROM staged_service_episode WHERE rowid = (SELECT min(rowid) FROM staged_service_episode)")

    monkeypatch.setattr(analytic_copy, "refresh", faulty_refresh)
    assert _move(ck, kit) == 1
    assert "WAREHOUSE_MOVE_INCOMPLETE" in capsys.readouterr().err


def test_moving_without_a_postgresql_warehouse_set_is_a_usage_error(ck, kit, monkeypatch, capsys):
    monkeypatch.delenv(WAREHOUSE_PG_URL_ENV, raising=False)
    assert _move(ck, kit) == 2
    assert "USAGE_WAREHOUSE_PG_URL_MISSING" in capsys.readouterr().err


def test_a_url_naming_another_database_is_refused_before_the_copy_or_that_database_changes(ck, kit, pg_url, server, monkeypatch):
    """A typo in DVNET_WAREHOUSE_PG_URL (or another network's environment file) once emptied the
    copy down to what the other database held and loaded new bundles there, where this network
    never looks again; now both sides carry one id and the other database is refused."""
    from dvnet.assets.warehouse.lib.identity import stamp_path

    first = kit.records("shelter-a", n=20, seed=41)
    assert _ingest(kit, "a", first, pg_url).outcome == "loaded"
    schema.connect(kit.paths.warehouse).close()  # the first opening binds the network to its database
    assert "claimed" in stamp_path(kit.paths.warehouse).read_text()
    before = ck.snapshot(kit.paths.warehouse)
    server.create_database("w_another_database")
    other = server.dsn("w_another_database")

    monkeypatch.setenv(WAREHOUSE_PG_URL_ENV, other)  # an empty database: the copy would be emptied
    with pytest.raises(DvnetError) as refused:
        schema.connect(kit.paths.warehouse)
    assert refused.value.reason == "WAREHOUSE_OTHER_DATABASE" and server.password not in str(refused.value)
    kit.drop("b", kit.counts("legal-b", "referral", n=10, seed=42).blob)
    out = ck.run_cli(["ingest", "--network", str(kit.root), "--dagster-home", str(ck.dagster_home(kit.root.parent)), *ck.as_coordinator(kit.root)],
                     env={WAREHOUSE_PG_URL_ENV: other})
    assert out.returncode == 2 and "WAREHOUSE_OTHER_DATABASE" in out.stderr and "Traceback" not in out.stderr, out.stderr[-3000:]
    assert _pg_rows(other, "SELECT count(*) FROM ledger") == [(0,)]  # nothing loaded where this network never looks
    assert ck.snapshot(kit.paths.warehouse) == before

    stamp = stamp_path(kit.paths.warehouse)  # the other way round: a network that never used the database
    ours = stamp.read_bytes()
    stamp.unlink()
    monkeypatch.setenv(WAREHOUSE_PG_URL_ENV, pg_url)
    with pytest.raises(DvnetError) as refused:
        schema.connect(kit.paths.warehouse)
    assert refused.value.reason == "WAREHOUSE_OTHER_DATABASE"
    stamp.write_bytes(ours)
    schema.connect(kit.paths.warehouse).close()  # its own database, as before
