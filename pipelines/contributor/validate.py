"""Type conversion and contract validation of an agency extract, in one lazy pass.

The steward gets every problem at once: per column and rule, a reason code, the number of rows
and the first row numbers. Values never appear: only the column, the rule and row positions are
kept. Rows are numbered as data records, 1-based (the header is not a record).

The contract's pandera model is the single source of truth for types and rules, read here in its
compiled form (``Contract.source_schema``: ``contracts.compiled``, no pandera import). The rules run
column-wise through ``contracts.conformance.schema_failures`` (Arrow kernels, not pandera's
per-cell Python; see there), and the type conversions (dates, booleans, whole numbers) run the
original pandas code once per *distinct* value and spread the answer to the rows: a million
cells holding a few thousand distinct dates cost a few thousand conversions.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dvnet.kernels.arrow_memory import give_back_freed_memory
from dvnet.kernels.value_hashes import HashSet
from dvnet.contracts.conformance.schema import Repeated, row_hashes
from dvnet.contracts.conformance import ROW_COLUMN, arrow_text, as_text, bool_mask, code_column, distinct_values, run_per_column, schema_failures, spread
from dvnet.contracts.codes import code_list
from dvnet.contracts.conformance.content import ORG_ID_COLUMNS, ORG_NOT_REGISTERED, REGISTERED_RULE
from dvnet.contracts.errors import ExtractError
from dvnet.contracts.periods import Period
from dvnet.contracts.registry import Contract
from dvnet.pipelines.contributor.hash_spill import HashStore
from dvnet.pipelines.contributor.read.problems import ONE_COLUMN_HEADER

FIRST_ROWS = 10
TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0"})
# Whole numbers are parsed through float (pandas.to_numeric): beyond 2**53 they are no longer
# exact, and beyond 2**63 pandas wraps them to -2**63 without a word. Such a cell is invalid.
MAX_EXACT_INTEGER = 2**53

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
    absent: list[str] = field(default_factory=list)  # optional fields the export has no column for (read as empty)
    #: per unique column, what ``BlockValidation`` needs of a block to find the values repeated
    #: across blocks (``_uniqueness_evidence``): hashes of the present values, or the values to compare
    unique_values: dict[str, np.ndarray | pa.ChunkedArray] = field(default_factory=dict, repr=False)
    #: after ``BlockValidation.finish``: per unique column, the values held more than once, or
    #: the hashes of those that may be (the blocks must be validated again with them as
    #: ``repeated``); empty when there are none
    repeated_across_blocks: dict[str, Repeated] = field(default_factory=dict, repr=False)


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


# --- conversion ----------------------------------------------------------------------------------


def _to_dates(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Dates as datetime64[ns] and the rows whose text is not a YYYY-MM-DD date."""
    distinct, positions = distinct_values(arrow_text(s))
    parsed = pd.to_datetime(distinct, format="%Y-%m-%d", errors="coerce").to_numpy(dtype="datetime64[ns]")
    values = spread(parsed, positions, np.datetime64("NaT", "ns"))
    invalid = (positions >= 0) & np.isnat(values)
    return pd.Series(values, index=s.index), invalid


