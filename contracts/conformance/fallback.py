"""Rules without a fast path, run by pandera itself: any other ``Check`` (and every
dataframe-level check) by the check object, and a column of a type not read here by pandera's
validation. So a new rule in a contract is enforced before it gets a fast path. Only column, rule
and row are read from pandera's output; its failure cases (which hold values) are dropped.

A compiled contract's rule or column (``contracts.compiled``) is rebuilt as pandera's first, so
pandera is imported here only when such a rule is met, never for the released contracts' rules."""

from __future__ import annotations

import numpy as np
from typing import TYPE_CHECKING

import pandas as pd

from dvnet.contracts import compiled
from dvnet.contracts.conformance.failure import Failure

if TYPE_CHECKING:
    import pandera.pandas as pandera


def pandera_check(check: pandera.Check | compiled.Rule | compiled.FrameRule, obj: pd.Series | pd.DataFrame, n: int) -> np.ndarray:
    """Failing rows of any pandera check, by the check object itself. NA outcomes pass when the
    check ignores NA (pandera drops those rows from its output)."""
    if isinstance(check, (compiled.Rule, compiled.FrameRule)):
        check = check.pandera()
    output = check(obj).check_output
    if isinstance(output, pd.DataFrame):
        output = output.all(axis=1)
    if not isinstance(output, pd.Series):  # a scalar outcome: the whole frame passes or fails
        return np.full(n, not bool(output))
    output = output.reindex(obj.index)
    passed = output.fillna(True) if check.ignore_na else output.fillna(False)
    return ~passed.to_numpy(dtype=bool)


def pandera_column(frame: pd.DataFrame, schema: pandera.DataFrameSchema | compiled.Schema, name: str, n: int) -> list[Failure]:
    """One column through pandera itself (a type without a fast path). Reads only the column,
    rule and row of each failure case; the frame of cases, holding values, is dropped at once."""
    import pandera.pandas as pandera

    column = schema.columns[name]
    if isinstance(column, compiled.Column):
        column = column.pandera()
    try:
        pandera.DataFrameSchema({name: column}).validate(frame, lazy=True)
        return []
    except pandera.errors.SchemaErrors as e:
        cases = e.failure_cases[["check", "index"]].copy()
    out = []
    for check, group in cases.groupby("check", dropna=False, sort=False):
        idx = group["index"].dropna()
        mask = np.zeros(n, dtype=bool)
        if len(idx) == 0:
            mask[:] = True
        else:
            mask[frame.index.get_indexer(idx)] = True
        out.append(Failure(name, str(check), mask, not column.nullable))
    return out
