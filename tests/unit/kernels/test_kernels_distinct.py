"""kernels.distinct against its reference, a Python set, on both of its paths."""

from __future__ import annotations

import pyarrow as pa
import pytest

from dvnet.kernels.distinct import distinct_count


@pytest.mark.parametrize("duckdb_min", [1, 10**9], ids=["duckdb", "arrow"])
@pytest.mark.parametrize(
    "values",
    [[], [None], ["a"], ["a", "a", None, "b"], ["x", "X", "x ", "é", "e\u0301", None, None], [str(i % 37) for i in range(1000)]],
)
def test_distinct_count_equals_a_python_set(values, duckdb_min):
    text = pa.chunked_array([pa.array(values, type=pa.large_string())])
    assert distinct_count(text, duckdb_min=duckdb_min) == len(set(values) - {None})
