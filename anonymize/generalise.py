"""Generalisation of quasi-identifiers: dates to quarter or month, birth dates to age bands,
postal codes to regions. Vectorised; every function maps missing input to ``unknown`` or NA.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from contracts.codes import AGE_BAND_LOWER_BOUNDS, AGE_BANDS
from contracts.geography import POSTAL_PREFIX_REGION

UNKNOWN = "unknown"


def _labels(codes: np.ndarray, mask: np.ndarray, fmt) -> pd.Series:
    """Format integer codes through their few distinct values (fast for millions of rows)."""
    out = np.full(codes.shape, None, dtype=object)
    if mask.any():
        uniq, inv = np.unique(codes[mask], return_inverse=True)
        out[mask] = np.asarray([fmt(int(u)) for u in uniq], dtype=object)[inv]
    return pd.Series(pd.array(out, dtype="string"))


def quarter(dates: pd.Series) -> pd.Series:
    """YYYY-Qn of each date."""
    d = pd.DatetimeIndex(dates)
    mask = ~d.isna()
    codes = np.where(mask, d.year * 10 + (d.month - 1) // 3 + 1, 0)
    return _labels(codes, mask, lambda c: f"{c // 10}-Q{c % 10}")


def month(dates: pd.Series) -> pd.Series:
    """YYYY-MM of each date."""
    d = pd.DatetimeIndex(dates)
    mask = ~d.isna()
    codes = np.where(mask, d.year * 100 + d.month, 0)
    return _labels(codes, mask, lambda c: f"{c // 100}-{c % 100:02d}")


def age_band(date_of_birth: pd.Series, at: pd.Series) -> pd.Series:
    """Age band (completed years) at the event date; ``unknown`` where either date is missing."""
    b, a = pd.DatetimeIndex(date_of_birth), pd.DatetimeIndex(at)
    mask = ~(b.isna() | a.isna())
    years = a.year - b.year - ((a.month * 100 + a.day) < (b.month * 100 + b.day)).astype(int)
    idx = np.searchsorted(np.asarray(AGE_BAND_LOWER_BOUNDS), np.asarray(years), side="right") - 1
    idx = np.where(mask & (idx >= 0), idx, -1)
    labels = np.asarray([*AGE_BANDS, UNKNOWN], dtype=object)
    return pd.Series(pd.array(labels[idx], dtype="string"))


def postal_region(postal_codes: pd.Series) -> pd.Series:
    """Region of each postal code's 3-character prefix; ``unknown`` when missing or unlisted."""
    prefixes = postal_codes.astype("string").str.slice(0, 3).str.upper()
    return prefixes.map(POSTAL_PREFIX_REGION).fillna(UNKNOWN).astype("string").reset_index(drop=True)
