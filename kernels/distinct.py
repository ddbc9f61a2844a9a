"""Distinct values of a text column: how many (Arrow below a size, DuckDB above it), and which
one each row holds, so a per-value answer can be spread back over the rows.

References: ``len(set(values) - {None})``; ``uniques.index(v)`` per row
(tests/unit/kernels/test_kernels_distinct.py).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: From this many values on, distinct values are counted by DuckDB rather than Arrow. Arrow's
#: single hash table outgrows the CPU caches: CPU per value 0.13 µs at 1M, 0.17 at 2M, 0.24 at
#: 5M episode numbers, against DuckDB's partitioned aggregate at 0.14-0.15 (and both cores).
#: In the 5M-row validation this took the rule checks from 3.1-3.3 s to 1.0-1.3 s; at 1M DuckDB
#: made validation 0.05 s slower (its threads compete with the column pool), hence the threshold.
DUCKDB_DISTINCT_MIN = 2_000_000


def distinct_count(text: pa.ChunkedArray, *, duckdb_min: int | None = None) -> int:
    """How many distinct non-null values ``text`` holds (DuckDB from ``duckdb_min`` values on)."""
    if len(text) < (DUCKDB_DISTINCT_MIN if duckdb_min is None else duckdb_min):
        return len(pc.unique(text).drop_null())
    from dvnet.kernels.duckdb_memory import connect  # here only: most callers never count millions of values

    with connect() as con:
        con.register("cells", pa.table({"v": text}))
        return int(con.sql("SELECT count(DISTINCT v) FROM cells").fetchall()[0][0])


def distinct_positions(col: pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """The distinct non-null values of ``col`` in order of first appearance, and per row the
    index of its value among them (-1 where the cell is null)."""
    uniques = pc.unique(col).drop_null()
    index = pc.fill_null(pc.index_in(col, value_set=uniques), -1)
    positions = index.to_numpy() if isinstance(index, pa.Array) else np.concatenate(
        [c.to_numpy(zero_copy_only=False) for c in index.chunks] or [np.zeros(0, np.int32)]
    )
    return uniques, positions.astype(np.int64, copy=False)


def spread(per_value: np.ndarray, positions: np.ndarray, missing) -> np.ndarray:
    """Per-row values from per-distinct-value answers; ``missing`` where the cell is null."""
    return np.append(per_value, np.asarray([missing], dtype=per_value.dtype))[positions]
