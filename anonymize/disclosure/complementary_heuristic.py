"""Fast complementary suppression, for blocks beyond the MILP's reach.

(A) Row-local rule in vectorised rounds: in every equation, each suppressed cell's range from that
equation alone must reach its requirement, else add the cheapest published cell of the equation
that fixes it (cost plus one per equation the new cell would sit alone in, a look-ahead against
cascades; SIMPLEHEURISTIC style). (A') On large blocks (``PROPAGATION_RULE_MIN_CELLS``), the same
with each equation's other cells at their propagated bounds, for cells propagation shows failing.
(B) Audit the whole pattern; for each cell still exposed (e.g. a
cell linking two suppression blocks, which every row-local rule misses) add the cheapest cell whose
dual coefficient in that cell's cut covers the deficit, then (A) again; loop until the audit
passes. (C) Drop complementary cells the audit shows to be exact (they hide nothing), then, within
a time budget, any complementary cell whose removal still passes the audit.

Each audit of (B) starts from the points the one before saw (the pattern only grows there, see
``seen_ranges.py``), and gives duals only to failing cells that share no equation with one given
duals before them; a neighbour the repair already protects then needs no cell of its own. While
some cell is known to fail, it spends no LP on proving the others safe (they are looked at after
the repair); the audit that ends the loop, with nothing failing, decides every cell.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from dvnet.anonymize.disclosure.attack import component_labels
from dvnet.anonymize.disclosure.complementary import Problem, SolveInfo, dual_cut
from dvnet.anonymize.disclosure.intervals import EXACT_WIDTH, TOL, IntervalResult
from dvnet.anonymize.disclosure.propagation import propagate
from dvnet.anonymize.disclosure.seen_ranges import SeenRanges


#: Blocks of this many quantities or more also get the propagated rule (A') before each audit.
#: On the benchmark's 10^5-cell release (a 46,725-quantity block) it takes the cells failing by
#: propagation from 4,491 to 238 in 0.4 s, and the heuristic's first audit from 157 s (1,346 LPs
#: giving duals) to 6 s; on its 10^4-cell releases (10,296 quantities) it saves no time and its
#: cells, chosen without the duals' view, cost more there on two seeds of four (2,153 against
#: 1,664 complementary cells), so smaller blocks keep the duals alone.
PROPAGATION_RULE_MIN_CELLS = 20_000


class _RowState:
    """Vectorised per-equation ranges of every suppressed cell (the row-local rule)."""

    def __init__(self, problem: Problem):
        coo = problem.M.tocoo()
        order = np.lexsort((coo.col, coo.row))
        self.r = coo.row[order].astype(np.int64)
        self.c = coo.col[order].astype(np.int64)
        self.a = coo.data[order].astype(float)
        self.m = problem.M.shape[0]
        self.abs_T = abs(problem.M).T.tocsr()
        self.problem = problem

    def _terms(self, L: np.ndarray, U: np.ndarray, c: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, ...]:
        pos = a > 0
        tmin = np.where(pos, a * L[c], a * U[c])
        tmax = np.where(pos, a * U[c], a * L[c])
        imin, imax = ~np.isfinite(tmin), ~np.isfinite(tmax)
        return np.where(imin, 0.0, tmin), imin.astype(np.int64), np.where(imax, 0.0, tmax), imax.astype(np.int64)

    @staticmethod
    def _interval(a, fmin_o, nmin_o, fmax_o, nmax_o, Lp, Up):
        # a * y = -(others): others in [omin, omax]
        omin = np.where(nmin_o > 0, -np.inf, fmin_o)
        omax = np.where(nmax_o > 0, np.inf, fmax_o)
        with np.errstate(invalid="ignore", divide="ignore"):
            lo = np.where(a > 0, -omax / a, -omin / a)
            hi = np.where(a > 0, -omin / a, -omax / a)
        return np.maximum(lo, Lp), np.minimum(hi, Up)

    def enforce(self, suppressed: np.ndarray, deadline: float | None, max_rounds: int = 500) -> int:
        """Add cells until every suppressed cell's range in every single equation is wide enough."""
        added = 0
        stuck = np.zeros(self.m, dtype=bool)
        for _ in range(max_rounds):
            if deadline is not None and time.perf_counter() > deadline:
                break
            rnd = self._ranges(suppressed)
            more = self._add_for(rnd.target & rnd.short & ~stuck[self.r], rnd, suppressed, stuck)
            if more is None:
                break
            added += more
        return added

    def enforce_propagated(self, suppressed: np.ndarray, deadline: float | None, max_rounds: int = 100) -> int:
        """(A') Add cells until no suppressed cell fails by bound propagation, where one equation
        can fix it: the row-local rule with the other cells of each equation at their propagated
        bounds. A cell propagation shows too narrow fails for certain (its outer range), so each
        cell added here answers a real failure, for a few vectorised passes instead of an LP each.
        Per failing cell, the equations that alone leave it short, else those that bound it; one
        with no published cell left is left to the audit's duals. Then (A) again."""
        added = 0
        stuck = np.zeros(self.m, dtype=bool)
        for _ in range(max_rounds):
            if deadline is not None and time.perf_counter() > deadline:
                break
            rnd = self._ranges(suppressed, propagated=True)
            failing = np.zeros(self.problem.n, dtype=bool)
            failing[self.c[rnd.target & rnd.fails]] = True
            deficit = rnd.target & failing[self.c] & ~stuck[self.r]
            alone = np.zeros(self.problem.n, dtype=bool)
            alone[self.c[deficit & rnd.short]] = True
            more = self._add_for(deficit & (rnd.short | (rnd.bounding & ~alone[self.c])), rnd, suppressed, stuck)
            if more is None:
                break
            added += more + self.enforce(suppressed, deadline)
        return added

    def _add_for(self, deficit: np.ndarray, rnd: _Round, suppressed: np.ndarray, stuck: np.ndarray) -> int | None:
        """Per equation with a ``deficit`` entry, add its best published cell for its worst-off
        target (equations with none are marked ``stuck``). None when there is nothing more to do."""
        P = self.problem
        r, c = self.r, self.c
        if not deficit.any():
            return None
        e_p = self._worst_per_row(deficit, rnd)
        rows = r[e_p]
        row_p = np.full(self.m, -1, dtype=np.int64)
        row_p[rows] = e_p
        # Candidates: suppressible, still published cells of those rows.
        cand = np.nonzero((row_p[r] >= 0) & P.can_suppress[c] & ~suppressed[c])[0]
        has_cand = np.zeros(self.m, dtype=bool)
        has_cand[r[cand]] = True
        stuck[rows[~has_cand[rows]]] = True
        if len(cand) == 0:
            return 0
        pick = self._best_candidates(rnd, cand, row_p[r[cand]])
        useful = pick[~suppressed[pick]]
        if len(useful) == 0:
            return None
        suppressed[useful] = True
        return len(useful)

    def _ranges(self, suppressed: np.ndarray, propagated: bool = False) -> _Round:
        """Every entry's range from its equation alone, under pattern ``suppressed``: the other
        cells of the equation at their bounds, or (``propagated``) at their bounds after propagation
        through every equation, each cell's own bounds as published."""
        P = self.problem
        v = P.view
        r, c, a = self.r, self.c, self.a
        L, U = v.bounds(suppressed)
        oL, oU = propagate(P.M, np.zeros(self.m), L, U) if propagated else (L, U)
        fmin, nmin, fmax, nmax = self._terms(oL, oU, c, a)
        smin = np.bincount(r, fmin, self.m)
        smax = np.bincount(r, fmax, self.m)
        cmin = np.bincount(r, nmin, self.m)
        cmax = np.bincount(r, nmax, self.m)
        lo, hi = self._interval(a, smin[r] - fmin, cmin[r] - nmin, smax[r] - fmax, cmax[r] - nmax, L[c], U[c])
        target = suppressed[c] & v.in_release[c]
        need = np.where(P.sensitive[c], P.required[c], EXACT_WIDTH)
        fails = (oU[c] - oL[c] < need - TOL) | (oU[c] < P.top[c] - TOL)
        # The equation gives the cell its propagated bound on a side its own bounds do not.
        bounding = ((lo >= oL[c] - TOL) & (oL[c] > L[c] + TOL)) | ((hi <= oU[c] + TOL) & (oU[c] < U[c] - TOL))
        return _Round(L, U, fmin, nmin, fmax, nmax, smin, smax, cmin, cmax, hi - lo, need, target, hi, P.top[c], fails, bounding)

    def _worst_per_row(self, deficit: np.ndarray, rnd: _Round) -> np.ndarray:
        """The worst-off target of each deficient equation (entry positions, by row)."""
        r = self.r
        e_def = np.nonzero(deficit)[0]
        short = (rnd.need - np.nan_to_num(rnd.width, posinf=1e18) + np.maximum(rnd.top - np.nan_to_num(rnd.hi, posinf=1e18), 0.0))[e_def]
        o = np.lexsort((-short, r[e_def]))
        e_def = e_def[o]
        first = np.r_[True, r[e_def][1:] != r[e_def][:-1]]
        return e_def[first]

    def _best_candidates(self, rnd: _Round, cand: np.ndarray, ep: np.ndarray) -> np.ndarray:
        """Per deficient row, the cell to add: the cheapest that gives its target ``ep`` the
        required range, else the one that widens it most per cost."""
        P = self.problem
        r, c, a = self.r, self.c, self.a
        fmin_s, nmin_s, fmax_s, nmax_s = self._terms(P.view.sup_lo, P.view.sup_hi, c[cand], a[cand])
        # p's "others" sums with candidate q switched to suppressed.
        fo_min = rnd.smin[r[cand]] - rnd.fmin[ep] - rnd.fmin[cand] + fmin_s
        no_min = rnd.cmin[r[cand]] - rnd.nmin[ep] - rnd.nmin[cand] + nmin_s
        fo_max = rnd.smax[r[cand]] - rnd.fmax[ep] - rnd.fmax[cand] + fmax_s
        no_max = rnd.cmax[r[cand]] - rnd.nmax[ep] - rnd.nmax[cand] + nmax_s
        nlo, nhi = self._interval(a[ep], fo_min, no_min, fo_max, no_max, rnd.L[c[ep]], rnd.U[c[ep]])
        new_w = nhi - nlo
        achieves = (new_w >= rnd.need[ep] - TOL) & (nhi >= rnd.top[ep] - TOL)
        # Look-ahead: each equation the candidate would sit alone in needs another cell.
        nsup_row = np.bincount(r, rnd.target, self.m)
        alone = self.abs_T @ (nsup_row == 0).astype(float)
        eff = P.cost[c[cand]] + alone[c[cand]]
        gain = np.nan_to_num(new_w - rnd.width[ep], posinf=1e18) + np.where(np.isfinite(rnd.top[ep]), np.nan_to_num(nhi - rnd.hi[ep], nan=0.0, posinf=1e18), 0.0)
        k2 = np.where(achieves, 0, 1)
        k3 = np.where(achieves, eff, -gain / eff)
        o = np.lexsort((k3, k2, r[cand]))
        chosen = cand[o]
        first = np.r_[True, r[chosen][1:] != r[chosen][:-1]]
        return np.unique(c[chosen[first]])


