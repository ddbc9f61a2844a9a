"""Contract conformance: which rows of a frame break which rule of a contract model.

The contract's pandera model is the single source of truth for types and rules; this module
evaluates them column-wise, for the contributor's validation of an extract, for the de-identified
output before it is sealed, and for the coordinator's re-validation of every record-mode bundle.
pandera's pandas backend is not what runs them on a million rows: it turns Arrow-backed text into
Python strings and calls a Python function per cell (about 30 s for a million service episodes),
and its ``failure_cases`` carry the raw values. Here a failure is a boolean mask, never a value:

* text rules (``isin``, ``str_length``, ``str_matches``) run as Arrow kernels; ``str_matches``
  keeps Python ``re.match`` semantics exactly (RE2 decides plain-ASCII cells, Python's ``re``
  every cell where the two engines could differ);
* any other check, and the models' dataframe-level checks, are run by the pandera ``Check``
  object itself, so a new rule in a contract is enforced before it gets a fast path.

pyarrow is imported here although DESIGN §4 lists pandas and pandera only for ``contracts/``:
it is the storage behind pandas' own ``string[pyarrow]`` columns, not a new dependency.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pandas as pd
import pandera.pandas as pandera
import pyarrow as pa
import pyarrow.compute as pc

from dvnet.kernels.distinct import distinct_count

_TEXT = pd.StringDtype("pyarrow")
_LARGE_STRING = pa.large_string()
# Where RE2 (Arrow) and Python's re can disagree on an ASCII text: ``$`` also matches before a
# final newline in Python, and Python's ``\s`` also matches \v and \x1c-\x1f. Such cells (and
# every non-ASCII cell) are matched with Python's re.
_RE2_UNSAFE = "[\\n\\x0b\\x1c-\\x1f]"
# Patterns RE2 may decide: escapes and constructs that mean the same in both engines on ASCII
# text. Anything else (POSIX classes, "{,n}", look-arounds, \Z, ...) goes to Python's re.
_RE2_SAFE_ESCAPES = frozenset("sSdDwW.-\\()[]{}|*+?^$/:_")
#: Below this many rows the columns are checked one after another (threads cost more than they save).
_PARALLEL_MIN_ROWS = 50_000
ROW_COLUMN = "(row)"
T = TypeVar("T")
R = TypeVar("R")  # the column named for a rule over several columns (a dataframe-level check)


@dataclass
class Failure:
    """Rows of a frame failing one rule of a schema: a boolean mask, never the values."""

    column: str  # ROW_COLUMN for a dataframe-level check
    rule: str
    mask: np.ndarray
    required: bool


# --- text columns as Arrow, and per-distinct-value evaluation ---------------------------------


def as_text(s: pd.Series) -> pd.Series:
    """``s`` as Arrow-backed text (no copy when it already is: the reader's frames are)."""
    if isinstance(s.dtype, pd.StringDtype) and s.dtype.storage == "pyarrow":
        return s
    return s.astype(_TEXT)


def arrow_text(s: pd.Series) -> pa.ChunkedArray:
    """The Arrow large-string array behind an Arrow-backed text series (a view, not a copy)."""
    arr = pa.array(as_text(s).array)
    if isinstance(arr, pa.Array):
        arr = pa.chunked_array([arr])
    return arr if arr.type == _LARGE_STRING else arr.cast(_LARGE_STRING)


def distinct_values(col: pa.ChunkedArray) -> tuple[pd.Series, np.ndarray]:
    """The distinct non-null values (as a pandas ``string`` series of Python strings, what the
    contract's conversions were written against) and, per row, the index of its value (-1: NA)."""
    uniques = pc.unique(col).drop_null()
    index = pc.fill_null(pc.index_in(col, value_set=uniques), -1)
    positions = index.to_numpy() if isinstance(index, pa.Array) else np.concatenate(
        [c.to_numpy(zero_copy_only=False) for c in index.chunks] or [np.zeros(0, np.int32)]
    )
    return pd.Series(pd.array(uniques.to_pylist(), dtype="string")), positions.astype(np.int64, copy=False)


def spread(per_value: np.ndarray, positions: np.ndarray, missing) -> np.ndarray:
    """Per-row values from per-distinct-value answers; ``missing`` where the cell is NA."""
    return np.append(per_value, np.asarray([missing], dtype=per_value.dtype))[positions]


# --- contract rules, column-wise ----------------------------------------------------------------


def bool_mask(values, n: int) -> np.ndarray:
    """A numpy bool mask from an Arrow boolean result (nulls count as False)."""
    filled = pc.fill_null(values, False)
    if isinstance(filled, pa.ChunkedArray):
        return np.concatenate([c.to_numpy(zero_copy_only=False) for c in filled.chunks]) if filled.num_chunks else np.zeros(n, bool)
    return filled.to_numpy(zero_copy_only=False)


def _python_match(values: pd.Series, pattern: str) -> np.ndarray:
    regex = re.compile(pattern)
    return np.fromiter((regex.match(v) is not None for v in values.tolist()), dtype=bool, count=len(values))


_UNSAFE_BYTES = np.zeros(256, dtype=bool)
_UNSAFE_BYTES[[10, 11, 28, 29, 30, 31]] = True
_UNSAFE_BYTES[128:] = True  # any byte of a non-ASCII character


def _any_unsafe_byte(text: pa.ChunkedArray) -> bool:
    """Whether any cell may need Python's re (see ``_RE2_UNSAFE``): one pass over the bytes."""
    for chunk in text.chunks:
        _, offsets, data = chunk.buffers()
        if data is None or len(chunk) == 0:
            continue
        bounds = np.frombuffer(offsets, dtype=np.int64)[chunk.offset : chunk.offset + len(chunk) + 1]
        data = np.frombuffer(data, dtype=np.uint8)[bounds[0] : bounds[-1]]
        if data.size and (data.max() >= 128 or data.min() < 32) and _UNSAFE_BYTES[data].any():
            return True  # (two reductions settle the usual all-printable-ASCII column)
    return False


def _re2_can_decide(pattern: str) -> bool:
    """Whether ``pattern`` uses only constructs RE2 and Python's re read alike (on ASCII)."""
    if "[:" in pattern or "{," in pattern or re.search(r"\(\?(?!:)", pattern):
        return False
    escapes = re.findall(r"\\(.)", pattern)
    return all(e in _RE2_SAFE_ESCAPES for e in escapes)


_FIXED_WIDTH = re.compile(r"\^\[([A-Za-z0-9-]+)\]\{(\d+)\}\$")


def _fixed_width_class(pattern: str) -> tuple[list[tuple[int, int]], int] | None:
    """For a pattern ``^[class]{n}$`` whose class is made of ASCII letters, digits and ranges
    (pseudonyms, linkage tokens): the class as runs of byte values (first, last), exactly as
    Python's re reads it (each ASCII byte is tried against the class), and ``n``."""
    found = _FIXED_WIDTH.fullmatch(pattern)
    if found is None:
        return None
    try:
        member = re.compile(f"[{found.group(1)}]")
    except re.error:
        return None
    inside = [b for b in range(128) if member.fullmatch(chr(b))]
    runs: list[tuple[int, int]] = []
    for b in inside:
        if runs and runs[-1][1] == b - 1:
            runs[-1] = (runs[-1][0], b)
        else:
            runs.append((b, b))
    return runs, int(found.group(2))


_BYTE_STEP = 1 << 16  # bytes per step of _bytes_in_runs: the temporaries stay in cache


def _bytes_in_runs(data: np.ndarray, runs: list[tuple[int, int]]) -> bool:
    """Whether every byte of ``data`` lies in one of the ``runs`` (about 6 ms for 21 MB)."""
    for start in range(0, len(data), _BYTE_STEP):
        piece, ok = data[start : start + _BYTE_STEP], None
        for low, high in runs:
            inside = (piece - np.uint8(low)) <= np.uint8(high - low)  # one comparison: uint8 wraps
            ok = inside if ok is None else ok | inside
        if ok is None or not ok.all():
            return False
    return True


def _all_fixed_width(text: pa.ChunkedArray, runs: list[tuple[int, int]], width: int) -> bool:
    """Whether every cell is present, exactly ``width`` bytes long and made of bytes in
    ``runs`` (ASCII only): then every cell matches ``^[class]{width}$``, in Python's re too."""
    for chunk in text.chunks:
        if len(chunk) == 0:
            continue
        _, offsets, data = chunk.buffers()
        bounds = np.frombuffer(offsets, dtype=np.int64)[chunk.offset : chunk.offset + len(chunk) + 1]
        if chunk.null_count or data is None or not (np.diff(bounds) == width).all():
            return False
        if not _bytes_in_runs(np.frombuffer(data, dtype=np.uint8)[bounds[0] : bounds[-1]], runs):
            return False
    return True


def _str_matches(text: pa.ChunkedArray, pattern: str, n: int) -> np.ndarray:
    """Per row: the non-null cell does *not* match ``re.match(pattern)``. A fixed-width column
    of a single character class (``_fixed_width_class``) that wholly conforms is settled in one
    pass over its bytes; anything else goes through the engines below."""
    fixed = _fixed_width_class(pattern)
    if fixed is not None and _all_fixed_width(text, *fixed):
        return np.zeros(n, dtype=bool)
    present = bool_mask(pc.is_valid(text), n)
    re2, unsafe = np.zeros(n, dtype=bool), present
    if _re2_can_decide(pattern):
        try:
            re2 = bool_mask(pc.match_substring_regex(text, f"^(?:{pattern})"), n)  # re.match anchors at the start
            unsafe = np.zeros(n, dtype=bool)
            if _any_unsafe_byte(text):
                unsafe = present & (~bool_mask(pc.string_is_ascii(text), n) | bool_mask(pc.match_substring_regex(text, _RE2_UNSAFE), n))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # a construct RE2 lacks
            re2, unsafe = np.zeros(n, dtype=bool), present
    if unsafe.any():
        rows = np.flatnonzero(unsafe)
        distinct, positions = distinct_values(text.take(pa.array(rows)))
        re2[rows] = spread(_python_match(distinct, pattern), positions, False)
    return present & ~re2


def _text_check(check: pandera.Check, text: pa.ChunkedArray, n: int) -> np.ndarray | None:
    """Failing rows of a built-in text check, or None when it has no fast path here."""
    stats = check.statistics or {}
    if check.name == "isin" and all(isinstance(v, str) for v in stats.get("allowed_values", [None])):
        allowed = pa.array(list(stats["allowed_values"]), _LARGE_STRING)
        return bool_mask(pc.is_valid(text), n) & ~bool_mask(pc.is_in(text, value_set=allowed), n)
    if check.name == "str_matches" and isinstance(stats.get("pattern"), str):
        return _str_matches(text, stats["pattern"], n)
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


def _pandera_check(check: pandera.Check, obj: pd.Series | pd.DataFrame, n: int) -> np.ndarray:
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


def is_coded_text(s: pd.Series) -> bool:
    """Whether ``s`` is text held as codes into a list of values (a pandas categorical of text,
    as validation makes a code-list column: see ``code_column``)."""
    return isinstance(s.dtype, pd.CategoricalDtype) and s.cat.categories.inferred_type in ("string", "empty")


def code_column(text: pd.Series, allowed: list[str]) -> tuple[pd.Series, np.ndarray]:
    """A text column whose values come from the code list ``allowed``, as codes into that list
    (a pandas categorical of ``allowed``, in that order), and the rows whose value is not on
    the list (they become NA). Every later step reads the codes instead of the text: k-anonymity
    classes, row selection and the output checks work on small integers, and Parquet writes the
    dictionary it is given instead of hashing every value again."""
    allowed = list(dict.fromkeys(allowed))  # a list given twice over is still one list of codes
    values = arrow_text(text)
    found = pc.fill_null(pc.index_in(values, value_set=pa.array(allowed, _LARGE_STRING)), -1)
    codes = np.concatenate([c.to_numpy() for c in found.chunks]) if found.num_chunks else np.zeros(0, np.int32)
    off_list = (codes < 0) & bool_mask(pc.is_valid(values), len(values))
    coded = pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(allowed))  # pandas narrows the codes
    return pd.Series(coded, index=text.index), off_list


