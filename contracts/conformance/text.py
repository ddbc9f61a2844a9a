"""Text columns as Arrow, and the built-in text rules (``isin``, ``str_length``,
``str_matches``) as Arrow kernels: a failing row is a mask bit, never a value."""

from __future__ import annotations

import numpy as np
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dvnet.kernels.distinct import distinct_positions
from dvnet.kernels.masks import bool_mask
from dvnet.kernels.text_match import match_mask

if TYPE_CHECKING:
    import pandera.pandas as pandera

    from dvnet.contracts.compiled import Rule

TEXT = pd.StringDtype("pyarrow")
LARGE_STRING = pa.large_string()


def as_text(s: pd.Series) -> pd.Series:
    """``s`` as Arrow-backed text (no copy when it already is: the reader's frames are)."""
    if isinstance(s.dtype, pd.StringDtype) and s.dtype.storage == "pyarrow":
        return s
    return s.astype(TEXT)


def arrow_text(s: pd.Series) -> pa.ChunkedArray:
    """The Arrow large-string array behind an Arrow-backed text series (a view, not a copy)."""
    arr = pa.array(as_text(s).array)
    if isinstance(arr, pa.Array):
        arr = pa.chunked_array([arr])
    return arr if arr.type == LARGE_STRING else arr.cast(LARGE_STRING)


def distinct_values(col: pa.ChunkedArray) -> tuple[pd.Series, np.ndarray]:
    """The distinct non-null values (as a pandas ``string`` series of Python strings, what the
    contract's conversions were written against) and, per row, the index of its value (-1: NA)."""
    uniques, positions = distinct_positions(col)
    return pd.Series(pd.array(uniques.to_pylist(), dtype="string")), positions


def text_check(check: pandera.Check | Rule, text: pa.ChunkedArray, n: int) -> np.ndarray | None:
    """Failing rows of a built-in text check, or None when it has no fast path here.
    ``str_matches`` keeps Python ``re.match`` semantics exactly (``kernels.text_match``)."""
    stats = check.statistics or {}
    if check.name == "isin" and all(isinstance(v, str) for v in stats.get("allowed_values", [None])):
        allowed = pa.array(list(stats["allowed_values"]), LARGE_STRING)
        return bool_mask(pc.is_valid(text), n) & ~bool_mask(pc.is_in(text, value_set=allowed), n)
    if check.name == "str_matches" and isinstance(stats.get("pattern"), str):
        return bool_mask(pc.is_valid(text), n) & ~match_mask(text, stats["pattern"])
    if check.name == "str_length":
        length = pc.utf8_length(text)
        ok = pc.is_valid(text)
        lo, hi, exact = stats.get("min_value"), stats.get("max_value"), stats.get("exact_value")
        if exact is not None:
            ok = pc.and_(ok, pc.equal(length, exact))
        if lo is not None:
            ok = pc.and_(ok, pc.greater_equal(length, lo))
        if hi is not None:
            ok = pc.and_(ok, pc.less_equal(length, hi))
        return bool_mask(pc.is_valid(text), n) & ~bool_mask(ok, n)
    return None