@dataclass
class _Round:
    """One round of the row-local rule: per-entry bound terms (finite part, infinite count) and
    their per-row sums, each entry's range width, required width, whether it is a target, and the
    top of its range with the value that must reach (``Problem.top``)."""

    L: np.ndarray
    U: np.ndarray
    fmin: np.ndarray
    nmin: np.ndarray
    fmax: np.ndarray
    nmax: np.ndarray
    smin: np.ndarray
    smax: np.ndarray
    cmin: np.ndarray
    cmax: np.ndarray
    width: np.ndarray
    need: np.ndarray
    target: np.ndarray
    hi: np.ndarray
    top: np.ndarray
    fails: np.ndarray  # the entry's cell is short by its bounds (propagated ones: for certain)
    bounding: np.ndarray  # the entry's range is its cell's (propagated) range on one side

    @property
    def short(self) -> np.ndarray:
        """The entry's range from its equation alone is short of its width or its top."""
        return (self.width < self.need - TOL) | (self.hi < self.top - TOL)


def heuristic(
    problem: Problem,
    *,
    suppressed: np.ndarray | None = None,
    time_limit: float = 120.0,
    cleanup_seconds: float = 20.0,
    exact_limit: int = 400,
    seen: SeenRanges | None = None,
) -> tuple[np.ndarray, SolveInfo]:
    """A protecting pattern found fast (see module doc). ``suppressed`` may seed the pattern.
    ``seen`` receives the values its audits saw in feasible points (``seen_ranges.py``)."""
    t0 = time.perf_counter()
    deadline = t0 + time_limit
    info = SolveInfo("heuristic")
    supp = problem.sensitive.copy() if suppressed is None else (suppressed | problem.sensitive).copy()
    rows = _RowState(problem)
    propagated = problem.n >= PROPAGATION_RULE_MIN_CELLS
    rows.enforce(supp, deadline)
    if propagated:
        rows.enforce_propagated(supp, deadline)
    seen = SeenRanges() if seen is None else seen  # the pattern grows until the clean-up: each audit starts from the last one's points
    stalled = 0
    while time.perf_counter() < deadline:
        info.iterations += 1
        # Duals for failing cells apart from each other (fewer LPs, fewer cells added); once that
        # adds nothing, for every failing cell, as before.
        audit = problem.audit(
            supp, want_duals=True, time_limit=max(deadline - time.perf_counter(), 0.1), exact_limit=exact_limit, seen=seen, duals_apart=stalled == 0
        )
        info.lp_solves += audit.n_lp
        failing = audit.targets[audit.failed()]
        if len(failing) == 0:
            if (audit.verdict == "unchecked").any():
                info.note = "audit time limit"
            break
        added = add_cut_cells(problem, supp, audit, failing)
        if added == 0:
            stalled += 1
            if stalled > 1:
                info.note = "no cell left that could protect the exposed cells"
                break
        rows.enforce(supp, deadline)
        if propagated:
            rows.enforce_propagated(supp, deadline)
    # A seeded pattern's own cells were cleaned up when it was made: only the cells added here are tried.
    fresh = None if suppressed is None else supp & ~suppressed
    supp = cleanup(problem, supp, deadline=min(deadline, time.perf_counter() + cleanup_seconds), exact_limit=exact_limit, candidates=fresh, seen=seen)
    info.seconds = time.perf_counter() - t0
    return supp, info


