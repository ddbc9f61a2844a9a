"""The attacker's ranges as the audit reports them: one row per target, with how and the verdict.

What a target's range must reach (``Requirements``):

- ``width``: the range must be at least this wide (every suppressed cell: the profile's
  protection width, whatever the reason it is hidden; a cell pinned narrower tells the attacker
  more than "hidden");
- ``up``: for an insider, how far above the true count the range must reach (the p % rule:
  another contributor's part must not be estimated within p % of it);
- ``band``: for a difference between two releases of one cell, a narrow range is harmless only
  when it holds no small count: it fails when narrower than ``width`` *and* it meets
  1..band or -band..-1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

EXACT_WIDTH = 1.0  # a range narrower than one count pins an integer count
TOL = 1e-6

VERDICTS = ("protected", "exact", "narrow", "insider", "small difference", "unchecked")


@dataclass
class Requirements:
    """Per target: width, the reach above ``truth`` (0 = none) and the small band (0 = none)."""

    width: np.ndarray
    up: np.ndarray
    truth: np.ndarray
    band: np.ndarray

    @classmethod
    def of(cls, required: np.ndarray | Requirements) -> Requirements:
        if isinstance(required, Requirements):
            return required
        w = np.asarray(required, dtype=float)
        z = np.zeros(len(w))
        return cls(w, z, np.full(len(w), np.nan), z.copy())

    def __len__(self) -> int:
        return len(self.width)

    def take(self, idx) -> Requirements:
        return Requirements(self.width[idx], self.up[idx], self.truth[idx], self.band[idx])

    def _shortfalls(self, idx, lo, hi) -> tuple[np.ndarray, np.ndarray]:
        """(too narrow, an insider's reach missed) for targets ``idx`` with range [lo, hi]."""
        lo, hi = np.atleast_1d(lo).astype(float), np.atleast_1d(hi).astype(float)
        narrow = hi - lo < self.width[idx] - TOL
        t = self.truth[idx]
        with np.errstate(invalid="ignore"):
            one_sided = (self.up[idx] > 0) & (hi - t < self.up[idx] - TOL)
        return narrow, one_sided & ~np.isnan(t)

    def verdict(self, idx, lo, hi) -> np.ndarray:
        """The verdict of exact ranges [lo, hi] of targets ``idx``."""
        lo, hi = np.atleast_1d(lo).astype(float), np.atleast_1d(hi).astype(float)
        narrow, one_sided = self._shortfalls(idx, lo, hi)
        band = self.band[idx]
        meets_band = (band > 0) & (hi >= 1 - TOL) & (lo <= band + TOL) | (band > 0) & (lo <= -1 + TOL) & (hi >= -band - TOL)
        small_difference = (band > 0) & narrow & meets_band
        out = np.full(len(lo), "protected", dtype=object)
        out[one_sided] = "insider"
        out[narrow & (band == 0)] = "narrow"
        out[small_difference] = "small difference"
        out[(hi - lo < EXACT_WIDTH - TOL) & (band == 0)] = "exact"
        return out

    def certified(self, idx, lo, hi) -> np.ndarray:
        """Targets an *inner* range [lo, hi] (feasible points) already proves protected."""
        narrow, one_sided = self._shortfalls(idx, lo, hi)
        return ~narrow & ~one_sided

    def surely_failing(self, idx, lo, hi) -> np.ndarray:
        """Targets an *outer* range [lo, hi] already proves failing (never a difference: its band
        rule is not monotone in the range)."""
        narrow, one_sided = self._shortfalls(idx, lo, hi)
        return (narrow | one_sided) & (self.band[idx] == 0)


@dataclass
class IntervalResult:
    """Per target (a suppressed quantity): attacker's range, how it was settled, the verdict.

    ``duals[q] = (rows, lam_max, lam_min, frozen)``: LP duals of a failing target over global
    equation ``rows``; ``frozen`` lists quantities held fixed in that LP (empty when exact).
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

    @classmethod
    def unchecked(cls, targets: np.ndarray) -> IntervalResult:
        """Every target still open: no range, method and verdict "unchecked"."""
        k = len(targets)
        return cls(targets, np.full(k, np.nan), np.full(k, np.nan), np.full(k, "unchecked", dtype=object), np.full(k, "unchecked", dtype=object))

    def settle(self, idx, lo, hi, how: str, required: Requirements) -> None:
        """Record range [lo, hi] for targets ``idx``, settled by ``how``, judged against ``required``."""
        idx = np.atleast_1d(idx)
        self.lower[idx], self.upper[idx] = lo, hi
        self.method[idx] = how
        self.verdict[idx] = required.verdict(idx, self.lower[idx], self.upper[idx])

    @property
    def failing(self) -> np.ndarray:
        return (self.verdict != "protected") & (self.verdict != "unchecked")
