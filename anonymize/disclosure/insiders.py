"""Insiders: each contributor attacks the release knowing its own part of every cell.

An insider's programme is the outsider's with, for every cell, the lower bound raised to the
insider's own part, and every cell it is the only contributor to fixed at its count (it knows no
one else is in it: a singleton). Its targets are the hidden cells holding someone else's records;
for each it must not learn the others' part more narrowly than the protection width, nor estimate
another contributor's part to within p % of it (``dominance.py``):

    upper estimate of x_c = max - own  must reach  (1 + p) x_c   ->  max - T >= p x_c - rest

where T is the cell's count and rest = T - own - x_c, c being the largest other contributor. As in
the p % rule itself (tau-ARGUS, sdcTable), it is the upper estimate that is protected: a count's
lower estimate is at least 1 for any listed cell, so a cell of one count could never pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dvnet.anonymize.disclosure.dominance import Contributions
from dvnet.anonymize.disclosure.intervals import Requirements


@dataclass
class Insider:
    """One contributor's knowledge and what each of the release's quantities must reach against it.

    Arrays run over the quantities; ``others`` > 0 where someone else holds records of the cell.
    """

    party: str
    own: np.ndarray
    sole: np.ndarray
    others: np.ndarray
    up: np.ndarray
    down: np.ndarray

    def restrict(self, q: np.ndarray) -> Insider:
        return Insider(self.party, self.own[q], self.sole[q], self.others[q], self.up[q], self.down[q])

    def bounds(self, L: np.ndarray, U: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The outsider's bounds [L, U] narrowed by what this insider knows."""
        L = np.maximum(L, self.own)
        U = U.copy()
        exact = self.sole & ~np.isnan(truth)
        L[exact] = truth[exact]
        U[exact] = truth[exact]
        return L, U

    def requirements(self, base: Requirements) -> Requirements:
        """``base`` (per quantity) with this insider's one-sided reaches."""
        return Requirements(base.width, self.up, self.down, base.truth, base.band)


def insiders_of(contributions: Contributions | None, truth: np.ndarray, n: int, p: float | None) -> list[Insider]:
    """One ``Insider`` per party holding a part of some quantity of the first ``len(truth)``."""
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
        down = np.zeros(len(T))
        sole = np.zeros(len(T), dtype=bool)
        for P, (x1, who, x2, count) in zip(contributions.partitions, tops, strict=True):
            a = P[:, j].toarray().ravel()
            sole |= (a > 0) & (np.abs(a - T) < 1e-9)
            if p is None:
                continue
            xc = np.where(who == j, x2, x1)  # the largest part that is not this insider's
            rest = T - a - xc
            up = np.maximum(up, np.where((xc > 0), p * xc - rest, 0.0))
        out.append(Insider(party, _pad(mine, n), _pad(sole, n, bool), _pad(T - mine, n), _pad(np.maximum(up, 0), n), _pad(down, n)))
    return out


def _pad(a: np.ndarray, n: int, dtype=float) -> np.ndarray:
    out = np.zeros(n, dtype=dtype)
    out[: len(a)] = a
    return out
