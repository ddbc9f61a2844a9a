"""Every rule of a schema over a frame, column by column: presence, type, nullability,
uniqueness, then each check by the fastest exact way there is for it (Arrow text kernels, coded
text, numpy comparisons, a dataframe-level check's own function, or pandera itself)."""

from __future__ import annotations

import numpy as np
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dvnet.contracts.conformance.coded import coded_failures, is_coded_text
from dvnet.contracts.conformance.failure import ROW_COLUMN, Failure
from dvnet.contracts.conformance.fallback import pandera_check, pandera_column
from dvnet.contracts.conformance.frame import frame_check
from dvnet.contracts.conformance.numbers import number_check
from dvnet.contracts.conformance.text import arrow_text, text_check
from dvnet.kernels.column_pool import run_per_column
from dvnet.kernels.distinct import distinct_count, distinct_positions
from dvnet.kernels.masks import bool_mask
from dvnet.kernels.value_hashes import HashSet, text_hashes

if TYPE_CHECKING:
    import pandera.pandas as pandera

    from dvnet.contracts.compiled import Schema

#: What a block is told of a unique column's values repeated in the whole extract: the values,
#: or (before they are compared) the hashes of the values that may be (``HashSet``).
Repeated = pa.Array | pa.ChunkedArray | HashSet


def schema_failures(frame: pd.DataFrame, schema: pandera.DataFrameSchema | Schema, repeated: dict[str, Repeated] | None = None) -> list[Failure]:
    """Every (column, rule) of ``schema`` that some rows of ``frame`` fail, with the rows.

    Covers presence, type, nullability, uniqueness, each column check and each dataframe-level
    check; rules with no failing row are left out. Order: columns in schema order (type,
    nullability, uniqueness, then the checks as declared), then dataframe-level checks.
    Unexpected columns are not reported (callers check the column set first). ``repeated``, for a
    frame that is one block of a larger extract: uniqueness is not decided within the frame but
    by the values of each unique column known to occur more than once in the whole (a column
    not named holds none), or by their hashes (every row whose value hashes alike is marked).

    Columns are checked in a small thread pool: the Arrow kernels release the GIL, so on a
    million rows the columns of a contract overlap on the machine's cores.
    """
    n = len(frame)
    per_column = run_per_column(lambda item: _column_failures(frame, schema, *item, repeated), list(schema.columns.items()), n)
    out = [f for failures in per_column for f in failures]
    for check in schema.checks:
        mask = frame_check(check, frame, n)
        if mask.any():
            out.append(Failure(ROW_COLUMN, check.error or check.name, mask, True))
    return out


def _column_failures(frame: pd.DataFrame, schema: pandera.DataFrameSchema | Schema, name: str, column, repeated: dict[str, Repeated] | None = None) -> list[Failure]:
    """The failures of one column of ``schema``, in the order ``schema_failures`` documents."""
    n = len(frame)
    required = not column.nullable
    if name not in frame.columns:
        return [Failure(name, "column_in_dataframe", np.ones(n, dtype=bool), True)]
    s = frame[name]
    declared = str(column.dtype) if column.dtype is not None else None
    typed = _dtype_ok(s, declared) if declared else True
    if typed is None:  # a type with no fast path: pandera checks the whole column
        return pandera_column(frame[[name]], schema, name, n)
    if not typed:
        return [Failure(name, f"dtype('{declared}')", np.ones(n, dtype=bool), required)]
    if is_coded_text(s):
        return coded_failures(s, column, name, required)
    out: list[Failure] = []
    is_text = isinstance(s.dtype, pd.StringDtype)
    text = arrow_text(s) if is_text else None
    present = bool_mask(pc.is_valid(text), n) if is_text else s.notna().to_numpy()
    if required and not present.all():
        out.append(Failure(name, "not_nullable", ~present, True))
    if column.unique:
        dup = _duplicated(s, text, present) if repeated is None else _one_of(s, text, present, repeated.get(name))
        if dup.any():
            out.append(Failure(name, "field_uniqueness", dup, required))
    for check in column.checks:
        mask = text_check(check, text, n) if is_text else number_check(check, s, n)
        if mask is None:
            mask = pandera_check(check, s, n)
        if mask.any():
            out.append(Failure(name, check.error or check.name, mask, required))
    return out


def _dtype_ok(s: pd.Series, declared: str) -> bool | None:
    """Whether ``s`` holds the declared type (storage aside); None for a type not listed here."""
    if declared.startswith("string"):
        return isinstance(s.dtype, pd.StringDtype) or is_coded_text(s)
    if declared == "boolean":
        return isinstance(s.dtype, pd.BooleanDtype)
    if declared == "Int64":
        return isinstance(s.dtype, pd.Int64Dtype)
    if declared == "datetime64[ns]":
        return str(s.dtype) == "datetime64[ns]"
    return None


def row_hashes(s: pd.Series) -> np.ndarray:
    """One 64-bit hash per row of ``s`` (a null's is unspecified): text by ``text_hashes``,
    anything else by pandas' own hash of the values."""
    if isinstance(s.dtype, pd.StringDtype):
        return text_hashes(arrow_text(s))
    return pd.util.hash_pandas_object(s, index=False).to_numpy(dtype=np.uint64)


def _one_of(s: pd.Series, text: pa.ChunkedArray | None, present: np.ndarray, values: Repeated | None) -> np.ndarray:
    """The rows holding one of ``values`` (of a ``HashSet``: whose value hashes as one of them)."""
    if values is None or not len(values):
        return np.zeros(len(s), dtype=bool)
    if isinstance(values, HashSet):
        return present & values.may_hold(row_hashes(s))
    if text is not None:
        return bool_mask(pc.is_in(text, value_set=values), len(s))
    return s.isin(values.to_pylist()).to_numpy(dtype=bool)


def _duplicated(s: pd.Series, text: pa.ChunkedArray | None, present: np.ndarray) -> np.ndarray:
    """Every row whose non-null value occurs more than once (pandera's report_duplicates="all")."""
    if text is not None:
        if distinct_count(text) == int(present.sum()):
            return np.zeros(len(s), dtype=bool)
        _, positions = distinct_positions(text)
        counts = np.bincount(positions[positions >= 0], minlength=1)
        return (positions >= 0) & (counts[np.maximum(positions, 0)] > 1)
    return (s.duplicated(keep=False) & s.notna()).to_numpy()
