"""take_rows: the kept rows of every kind of column, and with ``consume`` the source frame gives
up each column as it is taken (a contribution's rows are then never held twice whole)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dvnet.anonymize.deidentify import take_rows


def _frame(n: int = 50) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame({
        "text": pd.array([None if i % 7 == 0 else f"t{i}" for i in range(n)], dtype="string[pyarrow]"),
        "coded": pd.Categorical(rng.choice(["a", "b", None], n), categories=["a", "b", "c"]),
        "flag": pd.array(rng.choice([True, False, None], n), dtype="boolean"),
        "date": pd.to_datetime(rng.integers(0, 10_000, n), unit="D"),
    })


@pytest.mark.parametrize("keep_every", [False, True], ids=["some rows", "every row"])
def test_consuming_gives_the_same_rows_and_empties_the_source(keep_every):
    keep = np.ones(50, dtype=bool) if keep_every else np.arange(50) % 3 != 1
    want = _frame()[keep].reset_index(drop=True)
    kept = take_rows(_frame(), keep)
    source = _frame()
    consumed = take_rows(source, keep, consume=True)
    pd.testing.assert_frame_equal(kept, want)
    pd.testing.assert_frame_equal(consumed, want)
    assert list(source.columns) == []  # every column left the source as it was taken