def run_per_column(work: Callable[[T], R], columns: list[T], rows: int) -> list[R]:
    """``work`` for each column, in order: in a small thread pool for large frames (the Arrow and
    numpy kernels release Python's lock, so columns overlap on the machine's cores), one after
    another below ``_PARALLEL_MIN_ROWS`` rows, where threads cost more than they save."""
    if rows < _PARALLEL_MIN_ROWS or len(columns) < 2:
        return [work(c) for c in columns]
    with ThreadPoolExecutor(max_workers=min(len(columns), os.cpu_count() or 1), thread_name_prefix="dvnet-columns") as pool:
        return list(pool.map(work, columns))


def schema_failures(frame: pd.DataFrame, schema: pandera.DataFrameSchema) -> list[Failure]:
    """Every (column, rule) of ``schema`` that some rows of ``frame`` fail, with the rows.

    Covers presence, type, nullability, uniqueness, each column check and each dataframe-level
    check; rules with no failing row are left out. Order: columns in schema order (type,
    nullability, uniqueness, then the checks as declared), then dataframe-level checks.
    Unexpected columns are not reported (callers check the column set first).

    Columns are checked in a small thread pool: the Arrow kernels release the GIL, so on a
    million rows the columns of a contract overlap on the machine's cores.
    """
    n = len(frame)
    per_column = run_per_column(lambda item: _column_failures(frame, schema, *item), list(schema.columns.items()), n)
    out = [f for failures in per_column for f in failures]
    for check in schema.checks:
        mask = _pandera_check(check, frame, n)
        if mask.any():
            out.append(Failure(ROW_COLUMN, check.error or check.name, mask, True))
    return out


