"""The built-in comparison rules on numbers (``greater_than_or_equal_to``, ``in_range`` and the
like) as numpy comparisons over the column's values: a failing row is a mask bit. A missing
value passes when the rule ignores NA (pandera's default) and fails otherwise, as in pandera.
``tests/unit/contracts/test_contracts_number_checks.py`` compares every verdict with pandera's."""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import pandera.pandas as pandera

    from dvnet.contracts.compiled import Rule

_BOUNDS = {
    "greater_than_or_equal_to": (("min_value", operator.ge),),
    "greater_than": (("min_value", operator.gt),),
    "less_than_or_equal_to": (("max_value", operator.le),),
    "less_than": (("max_value", operator.lt),),
}


def number_check(check: pandera.Check | Rule, s: pd.Series, n: int) -> np.ndarray | None:
    """Failing rows of a built-in comparison on a numeric column, or None when it has no fast
    path here (another rule, another type, or a bound that is not a plain number)."""
    if not (pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)):
        return None
    stats = check.statistics or {}
    if check.name == "in_range":
        low_op = operator.ge if stats.get("include_min", True) else operator.gt
        high_op = operator.le if stats.get("include_max", True) else operator.lt
        bounds = (("min_value", low_op), ("max_value", high_op))
    else:
        bounds = _BOUNDS.get(check.name)
    if bounds is None or not all(isinstance(stats.get(key), (int, float)) and not isinstance(stats.get(key), bool) for key, _ in bounds):
        return None
    present = s.notna().to_numpy(dtype=bool)
    values = s.to_numpy(dtype="int64", na_value=0) if s.dtype.kind == "i" else s.to_numpy(dtype="float64", na_value=np.nan)
    ok = np.ones(n, dtype=bool)
    with np.errstate(invalid="ignore"):
        for key, compare in bounds:
            ok &= compare(values, stats[key])
    failed = present & ~ok
    if not check.ignore_na:
        failed |= ~present
    return failed
