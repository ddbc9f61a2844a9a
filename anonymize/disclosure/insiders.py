"""Each agency as an attacker: it knows its own count in every cell (the p % rule's insider).

An agency's programme is the outsider's (``audit.py``) with its own counts as lower bounds and the
cells it alone contributes fixed at their values (``insider_view``). ``insiders_short`` finds the
suppressed cells an agency narrows: a small count (primary) whose range is narrower than the
protection width the outsider is held to, a dominated cell whose range is narrower than p % of the
largest other agency's count (or pinned), or a highest value that, less its own count, does not
reach p % above that count (the p % rule's upper protection). ``repair_insiders`` closes each shortfall in the
agency's own programme: the cheapest cell whose coefficient in the agency's dual cut covers what
the cell lacks (``complementary_heuristic.add_cut_cells``), until its own audit passes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dvnet.anonymize.disclosure.attack import ComponentMemo, attacker_intervals, component_labels
from dvnet.anonymize.disclosure.audit import DOMINANCE, PRIMARY, AttackerView
from dvnet.anonymize.disclosure.complementary import Problem
from dvnet.anonymize.disclosure.complementary_heuristic import add_cut_cells
from dvnet.anonymize.disclosure.intervals import EXACT_WIDTH, TOL

if TYPE_CHECKING:
    from dvnet.anonymize.disclosure.protect import Prepared

#: Rounds of cuts per agency in one repair: each adds at most one cell per short cell and checks again.
CUT_ROUNDS = 8


@dataclass
class Shortfall:
    """One agency's short cells: what its range must reach (``need`` wide, up to ``top``), and
    how much wider and higher it must still go."""

    agency: int
    targets: np.ndarray
    need: np.ndarray
    top: np.ndarray
    wider: np.ndarray
    higher: np.ndarray


@dataclass
class InsiderCheck:
    """Every agency's shortfalls; per cell, the largest over agencies."""

    shortfalls: list[Shortfall]

    @property
    def cells(self) -> np.ndarray:
        return np.unique(np.concatenate([s.targets for s in self.shortfalls])) if self.shortfalls else np.zeros(0, dtype=np.int64)

    def _most(self, attr: str) -> np.ndarray:
        cells = self.cells
        out = np.zeros(len(cells))
        for s in self.shortfalls:
            i = np.searchsorted(cells, s.targets)
            np.maximum.at(out, i, getattr(s, attr))
        return out

    def wider(self) -> np.ndarray:
        return self._most("wider")

    def higher(self) -> np.ndarray:
        return self._most("higher")


def insider_view(prep: Prepared, agency: int) -> AttackerView:
    """The outsider's bounds with the agency's own count as every lower bound, and the cells it
    alone contributes (in this release and, ``carry_owners``, earlier ones) fixed at their value."""
    v, truth = prep.view, prep.model.truth
    own = prep.by_agency_cols[:, agency].toarray().ravel()
    pub_lo, pub_hi, sup_lo, sup_hi = np.maximum(v.pub_lo, own), v.pub_hi.copy(), np.maximum(v.sup_lo, own), v.sup_hi.copy()
    alone = prep.owner == agency
    value = np.where(np.isfinite(truth), truth, own)[alone]
    for bound in (pub_lo, pub_hi, sup_lo, sup_hi):
        bound[alone] = value
    return AttackerView(pub_lo, pub_hi, sup_lo, sup_hi, v.in_release)


