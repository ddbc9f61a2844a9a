"""Complementary suppression: hide enough further cells that no sensitive cell can be worked out.

Cost (information loss) of suppressing a quantity i, made explicit::

    cost_i = m_i * (1 + a_i / (1 + sum_j m_j a_j))

where a_i is its true value and m_i the number of table cells showing it. The fractional part of
any pattern's total cost is below 1, so minimising the sum is lexicographic: fewest suppressed
cells first, then the smallest suppressed total.

Protection: for every sensitive cell p (primary or dominance) the attacker's range (see
``audit.py``) must be at least ``required[p]`` wide. Two methods:

* ``solve_milp`` — exact. Binary x_i per suppressible cell, minimise cost, subject to protection,
  by cut generation in the manner of Fischetti & Salazar (2001): solve the MILP, audit the pattern
  with LPs, and for each under-protected cell turn the LP duals (lam, alpha, beta) of its max and
  min programmes into a linear inequality sum_i d_i x_i >= required_p - K that every protecting
  pattern satisfies (weak duality: for any pattern, max - min <= sum over cells of
  alpha_i U_i(x_i) - beta_i L_i(x_i), and the dual feasible set does not depend on x). Repeat
  until the audit passes: the result is optimal for the attacker model, given solver time.
* ``heuristic`` — fast, for blocks beyond the MILP's reach. (A) row-local rule in vectorised
  rounds: in every equation, each suppressed cell's range from that equation alone must reach its
  requirement, else add the cheapest published cell of the equation that fixes it (cost plus one
  per equation the new cell would sit alone in, a look-ahead against cascades; SIMPLEHEURISTIC
  style). (B) audit the whole pattern; for each cell still exposed (e.g. a cell linking two
  suppression blocks, which every row-local rule misses) add the cheapest cell whose dual
  coefficient in that cell's cut covers the deficit, then (A) again; loop until the audit passes.
  (C) drop complementary cells the audit shows to be exact (they hide nothing), then, within a
  time budget, any complementary cell whose removal still passes the audit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse.csgraph import connected_components

from dvnet.anonymize.disclosure.attack import EXACT_WIDTH, TOL, IntervalResult, attacker_intervals
from dvnet.anonymize.disclosure.audit import AttackerView


@dataclass
class Problem:
    """One complementary-suppression problem over quantities 0..n-1 (``M y = 0`` holds for truth)."""

    M: sp.csr_matrix
    view: AttackerView
    truth: np.ndarray
    sensitive: np.ndarray
    can_suppress: np.ndarray
    required: np.ndarray
    cost: np.ndarray
    ids: np.ndarray = field(default=None)  # quantity ids in the parent problem

    @property
    def n(self) -> int:
        return self.M.shape[1]

    def restrict(self, q: np.ndarray) -> Problem:
        q = np.asarray(q, dtype=np.int64)
        sub = self.M[:, q]
        rows = np.nonzero(np.diff(sub.tocsr().indptr) > 0)[0]
        v = self.view
        return Problem(
            M=sub.tocsr()[rows],
            view=AttackerView(v.pub_lo[q], v.pub_hi[q], v.sup_lo[q], v.sup_hi[q], v.in_release[q]),
            truth=self.truth[q],
            sensitive=self.sensitive[q],
            can_suppress=self.can_suppress[q],
            required=self.required[q],
            cost=self.cost[q],
            ids=q if self.ids is None else self.ids[q],
        )

    def audit(
        self,
        suppressed: np.ndarray,
        targets: np.ndarray | None = None,
        *,
        want_duals: bool = False,
        report_exact: bool = False,
        time_limit: float | None = None,
        exact_limit: int = 400,
    ) -> IntervalResult:
        L, U = self.view.bounds(suppressed)
        if targets is None:
            targets = np.nonzero(self.sensitive)[0]
        return attacker_intervals(
            self.M,
            L,
            U,
            targets,
            self.required[targets],
            truth=self.truth,
            want_duals=want_duals,
            report_exact=report_exact,
            time_limit=time_limit,
            exact_limit=exact_limit,
        )


def information_cost(truth: np.ndarray, multiplicity: np.ndarray) -> np.ndarray:
    """cost_i = m_i (1 + a_i / (1 + sum m a)): fewest cells first, then smallest suppressed total."""
    a = np.nan_to_num(truth, nan=0.0)
    return multiplicity * (1.0 + a / (1.0 + float(np.sum(multiplicity * a))))


def blocks(problem: Problem) -> list[np.ndarray]:
    """Independent sub-problems: connected groups of quantities that contain a sensitive cell."""
    M = problem.M
    n = problem.n
    if M.shape[0] == 0:
        return [np.array([i]) for i in np.nonzero(problem.sensitive)[0]]
    B = sp.bmat([[None, M], [M.T, None]], format="csr")
    _, labels = connected_components(B, directed=False)
    var_labels = labels[M.shape[0] :]
    out = []
    for lab in np.unique(var_labels[problem.sensitive]):
        out.append(np.nonzero(var_labels == lab)[0])
    return out if n else []


# --------------------------------------------------------------------------------------------
# Cuts from LP duals
# --------------------------------------------------------------------------------------------


@dataclass
class Cut:
    """Dual bound on the attacker's range: K + sum d_i x_i over suppressible quantities.

    Every protecting pattern x satisfies ``K + sum d_i x_i >= required``; ``bound`` is the value
    at the pattern the duals came from (= the LP range there, by strong duality).
    """

    cols: np.ndarray
    d: np.ndarray  # may be inf: suppressing that cell frees the attacker's LP in that direction
    K: float
    bound: float

    def inequality(self, required: float) -> tuple[np.ndarray, np.ndarray, float]:
        """``sum coefs x >= rhs`` with coefficients clipped at the right-hand side (same 0/1 set)."""
        rhs = required - self.K
        coefs = np.minimum(self.d, max(rhs, 0.0))
        keep = coefs > 1e-9
        return self.cols[keep], coefs[keep], rhs


def dual_cut(problem: Problem, suppressed: np.ndarray, p: int, rows: np.ndarray, lam_max: np.ndarray, lam_min: np.ndarray, frozen: np.ndarray | None = None) -> Cut:
    """The protection inequality for sensitive ``p`` from its max/min LP duals at ``suppressed``.

    ``frozen``: quantities the LP held at fixed values (a neighbourhood LP); the result is then a
    local guide for the heuristic, not a valid cut, and ``K`` is meaningless.
    """
    Mr = problem.M[rows]
    cols = np.union1d(np.unique(Mr.indices), [p])
    Ms = Mr[:, cols].tocsc()
    pi = int(np.searchsorted(cols, p))
    alpha = np.zeros(len(cols))
    beta = np.zeros(len(cols))
    for sign, lam in ((1.0, lam_max), (-1.0, lam_min)):
        rc = -(Ms.T @ lam)
        rc[pi] += sign
        rc[np.abs(rc) < 1e-9] = 0.0
        alpha += np.maximum(rc, 0.0)
        beta += np.maximum(-rc, 0.0)
    v = problem.view

    def term(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return np.where(alpha > 0, alpha * hi, 0.0) - np.where(beta > 0, beta * lo, 0.0)

    t_pub = term(v.pub_lo[cols], v.pub_hi[cols])
    t_sup = term(v.sup_lo[cols], v.sup_hi[cols])
    variable = problem.can_suppress[cols]
    if frozen is not None and len(frozen):
        variable &= ~np.isin(cols, frozen)
    hidden_const = problem.sensitive[cols] | ~v.in_release[cols]
    const = np.where(variable, t_pub, np.where(hidden_const, t_sup, t_pub))
    K = float(np.sum(const))
    with np.errstate(invalid="ignore"):
        d = np.where(variable, t_sup - t_pub, 0.0)
    d = np.nan_to_num(d, nan=0.0, posinf=np.inf)
    bound = K + float(np.sum(np.where(variable & suppressed[cols], d, 0.0)))
    keep = variable & (d > 1e-9)
    return Cut(cols[keep], d[keep], K, bound)


# --------------------------------------------------------------------------------------------
# Exact: MILP with cut generation
# --------------------------------------------------------------------------------------------


@dataclass
class SolveInfo:
    method: str
    seconds: float = 0.0
    iterations: int = 0
    cuts: int = 0
    lp_solves: int = 0
    optimal: bool = False
    note: str = ""


def _row_cuts(problem: Problem) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Necessary single-equation conditions (unrounded, no ledger): a head start for the MILP."""
    v = problem.view
    standard = (v.sup_lo == 0) & np.isinf(v.sup_hi) & (v.pub_lo == v.pub_hi) & v.in_release
    a = v.pub_lo
    cuts = []
    M = problem.M
    for r in range(M.shape[0]):
        cols = M.indices[M.indptr[r] : M.indptr[r + 1]]
        coefs = M.data[M.indptr[r] : M.indptr[r + 1]]
        if not standard[cols].all() or not problem.sensitive[cols].any():
            continue
        margin = cols[coefs > 0]
        parts = cols[coefs < 0]
        if len(margin) != 1:
            continue
        m = margin[0]
        for p in cols[problem.sensitive[cols]]:
            if p == m:
                if problem.sensitive[parts].any():
                    continue
                var = parts[problem.can_suppress[parts]]
                cuts.append((var, np.ones(len(var)), 1.0))
                continue
            if problem.sensitive[m]:
                continue
            sib = parts[parts != p]
            sens_sib = sib[problem.sensitive[sib]]
            var_sib = sib[problem.can_suppress[sib]]
            var_m = [m] if problem.can_suppress[m] else []
            if len(sens_sib) == 0:
                vars_ = np.r_[var_m, var_sib].astype(np.int64)
                cuts.append((vars_, np.ones(len(vars_)), 1.0))
            R = float(problem.required[p] - a[p] - a[sens_sib].sum())
            if R > 0:
                coefs_ = np.r_[[R] * len(var_m), np.minimum(a[var_sib], R)]
                vars_ = np.r_[var_m, var_sib].astype(np.int64)
                ok = coefs_ > 0
                cuts.append((vars_[ok], coefs_[ok], R))
    return cuts