def add_cut_cells(problem: Problem, supp: np.ndarray, audit: IntervalResult, failing: np.ndarray) -> int:
    """For each failing cell, add the cheapest cell whose coefficient in its dual cut covers the
    deficit (else the best coefficient per cost); the cut of its max alone where its range stops
    below its ``top``. Returns how many cells were added."""
    added = 0
    width = dict(zip(audit.targets.tolist(), (audit.upper - audit.lower).tolist(), strict=True))
    below = dict(zip(audit.targets.tolist(), (audit.top - audit.upper).tolist(), strict=True))
    for p in failing:
        if int(p) not in audit.duals:
            continue
        rows_, lam_max, lam_min, frozen = audit.duals[int(p)]
        upper = below[int(p)] > TOL
        cut = dual_cut(problem, supp, int(p), rows_, lam_max, lam_min, frozen, upper=upper)
        free = ~supp[cut.cols]
        cols, coefs = cut.cols[free], cut.d[free]
        if len(cols) == 0:
            continue
        deficit = below[int(p)] if upper else float(problem.required[p]) - width[int(p)]
        cost = problem.cost[cols]
        covers = coefs >= deficit - 1e-9
        if covers.any():
            q = cols[covers][np.argmin(cost[covers])]
        else:
            q = cols[np.argmax(coefs / cost)]
        if not supp[q]:
            supp[q] = True
            added += 1
    return added


