"""Dataframe-level checks are run by their own function (``conformance.frame``), not by
pandera's check machinery; every verdict must still be pandera's (``fallback.pandera_check``):
rows where the function is NA, rows whose columns are all NA, checks that do not ignore NA, and
the checks the fast path leaves to pandera."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pandera
import pytest

from dvnet.contracts.conformance import schema_failures
from dvnet.contracts.conformance.failure import ROW_COLUMN
from dvnet.contracts.conformance.fallback import pandera_check
from dvnet.contracts.conformance.frame import frame_check
from dvnet.contracts.registry import get_contract
from dvnet.contracts.v1.service_episode import ServiceEpisode


def _frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    start = pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 90, n), unit="D")
    end = start + pd.to_timedelta(rng.integers(-5, 30, n), unit="D")
    frame = pd.DataFrame(
        {
            "episode_start": pd.Series(start),
            "episode_end": pd.Series(end),
            "a": pd.array(rng.integers(0, 5, n), dtype="Int64"),
            "b": pd.array(rng.choice(["x", "y", "z"], n), dtype="string"),
        }
    )
    for column, share in (("episode_start", 0.1), ("episode_end", 0.2), ("a", 0.3), ("b", 0.3)):
        frame.loc[rng.random(n) < share, column] = None
    frame.iloc[rng.choice(n, n // 10, replace=False)] = None  # rows with every column NA
    return frame


def _nullable_outcome(df: pd.DataFrame) -> pd.Series:  # NA where a is NA
    return df["a"] < 3


def _by_row(row: pd.Series) -> bool:
    return pd.isna(row["a"]) or row["a"] != 4


CHECKS = {
    "end_not_before_start": ServiceEpisode.to_schema().checks[0],
    "end_not_before_start_compiled": get_contract("service_episode").source_schema.checks[0],
    "plain_outcome_ignoring_na": pandera.Check(lambda df: df["b"].fillna("") != "x"),
    "plain_outcome_not_ignoring_na": pandera.Check(lambda df: df["b"].fillna("") != "x", ignore_na=False),
    "all_na_rows_fail_the_function": pandera.Check(lambda df: df["a"].fillna(0) > 0),  # pandera excuses them
    "table_outcome": pandera.Check(lambda df: pd.DataFrame({c: df.index.to_series() % 3 != 0 for c in df.columns})),
    "scalar_outcome": pandera.Check(lambda df: bool(df["a"].sum() < 10)),
    "element_wise": pandera.Check(_by_row, element_wise=True),
    "other_index": pandera.Check(lambda df: (df["a"] < 3).reset_index(drop=True).iloc[::-1]),
}


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("name", sorted(CHECKS))
def test_every_verdict_is_panderas(name, seed):
    rng = np.random.default_rng(seed)
    frame = _frame(rng, int(rng.integers(1, 400)))
    if seed % 2:
        frame.index = rng.permutation(len(frame)) + 1000  # not a range index
    check = CHECKS[name]
    expected = pandera_check(CHECKS[name.removesuffix("_compiled")], frame, len(frame))  # the model's check, by pandera
    got = frame_check(check, frame, len(frame))
    assert got.dtype == bool and np.array_equal(got, expected)
    if name in ("end_not_before_start", "end_not_before_start_compiled", "plain_outcome_ignoring_na", "plain_outcome_not_ignoring_na", "all_na_rows_fail_the_function"):
        assert expected.any() and not expected.all(), "the frame exercises both verdicts"


@pytest.mark.parametrize("ignore_na", [True, False])
def test_an_na_outcome_passes_when_the_check_ignores_na_where_pandera_raises(ignore_na):
    frame = pd.DataFrame({"a": pd.array([1, None, 4, None], dtype="Int64"), "b": pd.array(["x", "y", None, None], dtype="string")})
    check = pandera.Check(_nullable_outcome, ignore_na=ignore_na)  # [True, NA, False, NA]; the last row all NA
    with pytest.raises(ValueError):  # pandera 0.35 cannot gather failure cases from a boolean with NA
        pandera_check(check, frame, 4)
    expected = [False, False, True, False] if ignore_na else [False, True, True, True]
    assert frame_check(check, frame, 4).tolist() == expected


def test_all_na_rows_pass_a_check_that_ignores_na_and_only_those():
    frame = pd.DataFrame(
        {
            "episode_start": pd.to_datetime(["2026-01-10", None, "2026-01-10", None]),
            "episode_end": pd.to_datetime(["2026-01-01", None, "2026-01-01", "2026-01-01"]),
            "a": pd.array([1, None, None, None], dtype="Int64"),
        }
    )
    check = pandera.Check(lambda df: df["episode_end"] >= df["episode_start"])  # NaT compares False
    assert frame_check(check, frame, 4).tolist() == [True, False, True, True] == pandera_check(check, frame, 4).tolist()
    strict = pandera.Check(lambda df: df["episode_end"] >= df["episode_start"], ignore_na=False)
    assert frame_check(strict, frame, 4).tolist() == [True, True, True, True] == pandera_check(strict, frame, 4).tolist()


def test_schema_failures_reports_the_frame_check_by_its_rows():
    schema = ServiceEpisode.to_schema()
    frame = pd.DataFrame(
        {
            "episode_start": pd.to_datetime(["2026-01-10", "2026-01-10", "2026-01-10"]),
            "episode_end": pd.to_datetime(["2026-01-11", "2026-01-09", None]),
        }
    )
    only_frame_rule = pandera.DataFrameSchema(checks=schema.checks)
    [failure] = schema_failures(frame, only_frame_rule)
    assert failure.column == ROW_COLUMN and failure.rule == "end_not_before_start"
    assert failure.mask.tolist() == [False, True, False]
