"""Insiders: each contributor attacks the release knowing its own part of every cell.

An insider's programme is the outsider's with, for every cell, the lower bound raised to the
insider's own part, and every cell it is the only contributor to fixed at its count (it knows no
one else is in it: a singleton). What it must not learn about a hidden cell holding someone
else's records:

- another contributor's part to within p % (``dominance.py``): the upper estimate of x_c is
  max - own, and must reach (1 + p) x_c, i.e. ``max - T >= p x_c - rest`` where T is the cell's
  count and rest = T - own - x_c, c being the largest other contributor. Only the upper estimate
  is protected, as in the p % rule itself (tau-ARGUS, sdcTable): a count's lower estimate is at
  least 1 for any listed cell, so a cell of one count could never pass. Only cells the p % rule
  makes sensitive can fail this (elsewhere the count itself, published, would not let anyone
  estimate a part within p %);
- a small count (1..threshold-1) narrower than the protection width, as for the outsider: a
  singleton's contributor must not recover the other small cell of its row (sdcTable's singleton
  handling). Larger hidden cells need no width against an insider: the width rule keeps hidden
  cells alike to a reader, and an insider learning a large count approximately learns no one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dvnet.anonymize.disclosure.dominance import Contributions
from dvnet.anonymize.disclosure.intervals import Requirements


@dataclass
class Insider:
    """One contributor's knowledge and what each of the release's quantities must reach against it.

    Arrays run over the quantities: ``own`` its part, ``sole`` the cells only it contributes to,
    ``up`` the p % reach above the count (0: none), ``small`` the hidden small counts of others
    whose width must hold against it.
    """

    party: str
    own: np.ndarray
    sole: np.ndarray
    up: np.ndarray
    small: np.ndarray

    def restrict(self, q: np.ndarray) -> Insider:
        return Insider(self.party, self.own[q], self.sole[q], self.up[q], self.small[q])

    def bounds(self, L: np.ndarray, U: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The outsider's bounds [L, U] narrowed by what this insider knows."""
        # Only where it has a part: a difference between releases may be negative (a correction).
        L = np.where(self.own > 0, np.maximum(L, self.own), L)
        U = U.copy()
        exact = self.sole & ~np.isnan(truth)
        L[exact] = truth[exact]
        U[exact] = truth[exact]
        return L, U

    def at_stake(self) -> np.ndarray:
        """The quantities this insider must be audited on, when hidden."""
        return (self.up > 0) | self.small

    def requirements(self, base: Requirements) -> Requirements:
        """``base`` (per quantity) with this insider's reaches: width on small counts only."""
        return Requirements(np.where(self.small, base.width, 0.0), self.up, base.truth, np.zeros(len(self.up)))


def insiders_of(contributions: Contributions | None, truth: np.ndarray, small: np.ndarray, n: int, p: float | None) -> list[Insider]:
    """One ``Insider`` per party holding a part of some quantity of the first ``len(truth)``.

    ``small``: the release's small counts (per quantity).
    """
    if contributions is None or not contributions.parties:
        return []
    own = contributions.own()
    T = np.nan_to_num(truth, nan=0.0)
    tops = contributions.top_two()
    out = []
    for j, party in enumerate(contributions.parties):
        mine = own[:, j].toarray().ravel()
        if not (mine > 0).any():
            continue
        up = np.zeros(len(T))
        sole = np.zeros(len(T), dtype=bool)
        for P, (x1, who, x2, _count) in zip(contributions.partitions, tops, strict=True):
            a = P[:, j].toarray().ravel()
            sole |= (a > 0) & (np.abs(a - T) < 1e-9)
            if p is None:
                continue
            xc = np.where(who == j, x2, x1)  # the largest part that is not this insider's
            rest = T - a - xc
            up = np.maximum(up, np.where((xc > 0), p * xc - rest, 0.0))
        others = T - mine > 0
        out.append(Insider(party, _pad(mine, n), _pad(sole, n, bool), _pad(np.where(others, np.maximum(up, 0), 0.0), n), _pad(small[: len(T)] & others, n, bool)))
    return out


def outsider_reach(contributions: Contributions | None, truth: np.ndarray, p: float | None) -> np.ndarray:
    """The p % reach above the count an outsider must not be denied: with no part of his own, his
    upper estimate of the largest part is the cell's max (a cell of one contributor is that
    contributor's caseload)."""
    T = np.nan_to_num(truth, nan=0.0)
    up = np.zeros(len(T))
    if contributions is None or not contributions.parties or p is None:
        return up
    for x1, _who, _x2, _count in contributions.top_two():
        up = np.maximum(up, np.where(x1 > 0, p * x1 - (T - x1), 0.0))
    return up


def _pad(a: np.ndarray, n: int, dtype=float) -> np.ndarray:
    out = np.zeros(n, dtype=dtype)
    out[: len(a)] = a
    return out
