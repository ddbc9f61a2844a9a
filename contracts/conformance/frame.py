"""Dataframe-level checks (a rule over several columns of a row, such as ``episode_end`` not
before ``episode_start``) by the check's own function, without pandera's bookkeeping around it.

pandera's reference is ``fallback.pandera_check``: it runs the same function, then, for a check
that ignores NA, lets every row pass whose columns are all NA (``isna().all(axis=1)`` over the
whole frame) and gathers the failing rows' values as failure cases. Both are work over every
column of every row, about 60 ms a block of 131,072 service episodes for a function that itself
takes 1 ms. Here the all-NA rule is asked only of the rows the function failed (normally none),
and no failure cases are gathered (dvnet never reads them). An outcome that is NA passes when the
check ignores NA and fails otherwise, the rule ``pandera_check`` states (pandera 0.35 itself
raises on such an outcome while gathering its failure cases). The verdicts are pandera's: a check
this path does not cover (grouped, element-wise, or an outcome that is not one boolean per row
of the frame) goes to pandera itself, and ``tests/unit/contracts/test_contracts_frame_checks.py``
compares every verdict with ``pandera_check``.
"""

from __future__ import annotations

import numpy as np
from typing import TYPE_CHECKING

import pandas as pd

from dvnet.contracts import compiled
from dvnet.contracts.conformance.fallback import pandera_check

if TYPE_CHECKING:
    import pandera.pandas as pandera


def frame_check(check: pandera.Check | compiled.FrameRule, frame: pd.DataFrame, n: int) -> np.ndarray:
    """The rows of ``frame`` failing the dataframe-level ``check``: pandera's verdicts. A
    compiled contract's rule runs its function of ``contracts.rules``, as its model does."""
    if isinstance(check, compiled.FrameRule):
        function, kwargs = check.function, {}
    else:
        function, kwargs = getattr(check, "_check_fn", None), getattr(check, "_check_kwargs", {})
    if function is None or check.groupby is not None or check.element_wise:
        return pandera_check(check, frame, n)
    output = function(frame, **kwargs)
    if not isinstance(output, pd.Series) or not output.index.equals(frame.index):
        return pandera_check(check, frame, n)
    passed = output.fillna(True) if check.ignore_na else output.fillna(False)
    failed = ~passed.to_numpy(dtype=bool)
    if check.ignore_na and failed.any():
        rows = np.flatnonzero(failed)
        failed[rows[frame.iloc[rows].isna().all(axis=1).to_numpy(dtype=bool)]] = False
    return failed