def solve_milp(problem: Problem, *, time_limit: float = 20.0) -> tuple[np.ndarray | None, SolveInfo]:
    """Optimal complementary cells for one block, or None if the time limit is reached.

    Returns the suppressed mask (sensitive + complementary). ``info.note`` is "infeasible" when no
    pattern can protect every sensitive cell (e.g. a cell an earlier release already pinned).
    """
    t0 = time.perf_counter()
    info = SolveInfo("milp")
    var = np.nonzero(problem.can_suppress)[0]
    vpos = np.full(problem.n, -1, dtype=np.int64)
    vpos[var] = np.arange(len(var))
    c = problem.cost[var]
    cut_rows: list[np.ndarray] = []
    cut_cols: list[np.ndarray] = []
    cut_vals: list[np.ndarray] = []
    cut_lb: list[float] = []

    def add_cut(cols: np.ndarray, coefs: np.ndarray, rhs: float) -> bool:
        if rhs <= 1e-9:
            return True
        if coefs.sum() < rhs - 1e-7:
            return False
        cut_rows.append(np.full(len(cols), len(cut_lb)))
        cut_cols.append(vpos[cols])
        cut_vals.append(coefs)
        cut_lb.append(rhs)
        return True

    for cols, coefs, rhs in _row_cuts(problem):
        if not add_cut(cols, coefs, rhs):
            info.note = "infeasible"
            info.seconds = time.perf_counter() - t0
            return None, info
    x = np.zeros(len(var))
    info.optimal = True
    while True:
        remaining = time_limit - (time.perf_counter() - t0)
        if remaining <= 0:
            info.note = "time limit"
            break
        if cut_lb and len(var):
            A = sp.csr_matrix(
                (np.concatenate(cut_vals), (np.concatenate(cut_rows), np.concatenate(cut_cols))), shape=(len(cut_lb), len(var))
            )
            res = milp(
                c,
                integrality=np.ones(len(var)),
                bounds=Bounds(0, 1),
                constraints=LinearConstraint(A, np.array(cut_lb), np.inf),
                options={"time_limit": max(remaining, 0.1), "mip_rel_gap": 1e-9},
            )
            if res.status == 2:
                info.note = "infeasible"
                break
            if res.x is None:
                info.note = "time limit"
                break
            if res.status != 0:
                info.optimal = False
            x = np.round(res.x)
        info.iterations += 1
        suppressed = problem.sensitive.copy()
        suppressed[var[x > 0.5]] = True
        remaining = time_limit - (time.perf_counter() - t0)
        audit = problem.audit(suppressed, want_duals=True, time_limit=max(remaining, 0.1))
        info.lp_solves += audit.n_lp
        if (audit.verdict == "unchecked").any():
            info.note = "time limit"
            break
        failing = audit.targets[audit.verdict != "protected"]
        if len(failing) == 0:
            info.seconds = time.perf_counter() - t0
            info.cuts = len(cut_lb)
            return suppressed, info
        for p in failing:
            rows, lam_max, lam_min, _ = audit.duals[int(p)]
            cols, coefs, rhs = dual_cut(problem, suppressed, int(p), rows, lam_max, lam_min).inequality(float(problem.required[p]))
            if not add_cut(cols, coefs, rhs):
                info.note = "infeasible"
                info.seconds = time.perf_counter() - t0
                return None, info
    info.seconds = time.perf_counter() - t0
    info.cuts = len(cut_lb)
    info.optimal = False
    return None, info