def _column_failures(frame: pd.DataFrame, schema: pandera.DataFrameSchema, name: str, column) -> list[Failure]:
    """The failures of one column of ``schema``, in the order ``schema_failures`` documents."""
    n = len(frame)
    required = not column.nullable
    if name not in frame.columns:
        return [Failure(name, "column_in_dataframe", np.ones(n, dtype=bool), True)]
    s = frame[name]
    declared = str(column.dtype) if column.dtype is not None else None
    typed = _dtype_ok(s, declared) if declared else True
    if typed is None:  # a type with no fast path: pandera checks the whole column
        return _pandera_column(frame[[name]], schema, name, n)
    if not typed:
        return [Failure(name, f"dtype('{declared}')", np.ones(n, dtype=bool), required)]
    if is_coded_text(s):
        return _coded_failures(s, column, name, required)
    out: list[Failure] = []
    is_text = isinstance(s.dtype, pd.StringDtype)
    text = arrow_text(s) if is_text else None
    present = bool_mask(pc.is_valid(text), n) if is_text else s.notna().to_numpy()
    if required and not present.all():
        out.append(Failure(name, "not_nullable", ~present, True))
    if column.unique:
        dup = _duplicated(s, text, present)
        if dup.any():
            out.append(Failure(name, "field_uniqueness", dup, required))
    for check in column.checks:
        mask = _text_check(check, text, n) if is_text else None
        if mask is None:
            mask = _pandera_check(check, s, n)
        if mask.any():
            out.append(Failure(name, check.error or check.name, mask, required))
    return out


