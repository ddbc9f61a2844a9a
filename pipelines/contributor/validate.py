"""Type conversion and contract validation of an agency extract, in one lazy pass.

The steward gets every problem at once: per column and rule, a reason code, the number of rows
and the first row numbers. Values never appear: pandera's ``failure_cases`` carry them, so only
their column, check and index are read, and the frame holding the values is dropped at once.
Rows are numbered as data records, 1-based (the header is not a record).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pandera.pandas as pa

from contracts.errors import ExtractError
from contracts.periods import Period
from contracts.registry import Contract

FIRST_ROWS = 10
TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0"})

_CHECK_REASONS = (
    (re.compile(r"^not_nullable"), "REQUIRED_MISSING"),
    (re.compile(r"^isin"), "CODE_UNKNOWN"),
    (re.compile(r"^str_matches"), "FORMAT_INVALID"),
    (re.compile(r"^str_length"), "LENGTH_INVALID"),
    (re.compile(r"^(greater_than|less_than|in_range)"), "OUT_OF_RANGE"),
    (re.compile(r"^(field_uniqueness|unique)"), "DUPLICATE_KEY"),
    (re.compile(r"^dtype"), "TYPE_INVALID"),
)


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


def _convert(raw: pd.DataFrame, contract: Contract, col: _Collector) -> pd.DataFrame:
    """Strings to the contract's types; unparseable values become NA and are recorded."""
    schema = contract.source.to_schema()
    out = {}
    for name, column in schema.columns.items():
        s = raw[name]
        present = s.notna().to_numpy()
        dtype = str(column.dtype)
        required = not column.nullable
        if dtype.startswith("datetime64"):
            conv = pd.to_datetime(s, format="%Y-%m-%d", errors="coerce")
            col.add(name, "date YYYY-MM-DD", "DATE_INVALID", required, present & conv.isna().to_numpy())
        elif dtype == "boolean":
            low = s.astype("string").str.strip().str.lower()
            is_true, is_false = low.isin(TRUE_WORDS).to_numpy(), low.isin(FALSE_WORDS).to_numpy()
            conv = pd.Series(pd.array(np.where(is_true, True, np.where(is_false, False, None)), dtype="boolean"), index=s.index)
            col.add(name, "boolean true/false", "BOOLEAN_INVALID", required, present & ~(is_true | is_false))
        elif dtype == "Int64":
            num = pd.to_numeric(s, errors="coerce")
            ok = num.notna().to_numpy() & (np.mod(num.fillna(0).to_numpy(), 1) == 0)
            col.add(name, "whole number", "INTEGER_INVALID", required, present & ~ok)
            conv = num.where(ok).astype("Int64")
        else:
            conv = s.astype("string")
        out[name] = conv
    return pd.DataFrame(out, index=raw.index)


def _reason_for(check: str) -> str:
    for pattern, reason in _CHECK_REASONS:
        if pattern.search(check):
            return reason
    return "RULE_FAILED"


def _pandera_issues(typed: pd.DataFrame, contract: Contract, col: _Collector) -> None:
    schema = contract.source.to_schema()
    try:
        schema.validate(typed, lazy=True)
        return
    except pa.errors.SchemaErrors as e:
        cases = e.failure_cases[["column", "check", "index"]].copy()  # never read "failure_case": it holds values
    for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=False):
        idx = group["index"].dropna()
        column = str(column)
        in_schema = column in schema.columns
        required = in_schema and not schema.columns[column].nullable
        mask = np.zeros(len(typed), dtype=bool)
        if len(idx) == 0:  # a whole-column failure (dtype): every row
            mask[:] = True
        else:
            mask[idx.astype(np.int64).to_numpy()] = True  # typed has a RangeIndex
        if in_schema:
            mask &= ~col.bad_in(column)  # already reported by conversion
        rule = str(check)
        reason = _reason_for(rule)
        if not in_schema:  # a dataframe-level rule such as end_not_before_start
            column, required = "(row)", True
        col.add(column, rule, reason, required, mask)


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
    _pandera_issues(typed, contract, col)
    _period_check(typed, contract, period, col)

    issues, rejected, rejected_required = [], np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    first_reason = np.full(n, None, dtype=object)
    for (column, rule, reason, required), mask in col.masks.items():
        rows = np.flatnonzero(mask)
        issues.append(Issue(column, rule, reason, int(len(rows)), [int(r) + 1 for r in rows[:FIRST_ROWS]], required))
        unset = mask & (first_reason == None)  # noqa: E711 (elementwise)
        first_reason[unset] = reason
        rejected |= mask
        if required:
            rejected_required |= mask
    by_reason = pd.Series(first_reason[rejected]).value_counts().to_dict() if rejected.any() else {}
    issues.sort(key=lambda i: (-i.rows, i.column, i.rule))
    return ValidationResult(
        frame=typed.loc[~rejected].reset_index(drop=True),
        records=n,
        issues=issues,
        rejected=int(rejected.sum()),
        rejected_required=int(rejected_required.sum()),
        rejected_by_reason={str(k): int(v) for k, v in by_reason.items()},
    )
