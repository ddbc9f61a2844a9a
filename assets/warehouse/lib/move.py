"""An embedded network's intake tables moved into PostgreSQL: the way into the scaled profile.

The reverse of ``analytic_copy.refresh``. The file's intake tables (``INTAKE`` below: ledger, live
contributions, journal, quarantine log, contribution counts, staged rows) are copied into the
warehouse database in **one PostgreSQL transaction**; only after it commits is the file marked as
the copy (``analytic_copy.mark_copy``), and the refresh then proves both sides hold the same
bundles with the same row counts. The cubes and the release ledger stay in the file, where the
scaled profile keeps them.

A crash leaves a state a second run completes: before the commit PostgreSQL holds nothing and
the file is still the embedded warehouse; after it, PostgreSQL holds exactly the file's bundles,
which a second run recognises and only marks the file. A database holding any other bundles
belongs to another network (or another attempt) and is refused: nothing is merged.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa

from dvnet.assets.warehouse.lib import analytic_copy, identity, staged_files
from dvnet.assets.warehouse.lib.postgres import PgConnection, WarehouseConfigError
from dvnet.assets.warehouse.lib.writes import table_exists

#: Rows read from the file and sent by one ``COPY`` at a time (memory stays one batch).
BATCH_ROWS = 200_000


def intake_tables(con) -> list[str]:
    """The intake's tables on either side (the small ones, then the bulk ones)."""
    return [*analytic_copy.SMALL_TABLES, *analytic_copy.bulk_tables(con)]


def move_to_postgres(con: duckdb.DuckDBPyConnection, pg: PgConnection, warehouse: Path,
                     tick: Callable[[int], None] = lambda rows: None) -> dict[str, int]:
    """Copy the file's intake tables (``con``, the file ``warehouse``) into ``pg`` (its schema made),
    bind the two (``identity``) and mark the file as the copy; rows per table, as both sides now
    hold them. ``tick`` is told the rows of each batch sent. A file already marked is left as it is."""
    if analytic_copy.is_copy(con):
        identity.bind(pg, warehouse)
        return _rows(con, intake_tables(con))
    ours = {b for (b,) in con.execute("SELECT bundle_id FROM ledger").fetchall()}
    theirs = {b for (b,) in pg.execute("SELECT bundle_id FROM ledger").fetchall()}
    quarantined = pg.execute("SELECT count(*) FROM quarantine_log").fetchall()[0][0]
    if (theirs or quarantined) and theirs != ours:
        raise WarehouseConfigError(
            "WAREHOUSE_TARGET_NOT_EMPTY",
            f"the PostgreSQL warehouse already holds {len(theirs)} bundle(s) and {quarantined} quarantine record(s) "
            "that are not this network's warehouse file: nothing was copied",
            hint="give DVNET_WAREHOUSE_PG_URL a new database (one per network)",
        )
    identity.bind(pg, warehouse)  # only once the database is known to be empty or this file's own
    if not theirs and not quarantined:
        pg.execute("BEGIN TRANSACTION")
        try:
            for table in intake_tables(con):
                reader = con.sql(f"SELECT * FROM {table}").to_arrow_reader(BATCH_ROWS)
                for batch in reader:
                    pg.append(table, {}, pa.Table.from_batches([batch]))
                    tick(batch.num_rows)
            pg.execute("COMMIT")
        except BaseException:
            pg.execute("ROLLBACK")
            raise
    staged_files.to_tables(con)  # the copy holds its staged rows as tables, as ``refresh`` keeps them
    analytic_copy.mark_copy(con)
    analytic_copy.refresh(con, pg)
    held = _rows(con, intake_tables(con))
    sent = _rows(pg, intake_tables(pg))
    if held != sent:  # the refresh makes the file PostgreSQL's state: a difference is a fault
        raise WarehouseConfigError("WAREHOUSE_MOVE_INCOMPLETE", "the warehouse file and PostgreSQL disagree after the move",
                                   hint="run the command again; if it persists, keep the file and report it")  # fmt: skip
    return held


def _rows(con, tables: list[str]) -> dict[str, int]:
    return {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in tables if table_exists(con, t)}