def insiders_short(
    prep: Prepared, suppressed: np.ndarray, kinds: np.ndarray, exact_limit: int, time_limit: float | None, *, report_exact: bool = False,
    memo: ComponentMemo | None = None,
) -> InsiderCheck:
    """Suppressed cells that one agency, knowing its own counts, narrows: a small count (primary)
    whose range is narrower than its protection width (``Problem.required``, what the outsider's
    audit holds it to), a dominated cell (or a small count the p % rule flags too) whose range is
    pinned or narrower than p % of the largest other agency's count, or whose highest value, less
    the agency's own count, comes within p % above that count. A cell the agency alone contributes
    is its own: never a target of its check.

    Per agency, only the components (suppressed cells linked by equations, as the outsider's
    audit splits them) where its own counts narrow a bound are solved again: elsewhere its range
    is the outsider's, which the audit already holds to the cell's required width (solved again
    too where that width or top is below the agency's). A cell the points seen show protected
    needs no exact range (``report_exact`` gives every cell one: the slow reference, the same
    answer); a short one gets its exact range, so what it lacks is exact. ``memo``: components
    settled by earlier rounds (``attack.ComponentMemo``)."""
    p = prep.profile.p_percent
    targets_all = np.nonzero(suppressed & ((kinds == DOMINANCE) | (kinds == PRIMARY)))[0]
    if prep.by_agency is None or not len(targets_all):
        return InsiderCheck([])
    small = kinds[targets_all] == PRIMARY
    p_rule = (p is not None) & ~(small & ~np.isfinite(prep.problem.top[targets_all]))  # the cells the p % rule flags
    width = np.where(small, prep.problem.required[targets_all], 0.0)  # the small count's protection, against every agency
    M, truth = prep.model.M, prep.model.truth
    L, U = prep.view.bounds(suppressed)
    free = np.nonzero(U - L > 1e-9)[0]
    comp = np.full(len(L), -1)
    comp[free] = component_labels(M[:, free].tocsr())[0]
    dense = prep.by_agency[targets_all].toarray()
    out = []
    for a in range(dense.shape[1]):
        La, Ua = insider_view(prep, a).bounds(suppressed)
        own = dense[:, a]
        others = np.delete(dense, a, axis=1).max(axis=1) if dense.shape[1] > 1 else np.zeros(len(targets_all))
        share = (p or 0.0) / 100.0
        # Never pinned (that reads the others' part exactly), p % of the largest other where the rule flags the cell.
        need = np.maximum(width, np.where(p_rule, np.maximum(share * others, EXACT_WIDTH), 0.0))
        top = np.where(p_rule, own + (1.0 + share) * others, -np.inf)
        changed = comp[(La > L) | (Ua < U)]
        looked = np.isin(comp[targets_all], changed[changed >= 0]) | (prep.problem.required[targets_all] < need - 1e-9)
        looked |= prep.problem.top[targets_all] < top - 1e-9
        keep = (others > 0) & ~(prep.owner[targets_all] == a) & looked
        targets, need, top = targets_all[keep], need[keep], top[keep]
        if not len(targets):
            continue
        # Components holding no target are left out of the programme (their cells fixed at the truth).
        rest = ~np.isin(comp, comp[targets]) & np.isfinite(truth)
        La[rest], Ua[rest] = truth[rest], truth[rest]
        res = attacker_intervals(
            M, La, Ua, targets, need, truth=truth, exact_limit=exact_limit, report_exact=report_exact, time_limit=time_limit, top=top, memo=memo
        )
        # Unchecked (no range) counts as short by the whole requirement.
        wider = need - np.nan_to_num(res.upper - res.lower, nan=0.0)
        higher = top - np.where(np.isnan(res.upper), truth[targets], res.upper)
        short = (wider > TOL) | (higher > TOL)
        if short.any():
            out.append(Shortfall(a, targets[short], need[short], top[short], np.maximum(wider[short], 0.0), np.maximum(higher[short], 0.0)))
    return InsiderCheck(out)


def repair_insiders(prep: Prepared, suppressed: np.ndarray, check: InsiderCheck, exact_limit: int, time_limit: float | None) -> int:
    """Add cells to ``suppressed`` (in place) until each agency's own audit of its short cells
    passes, or ``CUT_ROUNDS`` add nothing more: per round, for each cell still short, the cheapest
    cell whose coefficient in the agency's dual cut covers the shortfall (the cut of its max where
    it is the top that is short). Returns how many cells were added."""
    P, n = prep.problem, prep.problem.n
    added = 0
    for s in check.shortfalls:
        required, top = np.zeros(n), np.full(n, -np.inf)
        required[s.targets], top[s.targets] = s.need, s.top
        own = Problem(P.M, insider_view(prep, s.agency), P.truth, P.sensitive, P.can_suppress, required, P.cost, top=top)
        for _ in range(CUT_ROUNDS):
            res = own.audit(suppressed, targets=s.targets, want_duals=True, exact_limit=exact_limit, time_limit=time_limit)
            failing = res.targets[res.failed()]
            more = add_cut_cells(own, suppressed, res, failing) if len(failing) else 0
            added += more
            if not more:
                break
    return added