def _to_booleans(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    text = arrow_text(s)
    n = len(text)
    is_true, is_false = bool_mask(pc.equal(text, "true"), n), bool_mask(pc.equal(text, "false"), n)
    present = bool_mask(pc.is_valid(text), n)
    if not (present & ~(is_true | is_false)).any():  # the usual export: only "true" and "false"
        return pd.Series(pd.arrays.BooleanArray(is_true, ~present), index=s.index), np.zeros(n, dtype=bool)
    distinct, positions = distinct_values(text)
    words = [v.strip().lower() for v in distinct.tolist()]
    codes = np.asarray([1 if w in TRUE_WORDS else 0 if w in FALSE_WORDS else -1 for w in words], dtype=np.int8)
    per_row = spread(codes, positions, -1)
    values = pd.arrays.BooleanArray(per_row == 1, per_row < 0)
    return pd.Series(values, index=s.index), (positions >= 0) & (per_row < 0)


def _to_integers(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    distinct, positions = distinct_values(arrow_text(s))
    num = pd.to_numeric(distinct, errors="coerce")
    as_float = num.astype("Float64").fillna(0).to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):  # inf has no remainder; it is refused below
        ok = num.notna().to_numpy() & (np.mod(as_float, 1) == 0) & (np.abs(as_float) <= MAX_EXACT_INTEGER)
    per_value = np.where(ok, as_float, 0).astype(np.int64)
    values = spread(per_value, positions, 0)
    good = spread(ok, positions, False)
    out = pd.arrays.IntegerArray(values, ~good)
    return pd.Series(out, index=s.index), (positions >= 0) & ~good


_CONVERSIONS = {
    "datetime64[ns]": (_to_dates, "date YYYY-MM-DD", "DATE_INVALID"),
    "boolean": (_to_booleans, "boolean true/false", "BOOLEAN_INVALID"),
    "Int64": (_to_integers, "whole number", "INTEGER_INVALID"),
}
_CONVERSION_REASONS = {rule: reason for _, rule, reason in _CONVERSIONS.values()}


def _convert(raw: pd.DataFrame, contract: Contract, col: _Collector) -> pd.DataFrame:
    """Strings to the contract's types; unparseable values become NA and are recorded. A text
    column with a code list becomes codes into that list (``contracts.conformance.code_column``);
    a value off the list is recorded against the list's rule and becomes NA.

    Columns convert in the same small thread pool as the rules (``run_per_column``): the work is
    Arrow and numpy kernels that release Python's lock."""
    columns = list(contract.source_schema.columns.items())

    def convert(item):
        name, column = item
        conversion = _CONVERSIONS.get(str(column.dtype))
        if conversion is not None:
            conv, bad = conversion[0](raw[name])
            return conv, bad, conversion[1]
        listed = code_list(column)
        if listed is not None:
            conv, bad = code_column(raw[name], list(listed.values))
            return conv, bad, listed.rule
        return as_text(raw[name]), None, None  # Arrow-backed text: no copy of the reader's buffers

    converted = run_per_column(convert, columns, len(raw))
    out = {}
    for (name, column), (conv, bad, rule) in zip(columns, converted):
        if bad is not None:
            col.add(name, rule, _CONVERSION_REASONS.get(rule) or _reason_for(rule), not column.nullable, bad)
        out[name] = conv
    return pd.DataFrame(out, index=raw.index, copy=False)  # no copy, no block consolidation


# --- the steward's report ------------------------------------------------------------------------


def _structural_check(raw: pd.DataFrame, contract: Contract) -> list[str]:
    """Refuses an export without a required field's column or with a column nothing reads;
    returns the optional fields it has no column for (read as empty: a steward may leave out
    what the agency does not record, or need not send, such as names)."""
    expected = list(contract.source_schema.columns)
    missing = [c for c, column in contract.source_schema.columns.items() if c not in raw.columns and not column.nullable]
    # Unexpected columns by position, not name: a file exported without its header has the first
    # record where the names should be, and those values must not reach a report.
    unexpected = [i + 1 for i, c in enumerate(raw.columns) if c not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing column(s): {', '.join(missing)}")
        if unexpected:
            shown = ", ".join(str(i) for i in unexpected[:20]) + (", ..." if len(unexpected) > 20 else "")
            parts.append(f"{len(unexpected)} unexpected column(s), at position(s) {shown} of the header")
        hint = (f"map your system's column names in mapping/{contract.id}.yaml in the agency's folder (it lists the contract's fields; "
                "extra columns go under ignore_columns), then try it with `dvnet mapping check`")
        if len(raw.columns) == 1:
            hint = f"{ONE_COLUMN_HEADER}; otherwise {hint}"
        raise ExtractError(
            "COLUMNS_MISMATCH",
            f"the extract's columns do not match {contract.ref}: " + "; ".join(parts),
            hint=hint,
            missing=missing,
            unexpected=unexpected,
        )
    return [c for c in expected if c not in raw.columns]


def _empty_text(n: int) -> pd.Series:
    """A text column of ``n`` empty cells, as the readers make them."""
    return pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([pa.nulls(n, pa.large_string())])), copy=False)