def cleanup(
    problem: Problem,
    suppressed: np.ndarray,
    *,
    deadline: float | None,
    exact_limit: int = 400,
    greedy_limit: int = 3000,
    candidates: np.ndarray | None = None,
    seen: SeenRanges | None = None,
) -> np.ndarray:
    """Drop complementary cells that hide nothing: exact ones, then (in budget) redundant ones
    among ``candidates`` (default: every complementary cell)."""
    supp = suppressed.copy()
    comp = supp & ~problem.sensitive & problem.view.in_release
    if not comp.any():
        return supp
    remaining = None if deadline is None else max(deadline - time.perf_counter(), 0.1)
    res = problem.audit(supp, targets=np.nonzero(comp)[0], time_limit=remaining, exact_limit=exact_limit, seen=seen)
    exact = res.targets[res.verdict == "exact"]
    supp[exact] = False  # an exact cell is known to the attacker anyway: publishing it changes nothing
    if problem.n > greedy_limit:
        return supp
    order = np.nonzero(supp & ~problem.sensitive & problem.view.in_release & (True if candidates is None else candidates))[0]
    order = order[np.argsort(-problem.cost[order], kind="stable")]
    for q in order:
        if deadline is not None and time.perf_counter() > deadline:
            break
        targets = _affected(problem, supp, q)
        supp[q] = False
        res = problem.audit(
            supp, targets=targets, time_limit=None if deadline is None else max(deadline - time.perf_counter(), 0.1), exact_limit=exact_limit, stop_at_failure=True
        )
        if not (res.verdict == "protected").all():
            supp[q] = True
    return supp


def _affected(problem: Problem, supp: np.ndarray, q: int) -> np.ndarray:
    """The suppressed cells whose range publishing ``q`` can change: those linked to it by
    equations through other suppressed cells (its component in the attacker's programme; every
    other component's programme stays as it was). Cells sharing an equation with ``q`` first: a
    drop that exposes something exposes them most often, and the audit stops at the first."""
    L, U = problem.view.bounds(supp)
    if U[q] - L[q] <= TOL:  # pinned (an earlier release published it): publishing it changes nothing
        return np.zeros(0, dtype=np.int64)
    free = np.nonzero(U - L > TOL)[0]
    labels = component_labels(problem.M[:, free].tocsr())[0]
    comp = free[labels == labels[np.searchsorted(free, q)]]
    cells = comp[(comp != q) & problem.view.in_release[comp]]
    near = np.isin(cells, problem.M[problem.M[:, [q]].nonzero()[0]].indices)
    return np.concatenate([cells[near], cells[~near]])