# --------------------------------------------------------------------------------------------
# Fast: row-local rounds + audit-driven repair + cleanup
# --------------------------------------------------------------------------------------------


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
        P = self.problem
        v = P.view
        r, c, a = self.r, self.c, self.a
        added = 0
        stuck = np.zeros(self.m, dtype=bool)
        for _ in range(max_rounds):
            if deadline is not None and time.perf_counter() > deadline:
                break
            L, U = v.bounds(suppressed)
            fmin, nmin, fmax, nmax = self._terms(L, U, c, a)
            smin = np.bincount(r, fmin, self.m)
            smax = np.bincount(r, fmax, self.m)
            cmin = np.bincount(r, nmin, self.m)
            cmax = np.bincount(r, nmax, self.m)
            lo, hi = self._interval(a, smin[r] - fmin, cmin[r] - nmin, smax[r] - fmax, cmax[r] - nmax, L[c], U[c])
            width = hi - lo
            target = suppressed[c] & v.in_release[c]
            need = np.where(P.sensitive[c], P.required[c], EXACT_WIDTH)
            deficit = target & (width < need - TOL) & ~stuck[r]
            if not deficit.any():
                break
            # The worst-off target of each deficient equation.
            e_def = np.nonzero(deficit)[0]
            short = (need - np.nan_to_num(width, posinf=1e18))[e_def]
            o = np.lexsort((-short, r[e_def]))
            e_def = e_def[o]
            first = np.r_[True, r[e_def][1:] != r[e_def][:-1]]
            e_p = e_def[first]  # one entry per deficient row
            rows = r[e_p]
            row_p = np.full(self.m, -1, dtype=np.int64)
            row_p[rows] = e_p
            # Candidates: suppressible, still published cells of those rows.
            cand = np.nonzero((row_p[r] >= 0) & P.can_suppress[c] & ~suppressed[c])[0]
            has_cand = np.zeros(self.m, dtype=bool)
            has_cand[r[cand]] = True
            stuck[rows[~has_cand[rows]]] = True
            if len(cand) == 0:
                continue
            ep = row_p[r[cand]]
            Ls, Us = v.sup_lo, v.sup_hi
            fmin_s, nmin_s, fmax_s, nmax_s = self._terms(Ls, Us, c[cand], a[cand])
            # p's "others" sums with candidate q switched to suppressed.
            fo_min = smin[r[cand]] - fmin[ep] - fmin[cand] + fmin_s
            no_min = cmin[r[cand]] - nmin[ep] - nmin[cand] + nmin_s
            fo_max = smax[r[cand]] - fmax[ep] - fmax[cand] + fmax_s
            no_max = cmax[r[cand]] - nmax[ep] - nmax[cand] + nmax_s
            nlo, nhi = self._interval(a[ep], fo_min, no_min, fo_max, no_max, L[c[ep]], U[c[ep]])
            new_w = nhi - nlo
            achieves = new_w >= need[ep] - TOL
            # Look-ahead: each equation the candidate would sit alone in needs another cell.
            nsup_row = np.bincount(r, target, self.m)
            alone = self.abs_T @ (nsup_row == 0).astype(float)
            eff = P.cost[c[cand]] + alone[c[cand]]
            gain = np.nan_to_num(new_w - width[ep], posinf=1e18)
            k2 = np.where(achieves, 0, 1)
            k3 = np.where(achieves, eff, -gain / eff)
            o = np.lexsort((k3, k2, r[cand]))
            chosen = cand[o]
            first = np.r_[True, r[chosen][1:] != r[chosen][:-1]]
            pick = np.unique(c[chosen[first]])
            useful = pick[~suppressed[pick]]
            if len(useful) == 0:
                break
            suppressed[useful] = True
            added += len(useful)
        return added


