"""Bound propagation: outer ranges for every quantity of the attacker's programme, without an LP.

The attacker's range lies inside the result, so a range already narrower than required fails for
certain, and the ranges bound the boxes the LPs search in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


def propagate(A: sp.csr_matrix, b: np.ndarray, L: np.ndarray, U: np.ndarray, max_iter: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Feasibility-based bound tightening of ``A y = b``, ``L <= y <= U``: valid outer bounds."""
    L = L.astype(float).copy()
    U = U.astype(float).copy()
    if A.shape[0] == 0 or A.nnz == 0:
        return L, U
    entries = _Entries.of(A, b)
    for _ in range(max_iter):
        newL, newU = entries.tighten(L, U)
        gain = _largest_gain(L, U, newL, newU)
        L, U = newL, newU
        if gain < 1e-7:
            break
    return L, U


@dataclass
class _Entries:
    """The nonzeros of ``A`` sorted by column (``r``, ``c``, ``a``), with each entry's ``b``;
    ``starts``: where each of the columns ``cols`` begins."""

    r: np.ndarray
    c: np.ndarray
    a: np.ndarray
    br: np.ndarray
    starts: np.ndarray
    cols: np.ndarray
    m: int

    @classmethod
    def of(cls, A: sp.csr_matrix, b: np.ndarray) -> _Entries:
        coo = A.tocoo()
        order = np.argsort(coo.col, kind="stable")
        r, c, a = coo.row[order], coo.col[order], coo.data[order]
        starts = np.r_[0, np.nonzero(np.diff(c))[0] + 1]
        return cls(r, c, a, b[r], starts, c[starts], A.shape[0])

    def tighten(self, L: np.ndarray, U: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One round: each quantity bounded by every equation it is in, given the others' bounds."""
        r, c, a, m = self.r, self.c, self.a, self.m
        pos = a > 0
        Lc, Uc = L[c], U[c]
        tmin = np.where(pos, a * Lc, a * Uc)
        tmax = np.where(pos, a * Uc, a * Lc)
        inf_min = ~np.isfinite(tmin)
        inf_max = ~np.isfinite(tmax)
        fmin = np.where(inf_min, 0.0, tmin)
        fmax = np.where(inf_max, 0.0, tmax)
        smin = np.bincount(r, fmin, minlength=m)
        smax = np.bincount(r, fmax, minlength=m)
        nmin = np.bincount(r, inf_min, minlength=m)
        nmax = np.bincount(r, inf_max, minlength=m)
        oth_min = np.where(nmin[r] - inf_min > 0, -np.inf, smin[r] - fmin)
        oth_max = np.where(nmax[r] - inf_max > 0, np.inf, smax[r] - fmax)
        lo_ay = self.br - oth_max
        hi_ay = self.br - oth_min
        with np.errstate(invalid="ignore"):
            ylo = np.where(pos, lo_ay / a, hi_ay / a)
            yhi = np.where(pos, hi_ay / a, lo_ay / a)
        newL = L.copy()
        newU = U.copy()
        newL[self.cols] = np.maximum(L[self.cols], np.maximum.reduceat(ylo, self.starts))
        newU[self.cols] = np.minimum(U[self.cols], np.minimum.reduceat(yhi, self.starts))
        cross = newL > newU  # floating-point noise must not cross the bounds over
        if cross.any():
            mid = (newL[cross] + newU[cross]) / 2
            newL[cross] = mid
            newU[cross] = mid
        return newL, newU


def _largest_gain(L: np.ndarray, U: np.ndarray, newL: np.ndarray, newU: np.ndarray) -> float:
    """How far the round moved any bound (an infinite one becoming finite: infinitely far)."""
    with np.errstate(invalid="ignore"):
        gain_l = float(np.max(np.where(np.isfinite(newL), newL - L, 0.0), initial=0.0))
        fin = np.isfinite(newU)
        gain_u = float(np.max(np.where(fin & np.isfinite(U), U - newU, np.where(fin & ~np.isfinite(U), np.inf, 0.0)), initial=0.0))
    return max(gain_l, gain_u)