def _reason_for(check: str) -> str:
    for pattern, reason in _CHECK_REASONS:
        if pattern.search(check):
            return reason
    return "RULE_FAILED"


def _rule_issues(typed: pd.DataFrame, contract: Contract, col: _Collector, repeated: dict[str, Repeated] | None = None) -> None:
    """The contract's rules over the converted frame. A cell that could not be converted is
    already reported (and is NA now): its column's rules do not report it again, and a rule
    over several columns (such as episode_end not before episode_start) skips its row, since
    comparing with a date that could not be read says nothing."""
    unconverted = col.any_bad()
    for failure in schema_failures(typed, contract.source_schema, repeated):
        if failure.column == ROW_COLUMN:
            mask = failure.mask & ~unconverted
        else:
            mask = failure.mask & ~col.bad_in(failure.column)
        col.add(failure.column, failure.rule, _reason_for(failure.rule), failure.required, mask)


def _period_check(typed: pd.DataFrame, contract: Contract, period: Period, col: _Collector) -> None:
    d = typed[contract.event_date]
    outside = d.notna() & ((d < pd.Timestamp(period.start)) | (d > pd.Timestamp(period.end)))
    col.add(contract.event_date, f"within {period}", "OUT_OF_PERIOD", True, outside.to_numpy())


def _registry_check(typed: pd.DataFrame, registered: Collection[str], col: _Collector) -> None:
    """Organisation-code fields hold a registered organisation's id (the coordinator checks the
    same rule, ``contracts.conformance.content``): free text that has an id's form, such as a
    client's first name, is rejected here before anything leaves."""
    known = pa.array(sorted(registered), pa.string())
    for column in ORG_ID_COLUMNS:
        if column in typed.columns:
            values = arrow_text(typed[column])
            unknown = pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, value_set=known)))
            col.add(column, REGISTERED_RULE, ORG_NOT_REGISTERED, True, bool_mask(unknown, len(typed)) & ~col.bad_in(column))


def validate_extract(raw: pd.DataFrame, contract: Contract, period: Period, registered: Collection[str] | None = None, *,
                     first_row: int = 0, repeated: dict[str, Repeated] | None = None) -> ValidationResult:
    """Convert and validate every row; return the accepted rows and a value-free problem list.
    ``registered``: the network's organisation ids, when the agency holds them (pinned with the
    coordinator's public file); organisation-code fields must hold one of them. For one block of
    a larger extract: ``first_row``, the records before it (row numbers in issues count them);
    ``repeated``, the unique columns' values the whole extract holds more than once, or their
    hashes (``BlockValidation``; ``{}`` before anything is known), instead of uniqueness within
    the block."""
    absent = _structural_check(raw, contract)
    n = len(raw)
    raw = raw.reset_index(drop=True)
    if absent:
        raw = raw.assign(**{name: _empty_text(n) for name in absent})
    col = _Collector(n)
    typed = _convert(raw, contract, col)
    _rule_issues(typed, contract, col, repeated)
    _period_check(typed, contract, period, col)
    if registered is not None:
        _registry_check(typed, registered, col)

    issues, rejected, rejected_required = [], np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    first_reason = np.full(n, -1, dtype=np.int16)
    reasons: list[str] = []
    for (column, rule, reason, required), mask in col.masks.items():
        rows = np.flatnonzero(mask)
        issues.append(Issue(column, rule, reason, int(len(rows)), [first_row + int(r) + 1 for r in rows[:FIRST_ROWS]], required))
        if reason not in reasons:
            reasons.append(reason)
        first_reason[mask & (first_reason < 0)] = reasons.index(reason)
        rejected |= mask
        if required:
            rejected_required |= mask
    counts = np.bincount(first_reason[rejected], minlength=len(reasons)) if rejected.any() else np.zeros(0, np.int64)
    by_reason = _by_count({reasons[i]: int(c) for i, c in enumerate(counts) if c})
    issues.sort(key=_issue_order)
    unique = {} if repeated is None else _uniqueness_evidence(typed, contract, repeated)
    return ValidationResult(
        frame=typed.loc[~rejected].reset_index(drop=True) if rejected.any() else typed,
        records=n,
        issues=issues,
        rejected=int(rejected.sum()),
        rejected_required=int(rejected_required.sum()),
        rejected_by_reason=by_reason,
        absent=absent,
        unique_values=unique,
    )


