"""Type conversion and contract validation of an agency extract, in one lazy pass.

The steward gets every problem at once: per column and rule, a reason code, the number of rows
and the first row numbers. Values never appear: only the column, the rule and row positions are
kept. Rows are numbered as data records, 1-based (the header is not a record).

The contract's pandera model is the single source of truth for types and rules, but pandera's
pandas backend is not what runs them on an extract: it converts Arrow-backed text to Python
strings and calls a Python function per cell, which cost ~30 s for a million service episodes,
and its ``failure_cases`` carry the raw values. ``schema_failures`` reads the same checks from
the schema and evaluates them column-wise instead:

* text rules (``isin``, ``str_length``, ``str_matches``) run as Arrow kernels on the reader's
  Arrow buffers; ``str_matches`` keeps Python ``re.match`` semantics exactly (RE2 decides the
  plain-ASCII cells, Python ``re`` every cell where the two engines could differ);
* type conversions (dates, booleans, whole numbers) and any other rule run the original pandas
  code once per *distinct* value, then spread the answer to the rows, so a million cells with a
  few thousand distinct dates cost a few thousand conversions;
* any check kind not listed here, and the model's dataframe-level checks, are handed to the
  pandera ``Check`` object itself, so a new rule in a contract is enforced even before it gets a
  fast path.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow
import pyarrow.compute as pc

from contracts.errors import ExtractError
from contracts.periods import Period
from contracts.registry import Contract

FIRST_ROWS = 10
TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0"})
# Whole numbers are parsed through float (pandas.to_numeric): beyond 2**53 they are no longer
# exact, and beyond 2**63 pandas wraps them to -2**63 without a word. Such a cell is invalid.
MAX_EXACT_INTEGER = 2**53

_TEXT = pd.StringDtype("pyarrow")
_LARGE_STRING = pa_arrow.large_string()
# Where RE2 (Arrow) and Python's re can disagree on an ASCII text: ``$`` also matches before a
# final newline in Python, and Python's ``\s`` also matches \v and \x1c-\x1f. Such cells (and
# every non-ASCII cell) are matched with Python's re.
_RE2_UNSAFE = "[\\n\\x0b\\x1c-\\x1f]"

_CHECK_REASONS = (
    (re.compile(r"^not_nullable"), "REQUIRED_MISSING"),
    (re.compile(r"^isin"), "CODE_UNKNOWN"),
    (re.compile(r"^str_matches"), "FORMAT_INVALID"),
    (re.compile(r"^str_length"), "LENGTH_INVALID"),
    (re.compile(r"^(greater_than|less_than|in_range)"), "OUT_OF_RANGE"),
    (re.compile(r"^(field_uniqueness|unique)"), "DUPLICATE_KEY"),
    (re.compile(r"^dtype"), "TYPE_INVALID"),
    (re.compile(r"^column_in_dataframe"), "COLUMN_MISSING"),
)
ROW_COLUMN = "(row)"  # the column named for a rule over several columns (a dataframe-level check)


@dataclass
class Issue:
    """One (column, rule) problem: how many rows, and the first row numbers. No values."""

    column: str
    rule: str
    reason: str
    rows: int
    first_rows: list[int]
    required: bool

    def to_dict(self) -> dict:
        return {"column": self.column, "rule": self.rule, "reason": self.reason, "rows": self.rows, "first_rows": self.first_rows}


@dataclass
class ValidationResult:
    frame: pd.DataFrame  # typed frame of the accepted rows only
    records: int
    issues: list[Issue] = field(default_factory=list)
    rejected: int = 0
    rejected_required: int = 0  # rejected rows with at least one problem in a required field
    rejected_by_reason: dict[str, int] = field(default_factory=dict)  # each rejected row counted once, first reason


@dataclass
class Failure:
    """Rows of a frame failing one rule of a schema: a boolean mask, never the values."""

    column: str  # ROW_COLUMN for a dataframe-level check
    rule: str
    mask: np.ndarray
    required: bool


class _Collector:
    def __init__(self, n: int):
        self.n = n
        self.masks: dict[tuple[str, str, str, bool], np.ndarray] = {}

    def add(self, column: str, rule: str, reason: str, required: bool, mask: np.ndarray) -> None:
        if not mask.any():
            return
        key = (column, rule, reason, required)
        self.masks[key] = self.masks[key] | mask if key in self.masks else mask.copy()

    def bad_in(self, column: str) -> np.ndarray:
        out = np.zeros(self.n, dtype=bool)
        for (col, *_), m in self.masks.items():
            if col == column:
                out |= m
        return out

    def any_bad(self) -> np.ndarray:
        out = np.zeros(self.n, dtype=bool)
        for m in self.masks.values():
            out |= m
        return out


# --- text columns as Arrow, and per-distinct-value evaluation ------------------------------------


def as_text(s: pd.Series) -> pd.Series:
    """``s`` as Arrow-backed text (no copy when it already is: the reader's frames are)."""
    if isinstance(s.dtype, pd.StringDtype) and s.dtype.storage == "pyarrow":
        return s
    return s.astype(_TEXT)


def arrow_text(s: pd.Series) -> pa_arrow.ChunkedArray:
    """The Arrow large-string array behind an Arrow-backed text series (a view, not a copy)."""
    arr = pa_arrow.array(as_text(s).array)
    if isinstance(arr, pa_arrow.Array):
        arr = pa_arrow.chunked_array([arr])
    return arr if arr.type == _LARGE_STRING else arr.cast(_LARGE_STRING)


def _distinct(col: pa_arrow.ChunkedArray) -> tuple[pd.Series, np.ndarray]:
    """The distinct non-null values (as a pandas ``string`` series of Python strings, what the
    contract's conversions were written against) and, per row, the index of its value (-1: NA)."""
    uniques = pc.unique(col).drop_null()
    index = pc.fill_null(pc.index_in(col, value_set=uniques), -1)
    positions = index.to_numpy() if isinstance(index, pa_arrow.Array) else np.concatenate(
        [c.to_numpy(zero_copy_only=False) for c in index.chunks] or [np.zeros(0, np.int32)]
    )
    return pd.Series(pd.array(uniques.to_pylist(), dtype="string")), positions.astype(np.int64, copy=False)


def _spread(per_value: np.ndarray, positions: np.ndarray, missing) -> np.ndarray:
    """Per-row values from per-distinct-value answers; ``missing`` where the cell is NA."""
    return np.append(per_value, np.asarray([missing], dtype=per_value.dtype))[positions]


# --- conversion ----------------------------------------------------------------------------------


def _to_dates(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Dates as datetime64[ns] and the rows whose text is not a YYYY-MM-DD date."""
    distinct, positions = _distinct(arrow_text(s))
    parsed = pd.to_datetime(distinct, format="%Y-%m-%d", errors="coerce").to_numpy(dtype="datetime64[ns]")
    values = _spread(parsed, positions, np.datetime64("NaT", "ns"))
    invalid = (positions >= 0) & np.isnat(values)
    return pd.Series(values, index=s.index), invalid


def _to_booleans(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    text = arrow_text(s)
    n = len(text)
    is_true, is_false = _mask(pc.equal(text, "true"), n), _mask(pc.equal(text, "false"), n)
    present = _mask(pc.is_valid(text), n)
    if not (present & ~(is_true | is_false)).any():  # the usual export: only "true" and "false"
        return pd.Series(pd.arrays.BooleanArray(is_true, ~present), index=s.index), np.zeros(n, dtype=bool)
    distinct, positions = _distinct(text)
    words = [v.strip().lower() for v in distinct.tolist()]
    codes = np.asarray([1 if w in TRUE_WORDS else 0 if w in FALSE_WORDS else -1 for w in words], dtype=np.int8)
    per_row = _spread(codes, positions, -1)
    values = pd.arrays.BooleanArray(per_row == 1, per_row < 0)
    return pd.Series(values, index=s.index), (positions >= 0) & (per_row < 0)


def _to_integers(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    distinct, positions = _distinct(arrow_text(s))
    num = pd.to_numeric(distinct, errors="coerce")
    as_float = num.astype("Float64").fillna(0).to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):  # inf has no remainder; it is refused below
        ok = num.notna().to_numpy() & (np.mod(as_float, 1) == 0) & (np.abs(as_float) <= MAX_EXACT_INTEGER)
    per_value = np.where(ok, as_float, 0).astype(np.int64)
    values = _spread(per_value, positions, 0)
    good = _spread(ok, positions, False)
    out = pd.arrays.IntegerArray(values, ~good)
    return pd.Series(out, index=s.index), (positions >= 0) & ~good


def _convert(raw: pd.DataFrame, contract: Contract, col: _Collector) -> pd.DataFrame:
    """Strings to the contract's types; unparseable values become NA and are recorded."""
    schema = contract.source.to_schema()
    out = {}
    for name, column in schema.columns.items():
        s = raw[name]
        dtype = str(column.dtype)
        required = not column.nullable
        if dtype.startswith("datetime64"):
            conv, bad = _to_dates(s)
            col.add(name, "date YYYY-MM-DD", "DATE_INVALID", required, bad)
        elif dtype == "boolean":
            conv, bad = _to_booleans(s)
            col.add(name, "boolean true/false", "BOOLEAN_INVALID", required, bad)
        elif dtype == "Int64":
            conv, bad = _to_integers(s)
            col.add(name, "whole number", "INTEGER_INVALID", required, bad)
        else:
            conv = as_text(s)  # Arrow-backed text: no copy of the reader's buffers
        out[name] = conv
    return pd.DataFrame(out, index=raw.index)


# --- rules ---------------------------------------------------------------------------------------


def _mask(values, n: int) -> np.ndarray:
    """A numpy bool mask from an Arrow boolean result (nulls count as False)."""
    filled = pc.fill_null(values, False)
    if isinstance(filled, pa_arrow.ChunkedArray):
        return np.concatenate([c.to_numpy(zero_copy_only=False) for c in filled.chunks]) if filled.num_chunks else np.zeros(n, bool)
    return filled.to_numpy(zero_copy_only=False)


def _python_match(values: pd.Series, pattern: str) -> np.ndarray:
    regex = re.compile(pattern)
    return np.fromiter((regex.match(v) is not None for v in values.tolist()), dtype=bool, count=len(values))


_UNSAFE_BYTES = np.zeros(256, dtype=bool)
_UNSAFE_BYTES[[10, 11, 28, 29, 30, 31]] = True
_UNSAFE_BYTES[128:] = True  # any byte of a non-ASCII character


def _any_unsafe_byte(text: pa_arrow.ChunkedArray) -> bool:
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


def _str_matches(text: pa_arrow.ChunkedArray, pattern: str, n: int) -> np.ndarray:
    """Per row: the non-null cell does *not* match ``re.match(pattern)``."""
    present = _mask(pc.is_valid(text), n)
    try:
        re2 = _mask(pc.match_substring_regex(text, f"^(?:{pattern})"), n)  # re.match anchors at the start
        unsafe = np.zeros(n, dtype=bool)
        if _any_unsafe_byte(text):
            unsafe = present & (~_mask(pc.string_is_ascii(text), n) | _mask(pc.match_substring_regex(text, _RE2_UNSAFE), n))
    except (pa_arrow.ArrowInvalid, pa_arrow.ArrowNotImplementedError):  # a construct RE2 lacks
        re2, unsafe = np.zeros(n, dtype=bool), present
    if unsafe.any():
        rows = np.flatnonzero(unsafe)
        distinct, positions = _distinct(text.take(pa_arrow.array(rows)))
        re2[rows] = _spread(_python_match(distinct, pattern), positions, False)
    return present & ~re2


def _text_check(check: pa.Check, text: pa_arrow.ChunkedArray, n: int) -> np.ndarray | None:
    """Failing rows of a built-in text check, or None when it has no fast path here."""
    stats = check.statistics or {}
    if check.name == "isin" and all(isinstance(v, str) for v in stats.get("allowed_values", [None])):
        allowed = pa_arrow.array(list(stats["allowed_values"]), _LARGE_STRING)
        return _mask(pc.is_valid(text), n) & ~_mask(pc.is_in(text, value_set=allowed), n)
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
        return _mask(pc.is_valid(text), n) & ~_mask(ok, n)
    return None


def _pandera_check(check: pa.Check, obj: pd.Series | pd.DataFrame, n: int) -> np.ndarray:
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
        return isinstance(s.dtype, pd.StringDtype)
    if declared == "boolean":
        return isinstance(s.dtype, pd.BooleanDtype)
    if declared == "Int64":
        return isinstance(s.dtype, pd.Int64Dtype)
    if declared == "datetime64[ns]":
        return str(s.dtype) == "datetime64[ns]"
    return None


def schema_failures(frame: pd.DataFrame, schema: pa.DataFrameSchema) -> list[Failure]:
    """Every (column, rule) of ``schema`` that some rows of ``frame`` fail, with the rows.

    Covers presence, type, nullability, uniqueness, each column check and each dataframe-level
    check; rules with no failing row are left out. Order: columns in schema order (type,
    nullability, uniqueness, then the checks as declared), then dataframe-level checks.
    Unexpected columns are not reported (callers check the column set first).
    """
    n = len(frame)
    out: list[Failure] = []
    for name, column in schema.columns.items():
        required = not column.nullable
        if name not in frame.columns:
            out.append(Failure(name, "column_in_dataframe", np.ones(n, dtype=bool), True))
            continue
        s = frame[name]
        declared = str(column.dtype) if column.dtype is not None else None
        typed = _dtype_ok(s, declared) if declared else True
        if typed is None:  # a type with no fast path: pandera checks the whole column
            out.extend(_pandera_column(frame[[name]], schema, name, n))
            continue
        if not typed:
            out.append(Failure(name, f"dtype('{declared}')", np.ones(n, dtype=bool), required))
            continue
        is_text = isinstance(s.dtype, pd.StringDtype)
        text = arrow_text(s) if is_text else None
        present = _mask(pc.is_valid(text), n) if is_text else s.notna().to_numpy()
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
    for check in schema.checks:
        mask = _pandera_check(check, frame, n)
        if mask.any():
            out.append(Failure(ROW_COLUMN, check.error or check.name, mask, True))
    return out


def _duplicated(s: pd.Series, text: pa_arrow.ChunkedArray | None, present: np.ndarray) -> np.ndarray:
    """Every row whose non-null value occurs more than once (pandera's report_duplicates="all")."""
    if text is not None:
        if len(pc.unique(text).drop_null()) == int(present.sum()):
            return np.zeros(len(s), dtype=bool)
        _, positions = _distinct(text)
        counts = np.bincount(positions[positions >= 0], minlength=1)
        return (positions >= 0) & (counts[np.maximum(positions, 0)] > 1)
    return (s.duplicated(keep=False) & s.notna()).to_numpy()


def _pandera_column(frame: pd.DataFrame, schema: pa.DataFrameSchema, name: str, n: int) -> list[Failure]:
    """One column through pandera itself (a type without a fast path). Reads only the column,
    rule and row of each failure case; the frame of cases, holding values, is dropped at once."""
    column = schema.columns[name]
    try:
        pa.DataFrameSchema({name: column}).validate(frame, lazy=True)
        return []
    except pa.errors.SchemaErrors as e:
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


# --- the steward's report ------------------------------------------------------------------------


def _structural_check(raw: pd.DataFrame, contract: Contract) -> None:
    expected = list(contract.source.to_schema().columns)
    missing = [c for c in expected if c not in raw.columns]
    unexpected = [c for c in raw.columns if c not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing column(s): {', '.join(missing)}")
        if unexpected:
            parts.append(f"unexpected column(s): {', '.join(unexpected)}")
        raise ExtractError(
            "COLUMNS_MISMATCH",
            f"the extract's columns do not match {contract.ref}: " + "; ".join(parts),
            hint="map your system's column names in the agency's mapping file, or list extra columns under ignore_columns",
            missing=missing,
            unexpected=unexpected,
        )


def _reason_for(check: str) -> str:
    for pattern, reason in _CHECK_REASONS:
        if pattern.search(check):
            return reason
    return "RULE_FAILED"


def _rule_issues(typed: pd.DataFrame, contract: Contract, col: _Collector) -> None:
    """The contract's rules over the converted frame. A cell that could not be converted is
    already reported (and is NA now): its column's rules do not report it again, and a rule
    over several columns (such as episode_end not before episode_start) skips its row, since
    comparing with a date that could not be read says nothing."""
    unconverted = col.any_bad()
    for failure in schema_failures(typed, contract.source.to_schema()):
        if failure.column == ROW_COLUMN:
            mask = failure.mask & ~unconverted
        else:
            mask = failure.mask & ~col.bad_in(failure.column)
        col.add(failure.column, failure.rule, _reason_for(failure.rule), failure.required, mask)


def _period_check(typed: pd.DataFrame, contract: Contract, period: Period, col: _Collector) -> None:
    d = typed[contract.event_date]
    outside = d.notna() & ((d < pd.Timestamp(period.start)) | (d > pd.Timestamp(period.end)))
    col.add(contract.event_date, f"within {period}", "OUT_OF_PERIOD", True, outside.to_numpy())


def validate_extract(raw: pd.DataFrame, contract: Contract, period: Period) -> ValidationResult:
    """Convert and validate every row; return the accepted rows and a value-free problem list."""
    _structural_check(raw, contract)
    n = len(raw)
    raw = raw.reset_index(drop=True)
    col = _Collector(n)
    typed = _convert(raw, contract, col)
    _rule_issues(typed, contract, col)
    _period_check(typed, contract, period, col)

    issues, rejected, rejected_required = [], np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    first_reason = np.full(n, -1, dtype=np.int16)
    reasons: list[str] = []
    for (column, rule, reason, required), mask in col.masks.items():
        rows = np.flatnonzero(mask)
        issues.append(Issue(column, rule, reason, int(len(rows)), [int(r) + 1 for r in rows[:FIRST_ROWS]], required))
        if reason not in reasons:
            reasons.append(reason)
        first_reason[mask & (first_reason < 0)] = reasons.index(reason)
        rejected |= mask
        if required:
            rejected_required |= mask
    counts = np.bincount(first_reason[rejected], minlength=len(reasons)) if rejected.any() else np.zeros(0, np.int64)
    by_reason = {reasons[i]: int(c) for i, c in sorted(enumerate(counts), key=lambda ic: -ic[1]) if c}
    issues.sort(key=lambda i: (-i.rows, i.column, i.rule))
    return ValidationResult(
        frame=typed.loc[~rejected].reset_index(drop=True) if rejected.any() else typed,
        records=n,
        issues=issues,
        rejected=int(rejected.sum()),
        rejected_required=int(rejected_required.sum()),
        rejected_by_reason=by_reason,
    )
