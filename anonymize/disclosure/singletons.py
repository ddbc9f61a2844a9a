"""Singletons: a suppressed cell one agency alone contributes is known to that agency.

That agency subtracts the cell from every equation it is in (a margin equals the sum of its
parts). If only one other suppressed cell is left in such an equation, the agency recalculates it
exactly. sdcTable's singleton detection (tau-ARGUS's strategy, ``detectSingletons``) adds a
suppression in a row holding exactly two suppressed cells of which one is a singleton; this rule
is the same, counted per agency: in an equation, the suppressed cells the agency does not know
must not be exactly one. The cell added is the row's cheapest cell that may be suppressed.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def exposed_rows(M: sp.csr_matrix, suppressed: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """Equations where some agency, knowing the suppressed cells it alone contributes, would
    recalculate the one suppressed cell left (``owner``: the single agency of a cell, else -1)."""
    out = []
    known = suppressed & (owner >= 0)
    for r in np.unique(M[:, np.nonzero(known)[0]].tocoo().row) if known.any() else ():
        cols = M.indices[M.indptr[r] : M.indptr[r + 1]]
        hidden = cols[suppressed[cols]]
        owners = owner[hidden]
        for a in np.unique(owners[owners >= 0]):
            if len(hidden) - int((owners == a).sum()) == 1:
                out.append(r)
                break
    return np.asarray(out, dtype=np.int64)


def protect_singletons(M: sp.csr_matrix, suppressed: np.ndarray, owner: np.ndarray, can_suppress: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """``suppressed`` with one more cell in each exposed equation, until none is exposed (or no
    cell is left to add; ``exposed_rows`` then still names the equation)."""
    suppressed = suppressed.copy()
    for _ in range(M.shape[0] + 1):
        rows = exposed_rows(M, suppressed, owner)
        added = False
        for r in rows:
            cols = M.indices[M.indptr[r] : M.indptr[r + 1]]
            free = cols[can_suppress[cols] & ~suppressed[cols]]
            if len(free):
                suppressed[free[np.argmin(cost[free])]] = True
                added = True
        if not added:
            break
    return suppressed
