"""Release files for evaluators: DuckDB, CSV, Parquet, each table documented.

Text cells are escaped against spreadsheet formula injection (OWASP "CSV injection"): a cell that
starts with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading apostrophe.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def escaped(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or str(out[col].dtype).startswith("string"):
            out[col] = out[col].map(escape_formula)
    return out


def write_release_files(folder: Path, tables: dict[str, tuple[pd.DataFrame, str]]) -> None:
    """``release.duckdb`` (documented tables), ``csv/`` and ``parquet/`` for ``{name: (frame, description)}``."""
    (folder / "csv").mkdir(parents=True, exist_ok=True)
    (folder / "parquet").mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(folder / "release.duckdb"))
    try:
        for name, (frame, description) in tables.items():
            safe = escaped(frame)
            safe.to_csv(folder / "csv" / f"{name}.csv", index=False)
            pq.write_table(pa.Table.from_pandas(safe, preserve_index=False), folder / "parquet" / f"{name}.parquet", compression="zstd")
            con.register("_t", safe)
            con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM _t')
            con.unregister("_t")
            con.execute(f"COMMENT ON TABLE \"{name}\" IS '{description.replace(chr(39), chr(39) * 2)}'")
        con.execute("CHECKPOINT")
    finally:
        con.close()
