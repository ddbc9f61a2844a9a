"""The attacker's ranges as the audit reports them: one row per target, with how and the verdict."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

EXACT_WIDTH = 1.0  # a range narrower than one count pins an integer count
TOL = 1e-6


@dataclass
class IntervalResult:
    """Per target (a suppressed quantity): attacker's range, how it was settled, the verdict.

    ``duals[q] = (rows, lam_max, lam_min, frozen)``: LP duals of a failing target over global
    equation ``rows``; ``frozen`` lists quantities held fixed in that LP (empty when exact).
    ``top``: per target, the value its range must reach upwards (an upper protection level, the
    p % rule's: a wide range lying below the true count still tells an insider too much); -inf
    where only the width counts.
    """

    targets: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    method: np.ndarray
    verdict: np.ndarray
    duals: dict = field(default_factory=dict)
    n_components: int = 0
    largest_component: int = 0
    n_lp: int = 0
    seconds: float = 0.0
    top: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.top = np.full(len(self.targets), -np.inf) if self.top is None else np.asarray(self.top, dtype=float)

    @classmethod
    def unchecked(cls, targets: np.ndarray, top: np.ndarray | None = None) -> IntervalResult:
        """Every target still open: no range, method and verdict "unchecked"."""
        k = len(targets)
        return cls(targets, np.full(k, np.nan), np.full(k, np.nan), np.full(k, "unchecked", dtype=object), np.full(k, "unchecked", dtype=object), top=top)

    def settle(self, idx, lo, hi, how: str | np.ndarray, required: np.ndarray) -> None:
        """Record range [lo, hi] for targets ``idx``, settled by ``how`` (one label, or one per
        target), judged against ``required`` (and ``top``): the one verdict rule."""
        idx = np.atleast_1d(idx)
        self.lower[idx], self.upper[idx] = lo, hi
        self.method[idx] = how
        hi = np.atleast_1d(hi)
        width = hi - np.atleast_1d(lo)
        short = (width < required[idx] - TOL) | (hi < self.top[idx] - TOL)
        self.verdict[idx] = np.where(width < EXACT_WIDTH - TOL, "exact", np.where(short, "narrow", "protected"))

    def failed(self) -> np.ndarray:
        """Per target: whether its verdict is "exact" or "narrow"."""
        return (self.verdict == "exact") | (self.verdict == "narrow")

    def short_above(self) -> np.ndarray:
        """Per target: whether its range stops below its ``top`` (the upper level is what fails)."""
        return self.upper < self.top - TOL
