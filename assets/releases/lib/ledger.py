"""The release ledger: every cell every release published, the cross-check of the history that
later audits rebuild from the release folders (``history.py``).

Kept in the warehouse (tables ``releases`` and ``release_cells``); a release is recorded in one
transaction after its files are written. ``release_cells.reason`` is why a cell was suppressed
(primary, dominance, complementary): the coordinator's record, never published.
"""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pandas as pd

from dvnet.anonymize.disclosure.tables import EarlierCell


# The coordinator's record of each cell beside what was published: why it was suppressed.
LATER_COLUMNS = {"reason": "VARCHAR"}


def ensure_ledger(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "CREATE TABLE IF NOT EXISTS releases (release_id VARCHAR PRIMARY KEY, profile VARCHAR, periods VARCHAR[], "
        "published_at TIMESTAMPTZ, cells BIGINT, suppressed BIGINT, audit_summary VARCHAR)"
    )
    con.execute(
        "CREATE TABLE IF NOT EXISTS release_cells (release_id VARCHAR, table_name VARCHAR, measure VARCHAR, "
        "coords VARCHAR, value BIGINT, rounding_base INTEGER)"
    )
    for column, kind in LATER_COLUMNS.items():  # ledgers written before these were kept lack them
        con.execute(f"ALTER TABLE release_cells ADD COLUMN IF NOT EXISTS {column} {kind}")


def record_release(con: duckdb.DuckDBPyConnection, release_id: str, profile: str, periods: list[str], cells: list[EarlierCell],
                   audit_summary: str, now: dt.datetime) -> None:
    ensure_ledger(con)
    rows = pd.DataFrame(
        [(release_id, c.table.split("/", 1)[1], c.measure, json.dumps(dict(c.coords), sort_keys=True), c.value, c.rounding_base, c.reason)
         for c in cells],
        columns=["release_id", "table_name", "measure", "coords", "value", "rounding_base", *LATER_COLUMNS],
    ).astype({"value": "Int64"})
    con.execute("BEGIN TRANSACTION")
    try:
        con.register("_cells", rows)
        con.execute("INSERT INTO release_cells BY NAME SELECT * FROM _cells")
        con.unregister("_cells")
        con.execute(
            "INSERT INTO releases VALUES (?, ?, ?, ?, ?, ?, ?)",
            [release_id, profile, periods, now, len(cells), sum(c.value is None for c in cells), audit_summary],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
