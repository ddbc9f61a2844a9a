"""Ranges seen in feasible points, carried from one audit of a growing pattern to the next.

A complementary-suppression heuristic audits its pattern again after every round of added cells.
Suppressing a cell only widens its bounds (a published value becomes "somewhere in the suppressed
range"), so every point feasible for the earlier programme is feasible for the later one, and the
spread of values it showed still certifies a range at least that wide. The audit then needs LPs
only for what the earlier points do not already settle.

The reuse is checked, not assumed: ``SeenRanges.valid_for`` holds only for the same equations and
bounds that contain the earlier ones everywhere. Anything else (a cell published again, another
release) starts from nothing, which can only cost more LPs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp


@dataclass
class SeenRanges:
    """Per quantity of ``M``: the lowest and highest value seen among checked feasible points of
    the attacker's programme with bounds [``L``, ``U``] (``lo > hi`` where nothing was seen; an
    empty [L, U] where no point depends on the quantity's bounds)."""

    M: sp.spmatrix | None = None
    L: np.ndarray = field(default_factory=lambda: np.zeros(0))
    U: np.ndarray = field(default_factory=lambda: np.zeros(0))
    lo: np.ndarray = field(default_factory=lambda: np.zeros(0))
    hi: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @classmethod
    def nothing(cls, M: sp.spmatrix, n: int) -> SeenRanges:
        """Nothing seen yet over the ``n`` quantities of ``M``: valid for any bounds."""
        return cls(M, np.full(n, np.inf), np.full(n, -np.inf), np.full(n, np.inf), np.full(n, -np.inf))

    def absorb(self, part: SeenRanges, ids: np.ndarray) -> None:
        """Take in what ``part`` saw over a block of these quantities (``ids``, in ``part``'s order).

        The block must be linked to the other quantities by no equation (``complementary.blocks``):
        its points then combine with any feasible values elsewhere into feasible points here."""
        if part.M is None or len(part.L) != len(ids):
            return
        self.L[ids], self.U[ids], self.lo[ids], self.hi[ids] = part.L, part.U, part.lo, part.hi

    def valid_for(self, M: sp.spmatrix, L: np.ndarray, U: np.ndarray) -> bool:
        """Whether every point seen is feasible for ``M y = 0`` with bounds [L, U]: the same
        equations, and bounds at least as wide as the ones the points were found under."""
        return self.M is M and len(self.L) == len(L) and bool(np.all(L <= self.L) and np.all(U >= self.U))

    def start(self, M: sp.spmatrix, L: np.ndarray, U: np.ndarray) -> None:
        """Get ready for an audit of [L, U]: keep what was seen if it still holds, else forget it."""
        if not self.valid_for(M, L, U):
            self.lo = np.full(len(L), np.inf)
            self.hi = np.full(len(L), -np.inf)
        self.M, self.L, self.U = M, L.copy(), U.copy()

    def seen(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.lo[q], self.hi[q]

    def record(self, q: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        """Values seen for quantities ``q`` in points feasible under the current bounds."""
        np.minimum.at(self.lo, q, lo)
        np.maximum.at(self.hi, q, hi)
