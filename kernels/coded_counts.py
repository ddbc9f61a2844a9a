"""Group counts by integer codes: the fast path of the standard count tables.

The reference is SQL (``anonymize.counts.counts_sql``: DuckDB, GROUPING SETS, ``ORDER BY ALL``).
Here each column is coded once (text by its distinct values, a dictionary column by its own
codes, a boolean as 0/1), a count's codes are combined into one integer per row, and
``numpy.bincount`` counts them. On 200,000 service episodes (23 tables over 11 columns) that is
0.06 s on one core against the SQL's 0.19-0.20 s (0.22 s CPU); on the contributor's 1M-row
aggregate frame of categoricals 0.13-0.17 s against 0.46 s.

``coded_counts`` returns exactly the reference's result: one row per (count, combination of
values present), text columns (``None`` for a column the count does not use, and for a NULL
value), ``n`` as int64, sorted as ``ORDER BY ALL`` sorts (every column ascending, text by its
bytes, NULL last). A count grouped by nothing gives its one row even when it counts 0, as SQL's
aggregate without ``GROUP BY`` does. It returns None for what it does not handle (a column that is
neither text, a dictionary of text nor boolean, or missing): the caller then runs the SQL, which
also names the error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: Above this many possible combinations a count's codes are counted by sorting, not by an array
#: of that many counters.
DENSE_LIMIT = 1 << 22


@dataclass(frozen=True)
class Count:
    """One count: rows (those where boolean column ``where`` is true, or all) grouped by the
    columns ``by``; ``fixed`` output columns hold one text value; the row's ``name`` column says
    which count it is."""

    name: str
    by: tuple[str, ...]
    where: str | None = None
    fixed: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class _Coded:
    codes: np.ndarray  # per row, in the narrowest unsigned type that holds them; a NULL has the last code
    labels: pa.Array  # text of each code; the last one is null


def _narrow(codes: pa.ChunkedArray | pa.Array, labels: pa.Array) -> _Coded:
    """Codes kept a byte a row where they fit (every column's are held until the last count):
    on 10M rows, 11 columns take 110 MB instead of 880 MB as int64."""
    return _Coded(np.asarray(codes).astype(np.min_scalar_type(len(labels) - 1), copy=False), labels)


def coded_counts(table: pa.Table, counts: Sequence[Count], columns: Sequence[str], name_column: str = "table_name") -> pa.Table | None:
    """``counts`` over ``table`` as one long table with ``name_column``, ``columns`` and ``n``
    (see the module docstring), or None when a column is missing or of another type."""
    needed = {c for k in counts for c in k.by} | {k.where for k in counts if k.where}
    if not needed <= set(table.column_names):
        return None
    if any(not _is_text(table.schema.field(c).type) and not pa.types.is_boolean(table.schema.field(c).type) for c in needed):
        return None  # a dictionary of text counts as text
    if any(not pa.types.is_boolean(table.schema.field(k.where).type) for k in counts if k.where):
        return None
    coded: dict[str, _Coded] = {}

    def code(column: str) -> _Coded:
        if column not in coded:
            coded[column] = _code(table.column(column))
        return coded[column]

    names: list[str] = []
    out: dict[str, list[pa.Array]] = {c: [] for c in columns}
    ns: list[np.ndarray] = []
    for k in counts:
        grouped = _grouped([code(c) for c in k.by], None if k.where is None else _true(table.column(k.where)), table.num_rows)
        if grouped is None:
            return None
        keys, n = grouped
        names += [k.name] * len(n)
        ns.append(n)
        fixed = dict(k.fixed)
        for c in columns:
            if c in k.by:
                out[c].append(keys[k.by.index(c)])
            elif c in fixed:
                out[c].append(pa.array([fixed[c]] * len(n), pa.string()))
            else:
                out[c].append(pa.nulls(len(n), pa.string()))
    result = pa.table(
        {name_column: pa.array(names, pa.string()), **{c: pa.concat_arrays(parts) if parts else pa.array([], pa.string()) for c, parts in out.items()},
         "n": pa.array(np.concatenate(ns) if ns else np.zeros(0, dtype=np.int64), pa.int64())}
    )
    order = pc.sort_indices(result, sort_keys=[(c, "ascending", "at_end") for c in result.column_names])
    return result.take(order)


def _is_text(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):  # a pandas categorical: its codes are already there
        return _is_text(t.value_type)
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _code(column: pa.ChunkedArray) -> _Coded:
    """Codes of ``column``'s values: text by its distinct values (first seen first), a dictionary
    column by its own codes (when its dictionary holds distinct values only), a boolean as 0
    (false) and 1 (true); NULL the last code."""
    if pa.types.is_boolean(column.type):
        return _narrow(pc.fill_null(pc.cast(column, pa.uint8()), 2), pa.array(["false", "true", None], pa.string()))
    if pa.types.is_dictionary(column.type):
        column = column.unify_dictionaries()
        if column.num_chunks and not _distinct(column.chunk(0).dictionary):  # one value under two codes: code the text
            column = pc.cast(column, column.type.value_type)
    encoded = column if pa.types.is_dictionary(column.type) else pc.dictionary_encode(column).unify_dictionaries()
    values = encoded.chunk(0).dictionary if encoded.num_chunks else pa.array([], pa.string())
    indices = [chunk.indices for chunk in encoded.chunks]
    index = pc.fill_null(pc.cast(pa.chunked_array(indices, encoded.type.index_type), pa.int64()), len(values))
    return _narrow(index, pa.concat_arrays([pc.cast(values, pa.string()), pa.nulls(1, pa.string())]))


def _distinct(values: pa.Array) -> bool:
    return values.null_count == 0 and len(pc.unique(values)) == len(values)


def _true(column: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(column, False), dtype=bool)


def _grouped(by: list[_Coded], where: np.ndarray | None, rows: int) -> tuple[list[pa.Array], np.ndarray] | None:
    """Each combination of ``by``'s values present (among the rows ``where`` is true) as text
    columns, and its count; None when the combinations do not fit one int64 code."""
    if not by:  # an aggregate without GROUP BY: one row, 0 included
        return [], np.array([rows if where is None else int(where.sum())], dtype=np.int64)
    sizes = [len(c.labels) for c in by]
    if np.prod(sizes, dtype=np.float64) >= 2.0**62:
        return None
    key = np.zeros(rows, dtype=np.int64)
    for c, size in zip(by, sizes, strict=True):
        key *= size
        key += c.codes
    if where is not None:
        key = key[where]
    combos = int(np.prod(sizes, dtype=np.int64))
    if combos <= DENSE_LIMIT:
        n = np.bincount(key, minlength=combos)
        present = np.nonzero(n)[0]
        n = n[present]
    else:
        present, n = np.unique(key, return_counts=True)
    keys: list[pa.Array] = []
    rest = present
    for c, size in zip(reversed(by), reversed(sizes), strict=True):
        keys.append(c.labels.take(pa.array(rest % size)))
        rest = rest // size
    return keys[::-1], n.astype(np.int64)
