"""Reporting periods: a steward writes 2026-Q3 and gets exactly that calendar quarter."""

from __future__ import annotations

import datetime as dt

import pytest

from dvnet.contracts.errors import DvnetError
from dvnet.contracts.periods import Period

QUARTERS = [
    ("2026-Q1", dt.date(2026, 1, 1), dt.date(2026, 3, 31)),
    ("2026-Q2", dt.date(2026, 4, 1), dt.date(2026, 6, 30)),
    ("2026-Q3", dt.date(2026, 7, 1), dt.date(2026, 9, 30)),
    ("2026-Q4", dt.date(2026, 10, 1), dt.date(2026, 12, 31)),
    ("2028-Q1", dt.date(2028, 1, 1), dt.date(2028, 3, 31)),
]


@pytest.mark.parametrize(("text", "start", "end"), QUARTERS)
def test_a_quarter_covers_its_first_to_its_last_day(text, start, end):
    p = Period.parse(text)
    assert (p.start, p.end) == (start, end)
    assert str(p) == text


@pytest.mark.parametrize("text", ["2026-Q5", "2026-Q0", "2026Q3", "2026-q3", "Q3-2026", "", "2026-07", None])
def test_anything_else_is_a_usage_error(text):
    with pytest.raises(DvnetError) as exc:
        Period.parse(text)
    assert exc.value.reason == "USAGE_PERIOD_INVALID"


def test_periods_order_chronologically():
    assert sorted(Period.parse(t) for t in ["2027-Q1", "2026-Q4", "2026-Q1"]) == [
        Period(2026, 1),
        Period(2026, 4),
        Period(2027, 1),
    ]
