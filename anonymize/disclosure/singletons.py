"""Singletons: a suppressed cell one agency alone contributes is known to that agency.

That agency subtracts the cell from every equation it is in (a margin equals the sum of its
parts). If only one other suppressed cell is left in such an equation, the agency recalculates it
exactly. sdcTable's singleton detection (tau-ARGUS's strategy, ``detectSingletons``) adds a
suppression in a row holding exactly two suppressed cells of which one is a singleton; this rule
is the same, counted per agency: in an equation, the suppressed cells the agency does not know
must not be exactly one. The cell added is the row's cheapest cell that may be suppressed.

Earlier releases of the period take part: their equations hold quantities the attacker does not
know (``unknown``: suppressed then, or a difference between then and now), and an agency knows
the earlier cells it alone contributed then (``carry_owners``) as it knows its cells now.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def exposed_rows(M: sp.csr_matrix, suppressed: np.ndarray, owner: np.ndarray, unknown: np.ndarray | None = None) -> np.ndarray:
    """Equations where some agency, knowing the suppressed cells it alone contributes, would
    recalculate the one suppressed cell left (``owner``: the single agency of a cell, else -1;
    ``unknown``: quantities outside this release the attacker does not know either)."""
    out = []
    masked = suppressed if unknown is None else suppressed | unknown
    known = masked & (owner >= 0)
    for r in np.unique(M[:, np.nonzero(known)[0]].tocoo().row) if known.any() else ():
        cols = M.indices[M.indptr[r] : M.indptr[r + 1]]
        hidden = cols[masked[cols]]
        owners = owner[hidden]
        for a in np.unique(owners[owners >= 0]):
            if len(hidden) - int((owners == a).sum()) == 1:
                out.append(r)
                break
    return np.asarray(out, dtype=np.int64)


def protect_singletons(
    M: sp.csr_matrix, suppressed: np.ndarray, owner: np.ndarray, can_suppress: np.ndarray, cost: np.ndarray, unknown: np.ndarray | None = None
) -> np.ndarray:
    """``suppressed`` with one more cell in each exposed equation, until none is exposed (or no
    cell is left to add; ``exposed_rows`` then still names the equation)."""
    suppressed = suppressed.copy()
    for _ in range(M.shape[0] + 1):
        rows = exposed_rows(M, suppressed, owner, unknown)
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


def carry_owners(owner: np.ndarray, agencies: list[str], earlier_owner: np.ndarray, link_qids: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """``owner`` extended to earlier releases' quantities, and the agency ids of its codes.

    An earlier cell one agency alone contributed then (``earlier_owner``, from the internal record)
    is that agency's. The difference ``d`` between a cell now and then (``link_qids``: new, old, d)
    is an agency's when that agency alone contributed both (or one of them is zero): it knows both
    of its own counts. Otherwise nobody is granted it, which only makes the rule stricter."""
    owner, names = owner.copy(), list(agencies)
    code = {a: i for i, a in enumerate(names)}
    for q in np.nonzero(owner < 0)[0]:
        a = earlier_owner[q]
        if a is None:
            continue
        if a not in code:  # an agency of an earlier release only
            code[a] = len(names)
            names.append(a)
        owner[q] = code[a]
    for new, old, d in link_qids:
        holders = {int(owner[q]) for q in (new, old) if not truth[q] == 0}
        if owner[d] < 0 and len(holders) == 1 and min(holders) >= 0:
            owner[d] = holders.pop()
    return owner, names
