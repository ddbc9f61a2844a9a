"""The comparison rules on numbers run as numpy comparisons (``conformance.numbers``); every
verdict must be pandera's own (``fallback.pandera_check``): missing values, rules that do not
ignore them, bounds met exactly, and the rules and types the fast path leaves to pandera."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pandera
import pytest

from dvnet.contracts.compiled import Rule
from dvnet.contracts.conformance.fallback import pandera_check
from dvnet.contracts.conformance.numbers import number_check

CHECKS = {
    "ge": lambda na: pandera.Check.ge(3, ignore_na=na),
    "gt": lambda na: pandera.Check.gt(3, ignore_na=na),
    "le": lambda na: pandera.Check.le(7, ignore_na=na),
    "lt": lambda na: pandera.Check.lt(7, ignore_na=na),
    "in_range": lambda na: pandera.Check.in_range(2, 8, ignore_na=na),
    "in_range_open": lambda na: pandera.Check.in_range(2, 8, include_min=False, include_max=False, ignore_na=na),
    "ge_float_bound": lambda na: pandera.Check.ge(2.5, ignore_na=na),
}


def _series(rng: np.random.Generator, kind: str, n: int) -> pd.Series:
    values = rng.integers(-2, 12, n)
    if kind == "Int64":
        s = pd.Series(pd.array(values, dtype="Int64"))
    elif kind == "float":
        s = pd.Series(values + rng.choice([0.0, 0.5], n))
    else:
        s = pd.Series(values)  # numpy int64, no missing values
    if kind != "int64":
        s[rng.random(n) < 0.2] = None
    return s


@pytest.mark.parametrize("ignore_na", [True, False])
@pytest.mark.parametrize("kind", ["Int64", "float", "int64"])
@pytest.mark.parametrize("name", sorted(CHECKS))
def test_every_verdict_is_panderas(name, kind, ignore_na):
    rng = np.random.default_rng(len(name) * 7 + len(kind))
    s = _series(rng, kind, 300)
    check = CHECKS[name](ignore_na)
    got = number_check(check, s, len(s))
    assert got is not None and got.dtype == bool
    if kind == "Int64" and not ignore_na:  # pandera 0.35 raises on the NA outcomes it cannot gather
        with pytest.raises(ValueError):
            pandera_check(check, s, len(s))
        no_na = s.fillna(-100)  # a missing value fails, the rule ``pandera_check`` states
        expected = pandera_check(check, no_na, len(s)) | s.isna().to_numpy()
    else:
        expected = pandera_check(check, s, len(s))
    assert np.array_equal(got, expected)
    assert expected.any() and not expected.all(), "the series exercises both verdicts"
    compiled = Rule(check.name, dict(check.statistics), check.error, check.ignore_na)
    assert np.array_equal(number_check(compiled, s, len(s)), expected)


@pytest.mark.parametrize(
    "check, s",
    [
        (pandera.Check.isin([1, 2]), pd.Series([1, 2, 3])),  # not a comparison
        (pandera.Check.ge(3), pd.Series(["a", "b"], dtype="string")),  # not a number
        (pandera.Check.ge(pd.Timestamp("2026-01-01")), pd.Series(pd.to_datetime(["2026-01-02"]))),  # dates
        (pandera.Check.ge(True), pd.Series([True, False], dtype="boolean")),  # booleans
    ],
    ids=["isin", "text", "dates", "booleans"],
)
def test_other_rules_and_types_are_left_to_pandera(check, s):
    assert number_check(check, s, len(s)) is None
