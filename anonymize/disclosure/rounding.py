"""Rounding of published counts, and what a rounded number tells an attacker.

Counts are rounded to the nearest multiple of ``base``, halves up. For base 5 no integer is a half,
so this equals ehrQL's ``round(value / 5) * 5``. Every cell, margins included, is rounded from its
own true value: rounded margins need not add up, which is why the audit reads a published rounded
value v as the interval of true values that round to it.
"""

from __future__ import annotations

import numpy as np


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
