"""The release ledger: every cell every release published, so later audits see earlier releases.

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


def ensure_ledger(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "CREATE TABLE IF NOT EXISTS releases (release_id VARCHAR PRIMARY KEY, profile VARCHAR, periods VARCHAR[], "
        "published_at TIMESTAMPTZ, cells BIGINT, suppressed BIGINT, audit_summary VARCHAR)"
    )
    con.execute(
        "CREATE TABLE IF NOT EXISTS release_cells (release_id VARCHAR, table_name VARCHAR, measure VARCHAR, "
        "coords VARCHAR, value BIGINT, rounding_base INTEGER, reason VARCHAR, suppressed_floor INTEGER)"
    )
    con.execute("ALTER TABLE release_cells ADD COLUMN IF NOT EXISTS reason VARCHAR")  # ledgers written before reasons were kept
    con.execute("ALTER TABLE release_cells ADD COLUMN IF NOT EXISTS suppressed_floor INTEGER")


def earlier_cells(con: duckdb.DuckDBPyConnection) -> list[EarlierCell]:
    ensure_ledger(con)
    rows = con.execute("SELECT release_id, table_name, measure, coords, value, rounding_base, reason, suppressed_floor FROM release_cells").fetchall()
    return [EarlierCell(measure=m, coords=json.loads(c), value=v, rounding_base=b, table=f"{r}/{t}", reason=why, suppressed_floor=floor or 0)
            for r, t, m, c, v, b, why, floor in rows]


def record_release(con: duckdb.DuckDBPyConnection, release_id: str, profile: str, periods: list[str], cells: list[EarlierCell],
                   audit_summary: str, now: dt.datetime) -> None:
    ensure_ledger(con)
    rows = pd.DataFrame(
        [(release_id, c.table.split("/", 1)[1], c.measure, json.dumps(dict(c.coords), sort_keys=True), c.value, c.rounding_base, c.reason, c.suppressed_floor)
         for c in cells],
        columns=["release_id", "table_name", "measure", "coords", "value", "rounding_base", "reason", "suppressed_floor"],
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
