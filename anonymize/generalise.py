"""Generalisation of quasi-identifiers: dates to quarter or month, birth dates to age bands,
postal codes to regions. Vectorised; every function maps missing input to ``unknown`` or NA.

Results are coded text: pandas categoricals of a handful of labels (a million rows carry a few
dozen distinct quarters or bands), so no string is made per row, and the steps after (k-anonymity
classes, row selection, output checks, Parquet's dictionary) read the codes
(``contracts.conformance.is_coded_text``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dvnet.contracts.codes import AGE_BAND_LOWER_BOUNDS, AGE_BANDS
from dvnet.contracts.geography import PREFIX_LENGTH, Geography

UNKNOWN = "unknown"


def _text(indices: np.ndarray, labels: list[str], valid: np.ndarray | None = None) -> pd.Series:
    """Per row ``labels[indices]`` (NA where ``valid`` is False), as codes into ``labels``."""
    codes = indices if valid is None else np.where(valid, indices, -1)
    return pd.Series(pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(labels)))


def _labels(codes: np.ndarray, mask: np.ndarray, fmt) -> pd.Series:
    """Format integer codes through their few distinct values (fast for millions of rows)."""
    if not mask.any():
        return _text(np.zeros(len(codes), dtype=np.int32), [""], np.zeros(len(codes), dtype=bool))
    low = int(codes[mask].min())
    offset = np.where(mask, codes - low, 0)
    present = np.flatnonzero(np.bincount(offset[mask]))  # distinct codes, as offsets, in order
    lookup = np.zeros(int(present[-1]) + 1, dtype=np.int32)
    lookup[present] = np.arange(len(present), dtype=np.int32)
    return _text(lookup[offset], [fmt(int(p) + low) for p in present], mask)


def _dates(dates: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    values = pd.DatetimeIndex(dates).to_numpy(dtype="datetime64[ns]")
    return values, ~np.isnat(values)


def _civil(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month and day of days since 1970-01-01 (H. Hinnant's ``civil_from_days``, proleptic
    Gregorian calendar, as numpy and pandas use)."""
    days = days + 719_468
    era = np.floor_divide(days, 146_097)
    doe = days - era * 146_097  # day of era, 0..146096
    yoe = (doe - doe // 1_460 + doe // 36_524 - doe // 146_096) // 365  # year of era, 0..399
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)  # day of year from 1 March, 0..365
    mp = (5 * doy + 2) // 153  # month from March, 0..11
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    return year, month, day


def _per_day(values: np.ndarray, mask: np.ndarray, code) -> np.ndarray:
    """``code(year, month, day)`` (integer arrays) for each datetime64 value; 0 where ``mask`` is
    False. Computed once per calendar day in the span of the dates (a quarter's events span 92
    days, a million birth dates a few tens of thousands), then looked up per row: a few passes
    over the rows instead of the calendar arithmetic on every one."""
    days = values.astype("datetime64[D]").astype(np.int64)
    out = np.zeros(len(values), dtype=np.int64)
    if not mask.any():
        return out
    present = days[mask]
    low, high = int(present.min()), int(present.max())
    if high - low < len(present):
        table = code(*_civil(np.arange(low, high + 1, dtype=np.int64)))
        out[mask] = table[present - low]
    else:  # dates spread over more days than there are rows: compute them directly
        out[mask] = code(*_civil(present))
    return out


def _yyyymmdd(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    return year * 10_000 + month * 100 + day


def quarter(dates: pd.Series) -> pd.Series:
    """YYYY-Qn of each date."""
    values, mask = _dates(dates)
    codes = _per_day(values, mask, lambda y, m, _d: y * 10 + (m - 1) // 3 + 1)
    return _labels(codes, mask, lambda c: f"{c // 10}-Q{c % 10}")


def month(dates: pd.Series) -> pd.Series:
    """YYYY-MM of each date."""
    values, mask = _dates(dates)
    codes = _per_day(values, mask, lambda y, m, _d: y * 100 + m)
    return _labels(codes, mask, lambda c: f"{c // 100}-{c % 100:02d}")


def age_band(date_of_birth: pd.Series, at: pd.Series) -> pd.Series:
    """Age band (completed years) at the event date; ``unknown`` where either date is missing.

    Completed years are the difference of the two dates written as YYYYMMDD numbers, divided by
    10,000 and rounded down (the month and day decide whether this year's birthday has passed)."""
    (b, b_ok), (a, a_ok) = _dates(date_of_birth), _dates(at)
    mask = b_ok & a_ok
    years = (_per_day(a, mask, _yyyymmdd) - _per_day(b, mask, _yyyymmdd)) // 10_000
    idx = np.searchsorted(np.asarray(AGE_BAND_LOWER_BOUNDS), years, side="right") - 1
    idx = np.where(mask & (idx >= 0), idx, len(AGE_BANDS))
    return _text(idx, [*AGE_BANDS, UNKNOWN])


def postal_region(postal_codes: pd.Series, geography: Geography) -> pd.Series:
    """Region of each postal code's prefix in the network's ``geography``; ``unknown`` when
    missing or not declared."""
    text = pa.array(postal_codes.astype(pd.StringDtype("pyarrow")).array)
    prefixes = pc.utf8_slice_codeunits(text, 0, PREFIX_LENGTH)  # the first characters, as str[:3]
    distinct = pc.unique(prefixes).drop_null()
    regions = sorted(geography.region_ids)
    labels = [*regions, UNKNOWN]
    # str.upper and the mapping run once per distinct prefix (a few thousand), not per row
    per_prefix = [geography.region_of_prefix.get(p.upper()) for p in distinct.to_pylist()]
    codes = np.asarray([regions.index(r) if r is not None else len(regions) for r in per_prefix] + [len(regions)], dtype=np.int32)
    positions = pc.fill_null(pc.index_in(prefixes, value_set=distinct), len(per_prefix))
    positions = np.asarray(positions.to_numpy() if isinstance(positions, pa.Array) else positions.to_numpy(), dtype=np.int64)
    return _text(codes[positions], labels)
