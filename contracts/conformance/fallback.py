"""Rules without a fast path, run by pandera itself: any other ``Check`` (and every
dataframe-level check) by the check object, and a column of a type not read here by pandera's
validation. So a new rule in a contract is enforced before it gets a fast path. Only column, rule
and row are read from pandera's output; its failure cases (which hold values) are dropped."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pandera

from dvnet.contracts.conformance.failure import Failure


def pandera_check(check: pandera.Check, obj: pd.Series | pd.DataFrame, n: int) -> np.ndarray:
    """Failing rows of any pandera check, by the check object itself. NA outcomes pass when the
    check ignores NA (pandera drops those rows from its output)."""
    output = check(obj).check_output
    if isinstance(output, pd.DataFrame):
        output = output.all(axis=1)
    if not isinstance(output, pd.Series):  # a scalar outcome: the whole frame passes or fails
        return np.full(n, not bool(output))
    output = output.reindex(obj.index)
    passed = output.fillna(True) if check.ignore_na else output.fillna(False)
    return ~passed.to_numpy(dtype=bool)


def pandera_column(frame: pd.DataFrame, schema: pandera.DataFrameSchema, name: str, n: int) -> list[Failure]:
    """One column through pandera itself (a type without a fast path). Reads only the column,
    rule and row of each failure case; the frame of cases, holding values, is dropped at once."""
    column = schema.columns[name]
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
