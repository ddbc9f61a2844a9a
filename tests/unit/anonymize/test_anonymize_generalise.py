"""Generalisation of quasi-identifiers: age bands at the event date, quarters, months, regions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dvnet.anonymize.generalise import UNKNOWN, age_band, month, postal_region, quarter
from dvnet.pipelines.demo_network import demo_geography


def _dates(*values):
    return pd.Series(pd.to_datetime(list(values)))


def _values(labels: pd.Series) -> list:
    """The labels as Python strings, None where missing (whatever the series holds them as)."""
    return [None if pd.isna(v) else v for v in labels.tolist()]


AGE_EDGES = [
    # (date of birth, event date, band)
    ("2008-03-15", "2026-03-14", "0-17"),  # 17, the day before the 18th birthday
    ("2008-03-15", "2026-03-15", "18-24"),  # 18 on the birthday itself
    ("2001-09-30", "2026-09-29", "18-24"),  # 24
    ("2001-09-30", "2026-09-30", "25-34"),  # 25
    ("1961-12-31", "2026-12-30", "55-64"),  # 64
    ("1961-12-31", "2026-12-31", "65+"),  # 65
    ("1930-01-01", "2026-01-01", "65+"),
    ("2026-01-01", "2026-01-01", "0-17"),  # newborn
    ("2008-02-29", "2026-02-28", "0-17"),  # leap-day birth: not yet 18 on 28 February
    ("2008-02-29", "2026-03-01", "18-24"),  # 18 on 1 March in a common year
    ("1992-02-29", "2027-02-28", "25-34"),  # 34 the day before; not 35 until 1 March
    ("1992-02-29", "2027-03-01", "35-44"),
]


@pytest.mark.parametrize(("dob", "at", "band"), AGE_EDGES)
def test_age_band_is_completed_years_at_the_event_date(dob, at, band):
    assert age_band(_dates(dob), _dates(at)).tolist() == [band]


def test_age_band_is_vectorised_and_keeps_order():
    dobs = _dates(*[d for d, _, _ in AGE_EDGES])
    ats = _dates(*[a for _, a, _ in AGE_EDGES])
    assert age_band(dobs, ats).tolist() == [b for _, _, b in AGE_EDGES]


def test_missing_or_impossible_dates_give_unknown():
    dobs = _dates(None, "1990-01-01", "2027-01-01")
    ats = _dates("2026-01-01", None, "2026-01-01")  # last: born after the event
    assert age_band(dobs, ats).tolist() == [UNKNOWN, UNKNOWN, UNKNOWN]


@pytest.mark.parametrize(
    ("date", "q"),
    [("2026-01-01", "2026-Q1"), ("2026-03-31", "2026-Q1"), ("2026-04-01", "2026-Q2"), ("2026-09-30", "2026-Q3"), ("2026-10-01", "2026-Q4"), ("2026-12-31", "2026-Q4")],
)
def test_quarter_edges(date, q):
    assert quarter(_dates(date)).tolist() == [q]


@pytest.mark.parametrize(("date", "m"), [("2026-01-01", "2026-01"), ("2026-09-30", "2026-09"), ("2026-12-31", "2026-12")])
def test_month(date, m):
    assert month(_dates(date)).tolist() == [m]


def test_quarter_and_month_of_a_missing_date_are_missing():
    assert quarter(_dates(None, "2026-05-05")).isna().tolist() == [True, False]
    assert month(_dates(None, "2026-05-05")).isna().tolist() == [True, False]


@pytest.mark.parametrize(
    ("postal", "region"),
    [
        ("N1A 2B3", "north-coast"),
        ("N3A9Z9", "north-islands"),
        ("s1a 2b3", "south-metro"),
        ("S4A 1A1", "south-hills"),
        ("Z9Z 9Z9", UNKNOWN),
        ("", UNKNOWN),
        (None, UNKNOWN),
    ],
)
def test_postal_code_generalises_to_its_region(postal, region):
    assert postal_region(pd.Series([postal], dtype="string"), demo_geography()).tolist() == [region]


def test_every_listed_prefix_maps_to_its_region():
    codes = [(f"{p} 1A1", r.id) for r in demo_geography().regions for p in r.postal_prefixes]
    got = postal_region(pd.Series([c for c, _ in codes], dtype="string"), demo_geography())
    assert got.tolist() == [r for _, r in codes]


def test_postal_region_output_is_positional_whatever_the_input_index():
    s = pd.Series(["N1A 2B3", "S1A 2B3"], index=[10, 20], dtype="string")
    assert postal_region(s, demo_geography()).tolist() == ["north-coast", "south-metro"]


@pytest.mark.parametrize(
    ("rows", "span_days"),
    [(20_000, 92), (500, 60_000)],
    ids=["dates denser than days (per-day table)", "dates sparser than days (direct)"],
)
def test_quarter_month_and_age_equal_pandas_calendar_on_random_dates(rows, span_days):
    rng = np.random.default_rng(rows)
    start = np.datetime64("1931-01-01") if span_days > 1000 else np.datetime64("2026-07-01")
    events = pd.Series(start + rng.integers(0, span_days, rows).astype("timedelta64[D]"))
    births = pd.Series(np.datetime64("1925-01-01") + rng.integers(0, 40_000, rows).astype("timedelta64[D]"))
    events[::97] = pd.NaT

    want_q = [f"{d.year}-Q{d.quarter}" if pd.notna(d) else None for d in events]
    want_m = [f"{d.year}-{d.month:02d}" if pd.notna(d) else None for d in events]
    assert _values(quarter(events)) == want_q
    assert _values(month(events)) == want_m

    bounds = [0, 18, 25, 35, 45, 55, 65]
    labels = ["0-17", "18-24", "25-34", "35-44", "45-54", "55-64", "65+"]
    want_band = []
    for b, e in zip(births, events):
        if pd.isna(e):
            want_band.append(UNKNOWN)
            continue
        years = e.year - b.year - ((e.month, e.day) < (b.month, b.day))
        want_band.append(labels[np.searchsorted(bounds, years, side="right") - 1] if years >= 0 else UNKNOWN)
    assert age_band(births, events).tolist() == want_band
