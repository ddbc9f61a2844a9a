"""Staged record rows of the embedded warehouse: one owner-only Parquet file per bundle, read
through a view.

A record bundle's verified rows are encoded once (``encode``, as its verification ends) and
written once, as ``<warehouse file>.staged/<contract>/<bundle id>.parquet`` (zstd, the key
columns in front), and only ever removed whole: a correction
replaces the bundle, ``dvnet dsa close`` destroys it. The table ``record_files`` (bundle,
contract, file, rows) says which files hold staged rows; it changes in the same transaction as
the ledger, and ``staged_<contract>`` is a view over the listed files of the contract's folder.
So a load that never committed leaves at most a file nobody lists, never read and removed by the
next writer (``sweep``), and a removed bundle's file goes after its transaction commits, its
bytes leaving with it (rows deleted from a DuckDB table stay in the file's free blocks until it
is rewritten).

Why files and not rows in the warehouse file: DuckDB compressing and writing 200,000 rows of 26
columns costs ≈ 0.34 s of CPU a bundle, more than verifying the bundle; a zstd Parquet file of
the same rows is a fraction of it (measured in ``docs/architecture.md``, "Central core"). The
scaled profile keeps its staged rows in PostgreSQL tables (``writes``), where many writers need them.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dvnet.assets.warehouse.lib.postgres import WarehouseConfigError
from dvnet.bundle.header import BUNDLE_ID_RE
from dvnet.common.files import atomic_write
from dvnet.common.sql_text import sql_string

CONTRACT_ID = re.compile(r"[a-z][a-z0-9_]*")

#: The registry of staged files. Not named ``staged_*``: those are the staged tables themselves.
REGISTRY = "record_files"

#: Rows in one of the file's row groups: DuckDB's own, so a view scan is split the same way.
ROW_GROUP = 122_880


def folder(con) -> Path:
    """``<warehouse file>.staged`` beside the database file ``con`` is connected to."""
    (path,) = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchall()[0]
    path = Path(path).resolve()
    return path.with_name(f"{path.name}.staged")


def ensure_registry(con) -> None:
    con.execute(f"CREATE TABLE IF NOT EXISTS {REGISTRY} (bundle_id VARCHAR PRIMARY KEY, contract_id VARCHAR NOT NULL, "
                "file VARCHAR NOT NULL, row_count BIGINT NOT NULL)")  # fmt: skip


@dataclass(frozen=True)
class Encoded:
    """A record bundle's staged file as bytes (``encode``), before anything stores them: their
    row count and SHA-256, which the stored file must still have (``stored``)."""

    bundle_id: str
    data: pa.Buffer  # the file's bytes, as the writer left them (no copy)
    rows: int
    sha256: str


def encode(keys: dict[str, str], rows: pa.Table) -> Encoded:
    """The bytes of the staged file of ``rows``: the constant ``keys`` columns (``bundle_id``,
    ``agency_id``, ``period``, ``contract_id``) in front, zstd Parquet. Nothing else is stored."""
    bundle_id = keys["bundle_id"]
    if not BUNDLE_ID_RE.fullmatch(bundle_id):  # checked on the way in; the file's path depends on it
        raise ValueError("a staged file's bundle id must be a plain name")
    n = rows.num_rows
    codes = pa.array(np.zeros(n, np.int8))
    constant = {k: pa.DictionaryArray.from_arrays(codes, pa.array([v], pa.string())) for k, v in keys.items()}
    full = pa.table({**constant, **dict(zip(rows.column_names, rows.columns))})
    sink = pa.BufferOutputStream()
    # Statistics for the key columns only (a scan for some bundles skips the others' row groups):
    # min and max of every text column cost a fifth of the write.
    pq.write_table(full, sink, compression="zstd", row_group_size=ROW_GROUP, store_schema=False, write_statistics=list(keys))
    data = sink.getvalue()
    return Encoded(bundle_id, data, n, hashlib.sha256(data).hexdigest())


def write(con, contract_id: str, encoded: Encoded) -> None:
    """``encoded`` as the bundle's file (durable and owner-only before this returns), listed in
    the caller's transaction. Nothing reads the file before the transaction commits: the view
    reads listed bundles only."""
    bundle_id = encoded.bundle_id
    if not (BUNDLE_ID_RE.fullmatch(bundle_id) and CONTRACT_ID.fullmatch(contract_id)):  # checked on the way in; the path depends on it
        raise ValueError("a staged file's contract and bundle id must be plain names")
    if con.execute(f"SELECT count(*) FROM {REGISTRY} WHERE bundle_id = ?", [bundle_id]).fetchall()[0][0]:
        raise ValueError("the bundle's staged file is listed already")  # never overwrite a loaded bundle's rows (a guard: ingest refuses a replay first)
    relative = Path(contract_id) / f"{bundle_id}.parquet"
    atomic_write(folder(con) / relative, encoded.data)
    con.execute(f"INSERT INTO {REGISTRY} VALUES (?, ?, ?, ?)", [bundle_id, contract_id, str(relative), encoded.rows])
    if not _view_sql(con, contract_id):
        _make_view(con, contract_id)


def stored(con, contract_id: str, bundle_ids: list[str]) -> dict[str, tuple[str, int]]:
    """(SHA-256, rows) of the staged file each of ``bundle_ids`` has listed, read from the file as
    it is now (hashed as a stream; the rows from the same open file, not from the listing)."""
    base, found = folder(con), {}
    sql = f"SELECT bundle_id, file FROM {REGISTRY} WHERE contract_id = ? AND list_contains(?::VARCHAR[], bundle_id)"
    for bundle_id, file in con.execute(sql, [contract_id, list(bundle_ids)]).fetchall():
        try:
            with open(base / file, "rb") as f:
                sha256 = hashlib.file_digest(f, "sha256").hexdigest()
                f.seek(0)
                found[bundle_id] = (sha256, pq.read_metadata(f).num_rows)
        except (OSError, pa.ArrowException):  # missing or not Parquet: not as encoded; the rules read what is there
            continue
    return found


def forget(con, contract_id: str, bundle_ids: list[str]) -> int:
    """Unlist the bundles' files in the caller's transaction (the view stops reading them); the
    rows they held. The files themselves go with the next ``sweep``, once it has committed."""
    (rows,) = con.execute(f"SELECT coalesce(sum(row_count), 0) FROM {REGISTRY} WHERE list_contains(?::VARCHAR[], bundle_id) AND contract_id = ?",
                          [bundle_ids, contract_id]).fetchall()[0]  # fmt: skip
    con.execute(f"DELETE FROM {REGISTRY} WHERE list_contains(?::VARCHAR[], bundle_id) AND contract_id = ?", [bundle_ids, contract_id])
    if not _listed(con, contract_id):
        con.execute(f"DROP VIEW IF EXISTS {table_name(contract_id)}")  # a view over no file cannot be read
    return int(rows)


def scoped(con, contract_id: str, bundle_ids: list[str]) -> str | None:
    """A relation (``read_parquet`` of their listed files) holding the staged rows of
    ``bundle_ids``, for a check that looks at some bundles: reading the view would open every
    file of the warehouse. None when none of them has a file."""
    files = _listed(con, contract_id, bundle_ids)
    if not files:
        return None
    base = folder(con)
    return "read_parquet([" + ", ".join(sql_string(base / f) for f in files) + "], union_by_name = true)"


def _listed(con, contract_id: str, bundle_ids: list[str] | None = None) -> list[str]:
    sql, params = f"SELECT file FROM {REGISTRY} WHERE contract_id = ?", [contract_id]
    if bundle_ids is not None:
        sql, params = sql + " AND list_contains(?::VARCHAR[], bundle_id)", [*params, list(bundle_ids)]
    return [f for (f,) in con.execute(sql + " ORDER BY bundle_id", params).fetchall()]


def _make_view(con, contract_id: str) -> None:
    """The contract's staged table as the view over the files of its folder that ``record_files``
    lists, by file name (absolute path: any reader of the warehouse file finds them; a file
    nobody lists, or a copy of a listed one under another name, is never read). Made once: a
    load adds a file and a listing, never a new view (binding a view opens every file it names)."""
    base = folder(con)
    pattern, prefix = sql_string(base / contract_id / "*.parquet"), sql_string(f"{base}{os.sep}")
    con.execute(f"CREATE OR REPLACE VIEW {table_name(contract_id)} AS SELECT * EXCLUDE (filename) "
                f"FROM read_parquet({pattern}, union_by_name = true, filename = true) "
                f"WHERE filename IN (SELECT {prefix} || file FROM {REGISTRY})")  # fmt: skip


def _view_sql(con, contract_id: str) -> str | None:
    found = con.execute("SELECT sql FROM duckdb_views() WHERE view_name = ? AND schema_name = current_schema()", [table_name(contract_id)]).fetchall()
    return found[0][0] if found else None


def _settle_view(con, contract_id: str) -> None:
    """The contract's view made, rebased onto the folder where it is now (a warehouse copied or
    moved with its folder), or dropped while no file is listed; refused when listed files are
    missing (the warehouse file restored without its folder)."""
    files = _listed(con, contract_id)
    if not files:
        con.execute(f"DROP VIEW IF EXISTS {table_name(contract_id)}")
        return
    base = folder(con)
    missing = [f for f in files if not (base / f).is_file()]
    if missing:
        raise WarehouseConfigError(
            "WAREHOUSE_FILES_MISSING",
            f"{len(missing)} of the {len(files)} staged file(s) of {contract_id} that the warehouse lists are not in {base.name}: "
            "the warehouse file was copied or restored without its folder",
            hint=f"restore {base.name} beside {base.name.removesuffix('.staged')} from the same copy or backup",
        )
    sql = _view_sql(con, contract_id)
    if sql is None or not _reads_here(sql, base, contract_id):
        _make_view(con, contract_id)


def _reads_here(view_sql: str, base: Path, contract_id: str) -> bool:
    return sql_string(base / contract_id / "*.parquet") in view_sql


def reads_elsewhere(con) -> bool:
    """Whether a staged view still reads the folder of the place the warehouse was copied, moved
    or restored from (views name their files by absolute path; ``settle`` rebases them): a
    read-only connection would read that other place's files, or fail on their absence."""
    base = folder(con)
    views = con.execute("SELECT view_name, sql FROM duckdb_views() WHERE schema_name = current_schema() "
                        "AND view_name LIKE 'staged\\_%' ESCAPE '\\'").fetchall()  # fmt: skip
    return any(not _reads_here(sql, base, name.removeprefix("staged_")) for name, sql in views)