def heuristic(
    problem: Problem,
    *,
    suppressed: np.ndarray | None = None,
    time_limit: float = 120.0,
    cleanup_seconds: float = 20.0,
    exact_limit: int = 400,
) -> tuple[np.ndarray, SolveInfo]:
    """A protecting pattern found fast (see module doc). ``suppressed`` may seed the pattern."""
    t0 = time.perf_counter()
    deadline = t0 + time_limit
    info = SolveInfo("heuristic")
    supp = problem.sensitive.copy() if suppressed is None else (suppressed | problem.sensitive).copy()
    rows = _RowState(problem)
    rows.enforce(supp, deadline)
    stalled = 0
    while time.perf_counter() < deadline:
        info.iterations += 1
        audit = problem.audit(supp, want_duals=True, time_limit=max(deadline - time.perf_counter(), 0.1), exact_limit=exact_limit)
        info.lp_solves += audit.n_lp
        failing = audit.targets[(audit.verdict == "exact") | (audit.verdict == "narrow")]
        if len(failing) == 0:
            if (audit.verdict == "unchecked").any():
                info.note = "audit time limit"
            break
        added = 0
        width = dict(zip(audit.targets.tolist(), (audit.upper - audit.lower).tolist(), strict=True))
        for p in failing:
            if int(p) not in audit.duals:
                continue
            rows_, lam_max, lam_min, frozen = audit.duals[int(p)]
            cut = dual_cut(problem, supp, int(p), rows_, lam_max, lam_min, frozen)
            free = ~supp[cut.cols]
            cols, coefs = cut.cols[free], cut.d[free]
            if len(cols) == 0:
                continue
            deficit = float(problem.required[p]) - width[int(p)]
            cost = problem.cost[cols]
            covers = coefs >= deficit - 1e-9
            if covers.any():
                q = cols[covers][np.argmin(cost[covers])]
            else:
                q = cols[np.argmax(coefs / cost)]
            if not supp[q]:
                supp[q] = True
                added += 1
        if added == 0:
            stalled += 1
            if stalled > 1:
                info.note = "no cell left that could protect the exposed cells"
                break
        rows.enforce(supp, deadline)
    supp = cleanup(problem, supp, deadline=min(deadline, time.perf_counter() + cleanup_seconds), exact_limit=exact_limit)
    info.seconds = time.perf_counter() - t0
    return supp, info


