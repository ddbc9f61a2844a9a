"""Uniqueness rules: above ``DUCKDB_DISTINCT_MIN`` values the distinct values are counted by
DuckDB instead of Arrow; the rows reported must not depend on which one counted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pandera
import pytest

from dvnet.contracts import conformance
from dvnet.kernels import distinct

VALUES = ["E-1", "E-2", None, "caf\u00e9", "cafe\u0301", "E-3", "", " E-1", "e-1"]  # distinct byte for byte


def _duplicate_rows(values: list[str | None]) -> list[int]:
    frame = pd.DataFrame({"id": pd.array(values, dtype="string[pyarrow]")})
    schema = pandera.DataFrameSchema({"id": pandera.Column(pd.StringDtype(), nullable=True, unique=True)})
    return [int(i) for f in conformance.schema_failures(frame, schema) for i in np.flatnonzero(f.mask)]


@pytest.mark.parametrize("counter", ["arrow", "duckdb"])
@pytest.mark.parametrize("repeat", [None, "E-2", "cafe\u0301"])
def test_both_counters_find_the_same_duplicates(monkeypatch, counter, repeat):
    monkeypatch.setattr(distinct, "DUCKDB_DISTINCT_MIN", 10**9 if counter == "arrow" else 1)
    values = VALUES + ([repeat] if repeat else []) + [None]
    expected = [i for i, v in enumerate(values) if v is not None and values.count(v) > 1]
    assert _duplicate_rows(values) == expected
