"""The coordinator's DuckDB warehouse: ledger, quarantine log, staged rows and contribution counts.

Staged tables hold de-identified rows by (agency, period, bundle); ``contribution_counts`` holds
every contract's standard tables per bundle, whether the agency sent counts (aggregate mode) or
rows (record mode, counted here with the same definitions). Indicator cubes are sums over it.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from dvnet.assets.warehouse.lib import analytic_copy, identity, staged_files
from dvnet.assets.warehouse.lib.postgres import PgConnection, configured_url
from dvnet.assets.warehouse.lib.writes import serial, table_exists

from dvnet.anonymize.counts import all_dimensions
from dvnet.contracts.errors import DvnetError
from dvnet.contracts.registry import all_contracts
from dvnet.common.sql_text import sql_string
from dvnet.common.disk_errors import disk_fault

SCHEMA_VERSION = 1
WAREHOUSE_UNREADABLE = "WAREHOUSE_UNREADABLE"


def count_dimensions() -> list[str]:
    dims: list[str] = []
    for c in all_contracts():
        for d in all_dimensions(c):
            if d not in dims:
                dims.append(d)
    return dims


staged_table = staged_files.table_name


def ensure_schema(con) -> None:
    """Create the warehouse tables if missing (idempotent), on DuckDB or PostgreSQL (``PgConnection``)."""
    with serial(con, "schema"):  # two first runs making PostgreSQL's tables: one waits
        _ensure_tables(con)


def _ensure_tables(con) -> None:
    dims = ", ".join(f'"{d}" VARCHAR' for d in count_dimensions())
    con.execute(
        """
        CREATE TABLE IF NOT EXISTS ledger (
            bundle_id VARCHAR PRIMARY KEY, agency_id VARCHAR NOT NULL, sequence BIGINT NOT NULL,
            contract_id VARCHAR NOT NULL, contract_version INTEGER NOT NULL, mode VARCHAR NOT NULL,
            period VARCHAR NOT NULL, record_count BIGINT NOT NULL, rows_loaded BIGINT NOT NULL,
            records_sent BIGINT, supersedes VARCHAR, superseded_by VARCHAR, project VARCHAR,
            file_sha256 VARCHAR NOT NULL, received_at TIMESTAMPTZ NOT NULL)
        """
    )
    con.execute(
        """
        CREATE TABLE IF NOT EXISTS quarantine_log (
            file_name VARCHAR, file_sha256 VARCHAR, reason VARCHAR NOT NULL, message VARCHAR,
            agency_id VARCHAR, bundle_id VARCHAR, quarantined_at TIMESTAMPTZ NOT NULL)
        """
    )
    con.execute(
        f"""
        CREATE TABLE IF NOT EXISTS contribution_counts (
            bundle_id VARCHAR NOT NULL, agency_id VARCHAR NOT NULL, period VARCHAR NOT NULL,
            contract_id VARCHAR NOT NULL, table_name VARCHAR NOT NULL, {dims}, n BIGINT NOT NULL)
        """
    )
    # Loads committed whose audit line, receipt and archiving are not done yet (ingest's journal).
    con.execute("CREATE TABLE IF NOT EXISTS unfinished_loads (bundle_id VARCHAR PRIMARY KEY)")
    _ensure_live_contributions(con)
    if isinstance(con, PgConnection):  # deletes and the analytic copy find a bundle's rows by it
        con.execute("CREATE INDEX IF NOT EXISTS contribution_counts_bundle ON contribution_counts (bundle_id)")
    else:
        staged_files.ensure_registry(con)


#: The key one live contribution is unique on (DESIGN §8): agency × contract × period × project
#: ('' for a contract sent for no research project).
LIVE_KEY = ("agency_id", "contract_id", "period", "project")


def _ensure_live_contributions(con: duckdb.DuckDBPyConnection) -> None:
    """``live_contributions``: the bundle currently counted for each key. Its primary key makes
    "one live contribution per agency × contract × period (× project)" a property of the
    warehouse, whatever path writes to it: a second bundle for a key can only replace the first
    (an UPDATE, in the correction's transaction), never stand beside it. A warehouse made before
    the table existed gets it filled from the ledger's current bundles; one that already counts
    a key twice fails here (``ConstraintException``) rather than go on double counting."""
    if table_exists(con, "live_contributions"):
        return
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            "CREATE TABLE live_contributions (agency_id VARCHAR NOT NULL, contract_id VARCHAR NOT NULL, period VARCHAR NOT NULL, "
            "project VARCHAR NOT NULL, bundle_id VARCHAR NOT NULL, PRIMARY KEY (agency_id, contract_id, period, project))"
        )
        con.execute(
            "INSERT INTO live_contributions SELECT agency_id, contract_id, period, coalesce(project, ''), bundle_id "
            "FROM ledger WHERE superseded_by IS NULL"
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def exists(path) -> bool:
    """Whether the network has a warehouse yet: the file, or in the scaled profile PostgreSQL's
    (whose copy the file becomes when it is first opened)."""
    return configured_url() is not None or Path(path).is_file()


def connect(path, read_only: bool = False, config: dict | None = None) -> duckdb.DuckDBPyConnection:
    """The warehouse file, its tables made (read-write) and, in the scaled profile, brought up to
    PostgreSQL's intake tables first (``analytic_copy``). A read-only open of a warehouse copied,
    moved or restored here, whose staged views still name the old place's files, rebases them
    first. The caller holds the warehouse lock.

    A file DuckDB cannot open (damaged, not a DuckDB database, held by a program other than dvnet,
    not readable) is ``WAREHOUSE_UNREADABLE``, a configuration error naming what to do: every
    command that needs the warehouse stops there, before it reads or moves anything."""
    try:
        return _connect(path, read_only, config)
    except (duckdb.OutOfMemoryException, duckdb.InterruptException):
        raise  # the CLI's OUT_OF_MEMORY; an interrupt
    except duckdb.Error as e:
        if disk_fault(e):
            raise  # the machine's disk, not the file: the CLI's DISK_FULL / DISK_READ_ONLY (``common.disk_errors``)
        raise _unreadable(Path(path), e) from None


#: What DuckDB says when it cannot open a file, as words and what to do (its own message is never
#: shown: only these classes of it).
_OPEN_FAILURES = (
    (("Could not set lock",), "another program (not dvnet) has it open", "close that program (a DuckDB shell, a notebook) and run the command again"),
    (("Corrupt database file", "checksum"), "it is damaged", "restore the warehouse folder (the file and its .staged folder) from a backup"),
    (("not a valid DuckDB database",), "it is not a DuckDB database", "restore the warehouse folder (the file and its .staged folder) from a backup"),
    (("Permission denied",), "this user may not read or write it", "run the command as the coordinator's own user"),
)


def _unreadable(path: Path, e: duckdb.Error) -> DvnetError:
    text = str(e)
    why, hint = next(((why, hint) for needles, why, hint in _OPEN_FAILURES if any(n in text for n in needles)),
                     (f"DuckDB refused it ({type(e).__name__})", "restore the warehouse folder (the file and its .staged folder) from a backup"))  # fmt: skip
    return DvnetError(WAREHOUSE_UNREADABLE, f"the warehouse file {path.name} could not be opened: {why}; nothing was changed", hint=hint)


def _connect(path, read_only: bool, config: dict | None) -> duckdb.DuckDBPyConnection:
    url = configured_url()
    if read_only and not url:
        con = duckdb.connect(str(path), read_only=True, config=config or {})
        if not staged_files.reads_elsewhere(con):
            return con
        con.close()  # never opened for writing here: rebased below, then opened read-only again
    con = duckdb.connect(str(path), config=config or {})
    try:
        ensure_schema(con)
        analytic_copy.check_role(con, scaled=url is not None)
        if not analytic_copy.is_copy(con):
            staged_files.settle(con, [c.id for c in all_contracts()])
        if url:
            pg = open_postgres(url, path)
            try:
                analytic_copy.refresh(con, pg)
            finally:
                pg.close()
    except BaseException:
        con.close()
        raise
    if not read_only:
        return con
    con.close()
    return duckdb.connect(str(path), read_only=True, config=config or {})


def open_postgres(url: str, path) -> PgConnection:
    """A session on the network's PostgreSQL warehouse (``path`` is its warehouse file), its
    tables made, refused when the database is not this network's (``identity``)."""
    pg = PgConnection(url)
    try:
        ensure_schema(pg)
        identity.bind(pg, Path(path))
    except BaseException:
        pg.close()
        raise
    return pg


def rewrite_live_rows_only(path: Path) -> None:
    """Replace the database file with a fresh one holding only its live rows.

    DuckDB marks deleted rows and frees dropped blocks without overwriting them: after a DELETE,
    a CHECKPOINT, a table rebuilt and dropped or a VACUUM, the bytes of the rows stay in the file
    (tests/integration/central/test_warehouse_rewrite.py shows it). Destroying data therefore
    means copying the database into a new file and replacing the old one. Needs no other
    connection open on ``path``."""
    path = Path(path)
    fresh = path.with_name(f".{path.name}.rewrite")
    fresh.unlink(missing_ok=True)
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH {sql_string(path)} AS src (READ_ONLY)")
        con.execute(f"ATTACH {sql_string(fresh)} AS dst")
        con.execute("COPY FROM DATABASE src TO dst")
        con.execute("DETACH dst")
        con.execute("DETACH src")
    finally:
        con.close()
    os.chmod(fresh, os.stat(path).st_mode & 0o777)
    os.replace(fresh, path)