def table_name(contract_id: str) -> str:
    """The staged table (here a view) of a contract: every version's rows."""
    return f"staged_{contract_id}"


def settle(con, contract_ids: list[str]) -> None:
    """On opening the embedded warehouse for writing: staged tables of a warehouse made before
    the files become files, views pointing at the folder's old place are rebuilt, and unlisted
    files are removed. Costs a stat per listed file and a walk of the folder, once per writing
    connection."""
    ensure_registry(con)
    for contract_id in contract_ids:
        table = table_name(contract_id)
        kind = con.execute("SELECT table_type FROM information_schema.tables WHERE table_name = ? AND table_schema = current_schema()", [table]).fetchall()
        if kind and kind[0][0] == "BASE TABLE":
            _table_to_files(con, table, contract_id)
        _settle_view(con, contract_id)
    sweep(con)


def _table_to_files(con, table: str, contract_id: str) -> None:
    keys = ("bundle_id", "agency_id", "period", "contract_id")
    bundles = con.execute(f"SELECT DISTINCT {', '.join(keys)} FROM {table} ORDER BY ALL").fetchall()
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"ALTER TABLE {table} RENAME TO {table}__rows")
        for values in bundles:
            rows = con.sql(f"SELECT * EXCLUDE ({', '.join(keys)}) FROM {table}__rows WHERE bundle_id = ?", params=[values[0]]).to_arrow_table()
            write(con, contract_id, encode(dict(zip(keys, values)), rows))
        con.execute(f"DROP TABLE {table}__rows")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def to_tables(con) -> None:
    """Every staged view made a table of the warehouse file and the files unlisted, then
    removed: the file becomes the scaled profile's copy, whose staged rows are tables."""
    contract_ids = [c for (c,) in con.execute(f"SELECT DISTINCT contract_id FROM {REGISTRY} ORDER BY 1").fetchall()]
    con.execute("BEGIN TRANSACTION")
    try:
        for contract_id in contract_ids:
            table = table_name(contract_id)
            con.execute(f"CREATE TABLE {table}__rows AS SELECT * FROM {table}")
            con.execute(f"DROP VIEW {table}")
            con.execute(f"ALTER TABLE {table}__rows RENAME TO {table}")
        con.execute(f"DELETE FROM {REGISTRY}")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    sweep(con)


def sweep(con) -> int:
    """Remove the files under the folder that ``record_files`` does not list (a load that never
    committed, a bundle replaced or destroyed); how many. Run by the one writer, after commit."""
    base = folder(con)
    if not base.is_dir():
        return 0
    listed = {f for (f,) in con.execute(f"SELECT file FROM {REGISTRY}").fetchall()}
    removed = 0
    for path in base.rglob("*"):
        if path.is_file() and str(path.relative_to(base)) not in listed:
            path.unlink()
            removed += 1
    return removed