def _uniqueness_evidence(typed: pd.DataFrame, contract: Contract, repeated: dict[str, Repeated]) -> dict[str, np.ndarray | pa.ChunkedArray]:
    """What ``BlockValidation`` keeps of a block's unique columns: on the first reading
    (``repeated`` empty), the 64-bit hashes of the present values (8 bytes a row, whatever the
    values); on a reading told the hashes of values that may repeat (``HashSet``), the values
    that hash as one of them, to be compared; of a column told its repeated values, nothing."""
    out: dict[str, np.ndarray | pa.ChunkedArray] = {}
    for name, column in contract.source_schema.columns.items():
        if not column.unique or name not in typed.columns:
            continue
        s, known = typed[name], repeated.get(name)
        if repeated and not isinstance(known, HashSet):
            continue
        present = s.notna().to_numpy(dtype=bool)
        hashes = row_hashes(s)
        if not repeated:
            out[name] = hashes[present]
            continue
        rows = present & known.may_hold(hashes)
        out[name] = arrow_text(s).filter(pa.array(rows)) if isinstance(s.dtype, pd.StringDtype) else pa.chunked_array([pa.array(s[rows].to_numpy())])
    return out


def _joined(results: list[ValidationResult]) -> pd.DataFrame:
    """The blocks' accepted rows as one frame, joined a column at a time, each block's frame let
    go as it is taken (``pd.concat`` of the frames would hold every row twice at its peak), and
    what a joined column's blocks freed given back before the next is joined: the allocator
    keeps the blocks' small buffers and the joined column is new memory, so otherwise every
    copied column (dates, flags, codes; text is joined without a copy) is held twice until the
    end (5M rows: 727 -> 968 MiB)."""
    if len(results) == 1:
        return results[0].frame
    names = list(results[0].frame.columns)
    pieces = {name: [] for name in names}
    for r in results:
        for name in names:
            pieces[name].append(r.frame[name].array)
        r.frame = None  # the block's columns live on in ``pieces`` only, until joined
    columns = {}
    for name in names:
        arrays = pieces.pop(name)
        columns[name] = pd.Series(type(arrays[0])._concat_same_type(arrays), copy=False)
        del arrays
        give_back_freed_memory(16 << 20)
    return pd.DataFrame(columns, columns=names, copy=False)


def _by_count(counts: dict[str, int]) -> dict[str, int]:
    """Reasons by count, most first; ties by name (so the order does not depend on the blocks)."""
    return dict(sorted(counts.items(), key=lambda rc: (-rc[1], rc[0])))


def _issue_order(issue: Issue) -> tuple:
    return (-issue.rows, issue.column, issue.rule)


