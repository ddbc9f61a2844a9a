"""Bound propagation: an outer range for every quantity of the attacker's programme, without an LP.

Each equation bounds each of its quantities by the others' bounds; repeated until nothing moves
by more than 1e-7 (or ``max_iter`` rounds). The true range always lies inside the result, so a
range already narrower than required fails for certain.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def propagate(A: sp.csr_matrix, b: np.ndarray, L: np.ndarray, U: np.ndarray, max_iter: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Feasibility-based bound tightening of ``A y = b``, ``L <= y <= U``: valid outer bounds."""
    L = L.astype(float).copy()
    U = U.astype(float).copy()
    if A.shape[0] == 0 or A.nnz == 0:
        return L, U
    coo = A.tocoo()
    order = np.argsort(coo.col, kind="stable")
    r, c, a = coo.row[order], coo.col[order], coo.data[order]
    starts = np.r_[0, np.nonzero(np.diff(c))[0] + 1]
    cols = c[starts]
    m = A.shape[0]
    br = b[r]
    pos = a > 0
    for _ in range(max_iter):
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
        lo_ay = br - oth_max
        hi_ay = br - oth_min
        with np.errstate(invalid="ignore"):
            ylo = np.where(pos, lo_ay / a, hi_ay / a)
            yhi = np.where(pos, hi_ay / a, lo_ay / a)
        newL = L.copy()
        newU = U.copy()
        newL[cols] = np.maximum(L[cols], np.maximum.reduceat(ylo, starts))
        newU[cols] = np.minimum(U[cols], np.minimum.reduceat(yhi, starts))
        cross = newL > newU  # floating-point noise must not cross the bounds over
        if cross.any():
            mid = (newL[cross] + newU[cross]) / 2
            newL[cross] = mid
            newU[cross] = mid
        with np.errstate(invalid="ignore"):
            gain_l = float(np.max(np.where(np.isfinite(newL), newL - L, 0.0), initial=0.0))
            fin = np.isfinite(newU)
            gain_u = float(np.max(np.where(fin & np.isfinite(U), U - newU, np.where(fin & ~np.isfinite(U), np.inf, 0.0)), initial=0.0))
        L, U = newL, newU
        if max(gain_l, gain_u) < 1e-7:
            break
    return L, U
