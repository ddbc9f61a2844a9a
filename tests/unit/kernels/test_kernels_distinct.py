"""kernels.distinct against its references: a Python set (on both of its paths), and each
row's index into the list of distinct values."""

from __future__ import annotations

import pyarrow as pa
import pytest

import numpy as np

from dvnet.kernels.distinct import distinct_count, distinct_positions, spread


@pytest.mark.parametrize("duckdb_min", [1, 10**9], ids=["duckdb", "arrow"])
@pytest.mark.parametrize(
    "values",
    [[], [None], ["a"], ["a", "a", None, "b"], ["x", "X", "x ", "é", "e\u0301", None, None], [str(i % 37) for i in range(1000)]],
)
def test_distinct_count_equals_a_python_set(values, duckdb_min):
    text = pa.chunked_array([pa.array(values, type=pa.large_string())])
    assert distinct_count(text, duckdb_min=duckdb_min) == len(set(values) - {None})


@pytest.mark.parametrize("values", [[], [None], ["b", "a", "b", None, "c", "a"], ["é", "e\u0301", None, "é"]])
def test_distinct_positions_index_each_row_into_the_values_in_first_appearance_order(values):
    text = pa.chunked_array([pa.array(values[:2], pa.large_string()), pa.array(values[2:], pa.large_string())])
    uniques, positions = distinct_positions(text)
    want = list(dict.fromkeys(v for v in values if v is not None))
    assert uniques.to_pylist() == want
    assert positions.tolist() == [want.index(v) if v is not None else -1 for v in values]


def test_spread_reads_each_rows_answer_and_missing_for_null():
    assert spread(np.array([10, 20]), np.array([1, -1, 0, 1]), 0).tolist() == [20, 0, 10, 20]
