"""Content rules a bundle is held to beyond its contract's model: what only the bundle's context
(its quarter, the time it arrives, the registry, the records it declares) can decide.

Written once here; the coordinator applies them to every bundle before loading it
(``assets/intake/lib/ingest.py``), beside the contract's own rules (``schema_failures``). The
contributor holds its extract to the same rules before sealing: the quarter (validation), unique
record ids (the source model) and registry membership (the organisation ids of the coordinator's
public file it pinned last, ``pipelines.contributor.validate``).
Each finding names a column, a rule and a count of rows, never a value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from dvnet.contracts.network import REPORTING_WINDOW_YEARS
from dvnet.contracts.periods import Period
from dvnet.contracts.registry import Contract
from dvnet.contracts.roles import Transform

#: The reporting window: a quarter after the current one has not happened yet, and one older than
#: this many years is a typing error (9999-Q4 would become the default published period). A
#: network sets its own depth in its registry (``reporting_window_years``).
MAX_PERIOD_AGE_YEARS = REPORTING_WINDOW_YEARS
#: No count above this is a count of people or referrals in one agency's quarter; near 2^62 the
#: release's sums overflow.
MAX_COUNT = 10_000_000
#: Output columns holding an organisation's registry id (record rows and count dimensions).
ORG_ID_COLUMNS = ("referring_org", "receiving_org")

PERIOD_OUT_OF_WINDOW = "PERIOD_OUT_OF_WINDOW"
COUNT_OUT_OF_BOUNDS = "COUNT_OUT_OF_BOUNDS"
ROWS_DUPLICATED = "ROWS_DUPLICATED"
ROW_OUTSIDE_PERIOD = "ROW_OUTSIDE_PERIOD"
ORG_NOT_REGISTERED = "ORG_NOT_REGISTERED"
#: The rule's name in findings and the steward's report.
REGISTERED_RULE = "registered_organisation"


@dataclass(frozen=True)
class Finding:
    """A content rule some rows break: reason code, column, rule, how many rows."""

    reason: str
    column: str
    rule: str
    rows: int

    def describe(self) -> str:
        return f"{self.column} ({self.rule}): {self.rows} rows"


def period_window(period: Period, now: dt.datetime, max_age_years: int = MAX_PERIOD_AGE_YEARS) -> str | None:
    """Why ``period`` is outside the reporting window around ``now``, or None."""
    current = Period(now.year, (now.month - 1) // 3 + 1)
    if period > current:
        return f"the period is after the current quarter {current}"
    if period < Period(current.year - max_age_years, current.quarter):
        return f"the period is more than {max_age_years} years before the current quarter"
    return None


def _count(mask: pa.ChunkedArray | pa.Array) -> int:
    return int(pc.sum(pc.fill_null(mask, False)).as_py() or 0)


def _org_findings(table: pa.Table, org_ids: Collection[str]) -> list[Finding]:
    known = pa.array(sorted(org_ids), pa.string())
    out = []
    for column in ORG_ID_COLUMNS:
        if column in table.column_names:
            values = table[column].cast(pa.string())
            n = _count(pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, value_set=known))))
            if n:
                out.append(Finding(ORG_NOT_REGISTERED, column, REGISTERED_RULE, n))
    return out


def record_findings(table: pa.Table, contract: Contract, period: Period, org_ids: Collection[str]) -> list[Finding]:
    """A record payload's rows: the key unique (no row twice), each row's quarter (and month) in
    the bundle's ``period``, organisation columns naming registered organisations."""
    out = []
    key = table[contract.key_column].cast(pa.string()) if contract.key_column in table.column_names else None
    if key is not None:
        repeated = table.num_rows - len(pc.unique(key))
        if repeated:
            out.append(Finding(ROWS_DUPLICATED, contract.key_column, "unique", repeated))
    months = {f"{period.year}-{m:02d}" for m in range(3 * period.quarter - 2, 3 * period.quarter + 1)}
    in_period = {f.output or f.name: [str(period)] if f.transform == Transform.QUARTER else sorted(months)
                 for f in contract.fields() if f.transform in (Transform.QUARTER, Transform.MONTH)}  # fmt: skip
    in_period.setdefault(contract.quarter_column, [str(period)])
    for column, allowed in in_period.items():
        if column in table.column_names:
            values = table[column].cast(pa.string())
            n = _count(pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, value_set=pa.array(allowed)))))
            if n:
                out.append(Finding(ROW_OUTSIDE_PERIOD, column, "in_bundle_period", n))
    return out + _org_findings(table, org_ids)


def count_findings(table: pa.Table, records_declared: object, org_ids: Collection[str]) -> list[Finding]:
    """A count payload's cells: each count at most the records the bundle declares it counted
    (``records_sent``) and never above ``MAX_COUNT``; organisation dimensions registered."""
    if records_declared is None:  # bundles sealed before records_sent was declared
        bound = MAX_COUNT
    elif isinstance(records_declared, int) and not isinstance(records_declared, bool):
        bound = min(MAX_COUNT, max(records_declared, 0))
    else:  # a declaration that is not a whole number bounds nothing: every count is out of bounds
        bound = 0
    out = []
    if "n" in table.column_names:
        n = _count(pc.greater(table["n"], pa.scalar(bound, table.schema.field("n").type)))
        if n:
            out.append(Finding(COUNT_OUT_OF_BOUNDS, "n", "at_most_records_declared", n))
    return out + _org_findings(table, org_ids)