class BlockValidation:
    """The validation of an extract read in blocks, each block validated on its own
    (``validate_extract`` with ``repeated``) and added in order: ``finish`` gives what one
    validation of the whole extract gives, except for uniqueness. That needs every block's values
    first: the first reading validates with ``repeated={}`` (nothing known twice yet) and keeps
    of each block only a 64-bit hash per key; ``finish`` reports the hashes held more than once
    (``repeated_across_blocks``, a ``HashSet`` per column). Only for an extract that has some, the
    caller reads and validates the blocks again with them: every row whose key hashes as one of
    them is marked, and its value kept; that reading's ``finish`` compares the values so kept,
    and in the rare case that two different keys only hashed alike, reports the exact repeated
    values for a third reading. Uniqueness is the only rule that needs another reading; the
    extract's keys are never all held (8 bytes a row instead of the values, and no hash table of
    them all at the end)."""

    def __init__(self, repeated: dict[str, Repeated] | None = None, columns: list[str] | None = None,
                 scratch: str | None = None) -> None:
        self.repeated = {} if repeated is None else repeated  # what the blocks are validated with
        self.columns = columns  # the accepted rows' columns kept (None: all)
        self.results: list[ValidationResult] = []
        self.hashes: dict[str, HashStore] = {}  # first reading: each unique column's key hashes (on disk past a size)
        self.scratch = scratch  # where those files go (default: the temporary folder)

    def add(self, block: ValidationResult) -> None:
        if self.columns is not None:
            block.frame = pd.DataFrame({c: block.frame[c] for c in self.columns if c in block.frame.columns}, copy=False)
        if not self.repeated:
            for name in list(block.unique_values):
                if name not in self.hashes:
                    self.hashes[name] = HashStore(self.scratch)
                self.hashes[name].add(block.unique_values.pop(name))
        self.results.append(block)

    def finish(self) -> ValidationResult:
        results = self.results
        merged: dict[tuple, Issue] = {}
        for r in results:
            for i in r.issues:
                key = (i.column, i.rule, i.reason, i.required)
                if key in merged:
                    m = merged[key]
                    m.rows += i.rows
                    m.first_rows = (m.first_rows + i.first_rows)[:FIRST_ROWS]
                else:
                    merged[key] = Issue(i.column, i.rule, i.reason, i.rows, list(i.first_rows), i.required)
        by_reason: dict[str, int] = {}
        for r in results:
            for reason, n in r.rejected_by_reason.items():
                by_reason[reason] = by_reason.get(reason, 0) + n
        frame = _joined(results)
        return ValidationResult(
            frame=frame,
            records=sum(r.records for r in results),
            issues=sorted(merged.values(), key=_issue_order),
            rejected=sum(r.rejected for r in results),
            rejected_required=sum(r.rejected_required for r in results),
            rejected_by_reason=_by_count(by_reason),
            absent=results[0].absent if results else [],
            repeated_across_blocks=self._may_repeat() if not self.repeated else self._compared(),
        )

    def _may_repeat(self) -> dict[str, Repeated]:
        """After the first reading: per unique column, the hashes held more than once (none, in
        the usual case: then no value is repeated, since equal values hash alike)."""
        out = {}
        for name, store in self.hashes.items():
            twice = store.repeated()
            if len(twice):
                out[name] = HashSet(twice)
        self.hashes = {}
        return out

    def _compared(self) -> dict[str, Repeated]:
        """After a reading told hashes: the values that hashed alike, compared. Every value held
        twice was among them (with every row holding it), so when each one is held twice the
        reading decided exactly; when one is not (two values that only hash alike, once in
        billions of extracts), the exact repeated values, for a reading again with them."""
        hashed = {name for name, known in self.repeated.items() if isinstance(known, HashSet)}
        exact, decided = {}, True
        for name in hashed:
            per_block = [r.unique_values[name] for r in self.results]
            values = pa.chunked_array([c for v in per_block for c in v.chunks], type=per_block[0].type)
            counts = pc.value_counts(values)
            exact[name] = counts.field("values").filter(pc.greater(counts.field("counts"), 1))
            decided = decided and len(exact[name]) == len(counts)
        if decided:
            return {}
        return {**{n: v for n, v in self.repeated.items() if n not in hashed}, **exact}