def cleanup(problem: Problem, suppressed: np.ndarray, *, deadline: float | None, exact_limit: int = 400, greedy_limit: int = 3000) -> np.ndarray:
    """Drop complementary cells that hide nothing: exact ones, then (in budget) redundant ones."""
    supp = suppressed.copy()
    comp = supp & ~problem.sensitive & problem.view.in_release
    if not comp.any():
        return supp
    remaining = None if deadline is None else max(deadline - time.perf_counter(), 0.1)
    res = problem.audit(supp, targets=np.nonzero(comp)[0], time_limit=remaining, exact_limit=exact_limit)
    exact = res.targets[res.verdict == "exact"]
    supp[exact] = False  # an exact cell is known to the attacker anyway: publishing it changes nothing
    if problem.n > greedy_limit:
        return supp
    order = np.nonzero(supp & ~problem.sensitive & problem.view.in_release)[0]
    order = order[np.argsort(-problem.cost[order], kind="stable")]
    for q in order:
        if deadline is not None and time.perf_counter() > deadline:
            break
        supp[q] = False
        targets = np.nonzero(supp & problem.view.in_release)[0]
        res = problem.audit(supp, targets=targets, time_limit=None if deadline is None else max(deadline - time.perf_counter(), 0.1), exact_limit=exact_limit)
        if not (res.verdict == "protected").all():
            supp[q] = True
    return supp
