"""The scaled profile's warehouse file: DuckDB's copy of the intake tables PostgreSQL holds.

Intake runs write PostgreSQL (``postgres.py``), many at a time. Cubes, releases, research
extracts and the review read DuckDB: each opens the warehouse file through ``schema.open_warehouse``,
which first brings the file up to PostgreSQL's state, in one DuckDB transaction over one
PostgreSQL snapshot (``REPEATABLE READ``), so what they read is one consistent moment of the
intake. The file keeps what only one writer ever writes (the cubes, the release ledger).

Small tables (one row per bundle or per refusal) are copied whole. Bulk tables (contribution
counts, staged rows) move by bundle: a bundle's rows are written once and only ever deleted whole
(a correction supersedes it, a closed agreement destroys it), so a bundle whose row count differs
between the two sides is deleted from the copy and, if PostgreSQL still holds it, copied again.

The file says what it is (``warehouse_role``): a copy refuses to be opened by the embedded profile
(it would take writes PostgreSQL never sees), and a file holding the embedded profile's
contributions refuses to become a copy (the refresh would delete them), each with
``WAREHOUSE_PROFILE_MISMATCH``.
"""

from __future__ import annotations

import duckdb

from dvnet.assets.warehouse.lib.postgres import PgConnection, WarehouseConfigError
from dvnet.assets.warehouse.lib.writes import table_exists

ROLE_TABLE = "warehouse_role"
COPY_ROLE = "copy of the PostgreSQL warehouse"
#: Copied whole on each refresh.
SMALL_TABLES = ("ledger", "live_contributions", "unfinished_loads", "quarantine_log")
#: Rows fetched from PostgreSQL at a time (whole bundles, at least one).
CHUNK_ROWS = 1_000_000


def is_copy(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the file is marked as the copy of a PostgreSQL warehouse."""
    return table_exists(con, ROLE_TABLE) and con.execute(f"SELECT count(*) FROM {ROLE_TABLE}").fetchall()[0][0] > 0


def mark_copy(con: duckdb.DuckDBPyConnection) -> None:
    """Mark the file as the copy of a PostgreSQL warehouse (once)."""
    if not is_copy(con):
        con.execute(f"CREATE TABLE IF NOT EXISTS {ROLE_TABLE} (role VARCHAR NOT NULL)")
        con.execute(f"INSERT INTO {ROLE_TABLE} VALUES (?)", [COPY_ROLE])


def check_role(con: duckdb.DuckDBPyConnection, scaled: bool) -> None:
    """Refuse a warehouse file opened by the profile it does not belong to; mark a new copy."""
    marked = is_copy(con)
    if scaled and not marked:
        if table_exists(con, "ledger") and con.execute("SELECT count(*) FROM ledger").fetchall()[0][0]:
            raise WarehouseConfigError(
                "WAREHOUSE_PROFILE_MISMATCH",
                "the warehouse file holds this network's contributions (the embedded profile), but the warehouse is set to PostgreSQL",
                hint="move them first (`dvnet warehouse move-to-postgres`), or unset DVNET_WAREHOUSE_PG_URL",
            )
        mark_copy(con)
    elif marked and not scaled:
        raise WarehouseConfigError(
            "WAREHOUSE_PROFILE_MISMATCH",
            "the warehouse file is a copy of the network's PostgreSQL warehouse, but DVNET_WAREHOUSE_PG_URL is not set",
            hint="set DVNET_WAREHOUSE_PG_URL to the warehouse's PostgreSQL database",
        )


def bulk_tables(con) -> list[str]:
    """The intake's bulk tables on either side: contribution counts and every staged table."""
    return [t for (t,) in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
        "AND (table_name = 'contribution_counts' OR table_name LIKE 'staged\\_%' ESCAPE '\\') ORDER BY 1").fetchall()]  # fmt: skip


def refresh(con: duckdb.DuckDBPyConnection, pg: PgConnection) -> dict[str, int]:
    """Bring the copy to PostgreSQL's current state; bundles copied and removed, per table."""
    pg.execute("BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
    con.execute("BEGIN TRANSACTION")
    try:
        changed: dict[str, int] = {}
        for table in SMALL_TABLES:
            con.execute(f"DELETE FROM {table}")
            _insert(con, table, pg.query_arrow(f"SELECT * FROM {table}"))
        for table in bulk_tables(pg):
            changed[table] = _refresh_bulk(con, pg, table)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        pg.execute("COMMIT")
    return changed


def _refresh_bulk(con: duckdb.DuckDBPyConnection, pg: PgConnection, table: str) -> int:
    source = dict(pg.execute(f"SELECT bundle_id, count(*) FROM {table} GROUP BY bundle_id").fetchall())
    held = dict(con.execute(f"SELECT bundle_id, count(*) FROM {table} GROUP BY bundle_id").fetchall()) if table_exists(con, table) else {}
    stale = [b for b, n in held.items() if source.get(b) != n]
    wanted = sorted(b for b, n in source.items() if held.get(b) != n)
    if stale:
        con.execute(f"DELETE FROM {table} WHERE list_contains(?::VARCHAR[], bundle_id)", [stale])
    chunk: list[str] = []
    rows = 0
    for bundle in wanted:
        chunk.append(bundle)
        rows += source[bundle]
        if rows >= CHUNK_ROWS:
            _insert(con, table, pg.query_arrow(f"SELECT * FROM {table} WHERE list_contains(?::VARCHAR[], bundle_id)", [chunk]))
            chunk, rows = [], 0
    if chunk:
        _insert(con, table, pg.query_arrow(f"SELECT * FROM {table} WHERE list_contains(?::VARCHAR[], bundle_id)", [chunk]))
    return len(set(stale) | set(wanted))


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows) -> None:
    con.register("_dvnet_copy", rows)
    try:
        con.execute(f"CREATE TABLE IF NOT EXISTS {table} AS SELECT * FROM _dvnet_copy LIMIT 0")
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _dvnet_copy")
    finally:
        con.unregister("_dvnet_copy")
