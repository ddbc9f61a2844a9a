"""Rounding of published counts, and what a published number tells an attacker.

Counts are rounded to the nearest multiple of ``base``, halves up. For base 5 no integer is a half,
so this equals ehrQL's ``round(value / 5) * 5``. Every cell, margins included, is rounded from its
own true value: rounded margins need not add up, which is why the audit reads a published rounded
value v as the interval of true values that round to it.
"""

from __future__ import annotations

import numpy as np

from dvnet.anonymize.disclosure.profiles.base import Profile


def round_to_base(values: np.ndarray, base: int) -> np.ndarray:
    """Each value rounded to the nearest multiple of ``base`` (halves up); base 1 is the identity."""
    values = np.asarray(values, dtype=np.int64)
    if base <= 1:
        return values.copy()
    return (np.floor_divide(values * 2 + base, 2 * base) * base).astype(np.int64)


def rounding_interval(published: np.ndarray, base: int) -> tuple[np.ndarray, np.ndarray]:
    """The smallest and largest non-negative integers that round to each published value."""
    published = np.asarray(published, dtype=np.float64)
    if base <= 1:
        return published.copy(), published.copy()
    lower = np.maximum(published - base // 2, 0.0)
    upper = published + (base + 1) // 2 - 1
    return lower, upper


def published_bounds(published: np.ndarray, profile: Profile) -> tuple[np.ndarray, np.ndarray]:
    """What a published count tells an attacker who knows the profile's rules: the hull of the
    true counts the profile would publish as it.

    A rounded value stands for its rounding interval, less the small counts 1..threshold-1 (those
    are suppressed, never rounded), less 0 when zeros are suppressed. So under OpenSAFELY's rules a
    published 10 is 8..12 and a published 0 is exactly 0.
    """
    lo, hi = rounding_interval(published, profile.rounding_base)
    small_lo, small_hi = 1.0, float(profile.threshold - 1)
    if profile.zeros == "suppress":
        small_lo = 0.0
    in_band_lo = (lo >= small_lo) & (lo <= small_hi)
    lo = np.where(in_band_lo, small_hi + 1, lo)
    in_band_hi = (hi >= small_lo) & (hi <= small_hi)
    hi = np.where(in_band_hi, np.where(lo < small_lo, lo, small_lo - 1), hi)
    return lo, hi