def _coded_failures(s: pd.Series, column, name: str, required: bool) -> list[Failure]:
    """``_column_failures`` of a coded text column: each rule is decided once per value of its
    code list and read back per row through the codes. The text fast-path rules (``isin``,
    ``str_matches``, ``str_length``) are about one value at a time, so this is exact; any other
    check runs on the column as text."""
    n = len(s)
    codes = s.cat.codes.to_numpy()
    present = codes >= 0
    values = arrow_text(pd.Series(pd.array(list(s.cat.categories), dtype=_TEXT)))
    out: list[Failure] = []
    if required and not present.all():
        out.append(Failure(name, "not_nullable", ~present, True))
    if column.unique:
        counts = np.bincount(codes[present], minlength=1)
        dup = present & (counts[np.maximum(codes, 0)] > 1)
        if dup.any():
            out.append(Failure(name, "field_uniqueness", dup, required))
    for check in column.checks:
        per_value = _text_check(check, values, len(values))
        if per_value is None:
            mask = _pandera_check(check, s.astype(_TEXT), n)
        else:
            mask = present & np.append(per_value, False)[codes]  # code -1 (NA) reads the False
        if mask.any():
            out.append(Failure(name, check.error or check.name, mask, required))
    return out


def _duplicated(s: pd.Series, text: pa.ChunkedArray | None, present: np.ndarray) -> np.ndarray:
    """Every row whose non-null value occurs more than once (pandera's report_duplicates="all")."""
    if text is not None:
        if distinct_count(text) == int(present.sum()):
            return np.zeros(len(s), dtype=bool)
        _, positions = distinct_values(text)
        counts = np.bincount(positions[positions >= 0], minlength=1)
        return (positions >= 0) & (counts[np.maximum(positions, 0)] > 1)
    return (s.duplicated(keep=False) & s.notna()).to_numpy()


def _pandera_column(frame: pd.DataFrame, schema: pandera.DataFrameSchema, name: str, n: int) -> list[Failure]:
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
