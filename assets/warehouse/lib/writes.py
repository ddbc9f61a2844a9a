"""The intake's writes on either warehouse engine: the few calls whose SQL differs.

Ingest and the intake checks hold a connection that is either DuckDB's (the embedded warehouse
file, one writer at a time under the warehouse lock) or ``PgConnection`` (the scaled profile,
many writers). Everything else they run is SQL both engines read; these are the exceptions.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa

from dvnet.assets.warehouse.lib import staged_files
from dvnet.assets.warehouse.lib.postgres import PgConnection


def append_rows(con, table: str, keys: dict[str, str], rows: pa.Table) -> None:
    """``rows`` into ``table`` by column name, the constant ``keys`` columns in front; the table is
    made from the rows' types the first time."""
    if isinstance(con, PgConnection):
        con.append(table, keys, rows)
        return
    select = ", ".join(f"?::VARCHAR AS {k}" for k in keys)
    con.register("_dvnet_rows", _in_row_groups(rows))
    try:
        con.execute(f"CREATE TABLE IF NOT EXISTS {table} AS SELECT {select}, * FROM _dvnet_rows LIMIT 0", list(keys.values()))
        con.execute(f"INSERT INTO {table} BY NAME SELECT {select}, * FROM _dvnet_rows", list(keys.values()))
    finally:
        con.unregister("_dvnet_rows")


def stage_rows(con, contract_id: str, keys: dict[str, str], rows: pa.Table, encoded: staged_files.Encoded | None = None) -> None:
    """A record bundle's verified rows into its contract's staged table, in the caller's
    transaction: PostgreSQL's table, or the embedded warehouse's file of the bundle
    (``staged_files``; ``encoded``, the file's bytes when verification made them, else encoded here)."""
    if isinstance(con, PgConnection):
        con.append(staged_files.table_name(contract_id), keys, rows)
    else:
        staged_files.write(con, contract_id, encoded or staged_files.encode(keys, rows))


def unstage(con, contract_id: str, bundle_ids: list[str]) -> int:
    """The bundles' staged rows removed in the caller's transaction; how many. On the embedded
    warehouse their files go with ``discard_unlisted`` after the commit."""
    table = staged_files.table_name(contract_id)
    if isinstance(con, PgConnection):
        if not table_exists(con, table):
            return 0
        (rows,) = con.execute(f"SELECT count(*) FROM {table} WHERE list_contains(?::VARCHAR[], bundle_id)", [bundle_ids]).fetchall()[0]
        con.execute(f"DELETE FROM {table} WHERE list_contains(?::VARCHAR[], bundle_id)", [bundle_ids])
        return rows
    return staged_files.forget(con, contract_id, bundle_ids)


def staged_source(con, contract_id: str, bundle_ids: list[str]) -> str:
    """What a check that looks at some bundles reads their staged rows from: PostgreSQL's table,
    or on the embedded warehouse those bundles' files only (``staged_files.scoped``: the view
    would open every file, a cost that grows with the warehouse). A relation without rows (and
    with ``bundle_id`` only) when there are none."""
    table = staged_files.table_name(contract_id)
    if isinstance(con, PgConnection):
        return table if table_exists(con, table) else NO_ROWS
    return staged_files.scoped(con, contract_id, bundle_ids) or NO_ROWS


#: ``staged_source`` of bundles that have no staged rows.
NO_ROWS = "(SELECT CAST(NULL AS VARCHAR) AS bundle_id WHERE false) AS no_rows"


def staged_rows_of(con, contract_id: str, agency_id: str, period: str) -> int:
    """Staged rows of the live bundles of one agency × period (the partition's row count)."""
    if isinstance(con, PgConnection):
        table = staged_files.table_name(contract_id)
        if not table_exists(con, table):
            return 0
        return con.execute(f"SELECT count(*) FROM {table} WHERE agency_id = ? AND period = ?", [agency_id, period]).fetchall()[0][0]
    return con.execute(f"SELECT CAST(coalesce(sum(f.row_count), 0) AS BIGINT) FROM {staged_files.REGISTRY} f JOIN ledger l USING (bundle_id) "
                       "WHERE f.contract_id = ? AND l.agency_id = ? AND l.period = ?", [contract_id, agency_id, period]).fetchall()[0][0]  # fmt: skip


def discard_unlisted(con) -> None:
    """After a commit or rollback that changed which bundles have staged files: the files no
    bundle lists any more removed (embedded warehouse; nothing to do on PostgreSQL)."""
    if not isinstance(con, PgConnection):
        staged_files.sweep(con)


#: Rows in one of DuckDB's row groups (its default ``row_group_size``).
ROW_GROUP = 122_880


def _in_row_groups(rows: pa.Table) -> pa.Table:
    """``rows`` as chunks of one DuckDB row group each (slices, no copy): DuckDB inserts the chunks
    in parallel, each filling a row group of its own. Measured on 50 x 200,000 service episodes
    (``ingest_files``, this machine): 21.0 s against 22.4 s for one chunk per bundle, the same CPU
    time. Chunks that split row groups would instead leave partly filled ones for every later
    CHECKPOINT to rewrite (``ingest._read_payload``)."""
    return pa.Table.from_batches(rows.to_batches(max_chunksize=ROW_GROUP), rows.schema)


@contextmanager
def serial(con, name: str) -> Iterator[None]:
    """One writer at a time through the block for ``name`` (PostgreSQL: a session advisory lock);
    writers of other names go on. On DuckDB the warehouse lock already admits one writer for
    everything. Names in use: ``agency:<id>`` (one agency's bundles through the replay ledger and
    the load: its sequences are checked in order) and ``schema`` (the first runs making tables)."""
    if isinstance(con, PgConnection):
        with con.serial(name):
            yield
    else:
        yield


def table_exists(con, name: str) -> bool:
    """Whether ``name`` is a table of the connection's schema (DuckDB's ``main``, or ``dvnet``)."""
    found = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ? AND table_schema = current_schema()", [name])
    return found.fetchall()[0][0] > 0
