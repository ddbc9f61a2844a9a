"""The release ledger: every cell every release published, kept in the warehouse.

Tables ``releases`` and ``release_cells``; a release is recorded in one transaction after its
files are written. It is an index of what was published, not the only copy: the history later
audits need is rebuilt from the release folders (``records.release_history``), and the ledger adds
the releases whose folders are gone.
"""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pandas as pd

from dvnet.anonymize.disclosure import Profile, Table
from dvnet.anonymize.disclosure.tables import STATUS_COLUMN, SUPPRESSED, TOTAL, VALUE_COLUMN
from dvnet.anonymize.disclosure.tables import PUBLISHED as PUBLISHED_MARK


def ensure_ledger(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "CREATE TABLE IF NOT EXISTS releases (release_id VARCHAR PRIMARY KEY, profile VARCHAR, periods VARCHAR[], "
        "published_at TIMESTAMPTZ, cells BIGINT, suppressed BIGINT, audit_summary VARCHAR)"
    )
    con.execute("ALTER TABLE releases ADD COLUMN IF NOT EXISTS profile_settings VARCHAR")
    con.execute(
        "CREATE TABLE IF NOT EXISTS release_cells (release_id VARCHAR, table_name VARCHAR, measure VARCHAR, "
        "coords VARCHAR, value BIGINT, rounding_base INTEGER)"
    )


def ledger_releases(con: duckdb.DuckDBPyConnection) -> list[tuple[str, dict | str, list[Table]]]:
    """Each recorded release: id, profile settings (or name, for rows written before they were
    kept), and its tables as published, rebuilt from its cells."""
    ensure_ledger(con)
    out = []
    for release_id, profile, settings in con.execute("SELECT release_id, profile, profile_settings FROM releases ORDER BY published_at, release_id").fetchall():
        rows = con.execute("SELECT table_name, measure, coords, value FROM release_cells WHERE release_id = ?", [release_id]).fetchall()
        tables = []
        for (name, measure), cells in pd.DataFrame(rows, columns=["table", "measure", "coords", "value"]).groupby(["table", "measure"], sort=True):
            coords = [json.loads(c) for c in cells["coords"]]
            dims = sorted({d for c in coords for d in c})
            frame = pd.DataFrame({d: [c.get(d, TOTAL) for c in coords] for d in dims})
            frame[VALUE_COLUMN] = cells["value"].astype("Int64").to_numpy()
            frame[STATUS_COLUMN] = [PUBLISHED_MARK if pd.notna(v) else SUPPRESSED for v in frame[VALUE_COLUMN]]
            tables.append(Table(str(name), frame, tuple(dims), str(measure)))
        out.append((release_id, json.loads(settings) if settings else profile, tables))
    return out


def record_release(con: duckdb.DuckDBPyConnection, release_id: str, profile: Profile, periods: list[str], tables: list[Table],
                   audit_summary: str, now: dt.datetime) -> None:
    """Every cell of the published ``tables`` (value NULL where suppressed) and the release's row."""
    ensure_ledger(con)
    rows = []
    for t in tables:
        dims = t.frame[list(t.dims)].astype(str).to_numpy()
        values = t.frame[VALUE_COLUMN].to_numpy(dtype=object, na_value=None)
        for coords, v in zip(dims, values, strict=True):
            rows.append((release_id, t.name, t.measure, json.dumps(dict(zip(t.dims, coords, strict=True)), sort_keys=True), v, profile.rounding_base))
    frame = pd.DataFrame(rows, columns=["release_id", "table_name", "measure", "coords", "value", "rounding_base"]).astype({"value": "Int64"})
    con.execute("BEGIN TRANSACTION")
    try:
        con.register("_cells", frame)
        con.execute("INSERT INTO release_cells SELECT * FROM _cells")
        con.unregister("_cells")
        con.execute(
            "INSERT INTO releases (release_id, profile, periods, published_at, cells, suppressed, audit_summary, profile_settings) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [release_id, profile.name, periods, now, len(frame), int(frame["value"].isna().sum()), audit_summary, json.dumps(profile.to_dict())],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
