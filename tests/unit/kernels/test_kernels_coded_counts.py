"""``kernels.coded_counts`` (and ``anonymize.counts.merge_counts`` of blocks counted apart) against
the obvious version: a ``Counter`` over the rows' tuples, sorted as SQL's ``ORDER BY ALL`` sorts (NULL last)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pytest

from dvnet.anonymize.counts import merge_counts
from dvnet.kernels import coded_counts as kernel
from dvnet.kernels.coded_counts import Count, coded_counts

COLUMNS = ["a", "b", "flag", "indicator"]


def _table(n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)

    def text(pool: list[str]) -> pa.Array:
        values = [pool[i] if rng.random() > 0.1 else None for i in rng.integers(0, len(pool), n)]
        return pa.array(values, pa.string())

    flags = [bool(v) if rng.random() > 0.1 else None for v in rng.integers(0, 2, n)]
    return pa.table({"a": text(["x", "y", "z", "é", "Z"]), "b": text([f"b{i}" for i in range(40)]), "flag": pa.array(flags, pa.bool_()),
                     "also": pa.array([bool(v) for v in rng.integers(0, 2, n)], pa.bool_())})


def _text(value) -> str | None:
    """A value as SQL's CAST(... AS VARCHAR) writes it (booleans ``true``/``false``)."""
    if value is None:
        return None
    return str(value).lower() if isinstance(value, bool) else value


def _plain(table: pa.Table, counts: list[Count]) -> list[dict]:
    rows = table.to_pylist()
    out = []
    for k in counts:
        kept = [r for r in rows if k.where is None or r[k.where] is True]
        tally = Counter(tuple(_text(r[c]) for c in k.by) for r in kept) if k.by else Counter({(): len(kept)})
        for combo, n in tally.items():
            out.append({"table_name": k.name, **dict.fromkeys(COLUMNS), **dict(k.fixed), **dict(zip(k.by, combo, strict=True)), "n": n})

    def key(row: dict) -> tuple:  # every column ascending, text by its bytes, NULL last
        return tuple((row[c] is None, row[c].encode() if isinstance(row[c], str) else (row[c] or 0)) for c in ["table_name", *COLUMNS, "n"])

    return sorted(out, key=key)


COUNTS = [Count("by_a_b", ("a", "b")), Count("by_flag_a", ("flag", "a")), Count("a_where_also", ("a",), "also", (("indicator", "also"),)),
          Count("all", ()), Count("all_where_flag", (), "flag")]


def _as_dictionary(column: pa.Array, duplicated: bool) -> pa.DictionaryArray:
    """``column`` as a pandas categorical arrives: int8 codes into its values, here with an unused
    one; or (``duplicated``) with every value listed twice, codes split between the two."""
    values = sorted(v for v in set(column.to_pylist()) if v is not None) + ["unused"]
    dictionary = values * 2 if duplicated else values
    codes = [None if v is None else values.index(v) + (len(values) * (i % 2) if duplicated else 0) for i, v in enumerate(column.to_pylist())]
    return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int8()), pa.array(dictionary, pa.string()))


@pytest.mark.parametrize(("n", "seed"), [(0, 0), (1, 1), (500, 2), (4000, 3)])
@pytest.mark.parametrize("dense_limit", [kernel.DENSE_LIMIT, 2])
@pytest.mark.parametrize("text", ["plain", "dictionary", "duplicated dictionary"])
@pytest.mark.parametrize("pieces", [1, 3])
def test_counts_equal_the_obvious_count(n, seed, dense_limit, text, pieces, monkeypatch):
    monkeypatch.setattr(kernel, "DENSE_LIMIT", dense_limit)  # 2: every count by sorting
    table = _table(n, seed)
    typed = table
    if text != "plain":
        for name in ("a", "b"):
            typed = typed.set_column(typed.schema.get_field_index(name), name, _as_dictionary(table[name].combine_chunks(), text.startswith("duplicated")))
    chunked = pa.Table.from_batches(typed.to_batches(max_chunksize=max(1, -(-n // pieces))) or typed.to_batches(), typed.schema)
    got = coded_counts(chunked, COUNTS, COLUMNS)
    assert got.to_pylist() == _plain(table, COUNTS)
    assert got.schema.field("n").type == pa.int64()


def test_a_missing_column_or_one_neither_text_nor_boolean_is_left_to_the_caller():
    table = pa.table({"code": pa.array(["b", "a"]), "number": pa.array([1, 2])})
    assert coded_counts(table, [Count("t", ("missing",))], ["missing"]) is None
    assert coded_counts(table, [Count("t", ("code",), "missing")], ["code"]) is None
    assert coded_counts(table, [Count("t", ("number",))], ["number"]) is None
    assert coded_counts(table, [Count("t", ("code",), "code")], ["code"]) is None  # a filter must be boolean


@pytest.mark.parametrize(("n", "seed"), [(1, 4), (500, 5), (4000, 6)])
@pytest.mark.parametrize("blocks", [1, 2, 7, 64])
def test_blocks_counted_apart_and_merged_equal_the_count_of_all_rows(n, seed, blocks):
    """``merge_counts`` (aggregate mode counts each block of an extract on its own): cut the rows
    anywhere, count each piece, merge the pieces' counts in any grouping (merges of merges too, as
    ``_BlockCounts`` does when it holds too many), and the result is the count of all the rows."""
    table = _table(n, seed)
    rng = np.random.default_rng(seed)
    cuts = sorted(set(rng.integers(0, n + 1, blocks - 1).tolist()) | {0, n})
    pieces = [coded_counts(table.slice(a, b - a), COUNTS, COLUMNS) for a, b in zip(cuts, cuts[1:], strict=False)]
    if len(pieces) > 2:  # some of them merged first
        pieces = [merge_counts(pieces[:2]), *pieces[2:]]
    merged = merge_counts(pieces)
    assert merged.to_pylist() == _plain(table, COUNTS)
    assert merged.schema == coded_counts(table, COUNTS, COLUMNS).schema


def test_merging_nothing_is_a_mistake():
    with pytest.raises(ValueError, match="at least one"):
        merge_counts([])
