"""Exact complementary suppression: a MILP with cut generation (Fischetti & Salazar, 2001).

Binary x_i per suppressible cell, minimise cost, subject to protection: solve the MILP, audit the
pattern with LPs, and for each under-protected cell turn the LP duals (lam, alpha, beta) of its max
and min programmes into a linear inequality sum_i d_i x_i >= required_p - K that every protecting
pattern satisfies (weak duality: for any pattern, max - min <= sum over cells of
alpha_i U_i(x_i) - beta_i L_i(x_i), and the dual feasible set does not depend on x). Repeat until
the audit passes: the result is optimal for the attacker model, given solver time. A cell with
an upper protection level (``Problem.top``) also gets the cut of its max programme alone:
alpha/beta from lam_max only, sum_i d_i x_i >= top_p - K.

The loop stops after ``rounds`` rounds of cuts (``milp_rounds``; the time limit is only a backstop,
so the pattern does not depend on how loaded the machine is). A block that has not converged by
then hands its last pattern (the cheapest meeting every cut so far; ``SolveInfo.pattern``) to the
heuristic as a seed: on blocks whose cuts keep moving the violation elsewhere, that is as good a
pattern in a fraction of the time (see ``docs/architecture.md``).
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from dvnet.anonymize.disclosure.complementary import Problem, SolveInfo, dual_cut
from dvnet.anonymize.disclosure.intervals import IntervalResult


#: Rounds of cuts before the MILP hands its last pattern to the heuristic: ``MILP_ROUNDS``, or more
#: on a small block (``MILP_CELL_ROUNDS`` cells x rounds; a round's audit costs about its cells).
#: On the demo network's periods the blocks of 800 to 1,000 cells that converge do so in 4 to 6
#: rounds, sometimes 18, and those that do not still have 20 to 40 % of their sensitive cells
#: failing after 8 rounds and move the failures around for as long as they run.
MILP_ROUNDS = 5
MILP_CELL_ROUNDS = 5_000


def milp_rounds(n_cells: int) -> int:
    """The rounds of cuts a block of ``n_cells`` cells gets."""
    return max(MILP_ROUNDS, MILP_CELL_ROUNDS // max(n_cells, 1))


def solve_milp(problem: Problem, *, time_limit: float = 20.0, rounds: int | None = None) -> tuple[np.ndarray | None, SolveInfo]:
    """Optimal complementary cells for one block, or None if ``rounds`` rounds of cuts (default
    ``milp_rounds``) or the time limit are used up first: ``info.pattern`` is then the last MILP
    pattern, if any.

    Returns the suppressed mask (sensitive + complementary). ``info.note`` is "infeasible" when no
    pattern can protect every sensitive cell (e.g. a cell an earlier release already pinned).
    """
    t0 = time.perf_counter()
    info = SolveInfo("milp")
    rounds = milp_rounds(problem.n) if rounds is None else rounds
    var = np.nonzero(problem.can_suppress)[0]
    pool = _CutPool(var, problem.n)
    if not all(pool.add(*cut) for cut in _row_cuts(problem)):
        info.note = "infeasible"
        info.seconds = time.perf_counter() - t0
        return None, info
    x = np.zeros(len(var))
    info.optimal = True
    while True:
        remaining = time_limit - (time.perf_counter() - t0)
        if info.iterations >= rounds:
            info.note = "rounds"
            break
        if remaining <= 0:
            info.note = "time limit"
            break
        if len(pool) and len(var):
            res = milp(
                problem.cost[var],
                integrality=np.ones(len(var)),
                bounds=Bounds(0, 1),
                constraints=LinearConstraint(pool.matrix(), np.array(pool.lb), np.inf),
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
        info.pattern = suppressed
        remaining = time_limit - (time.perf_counter() - t0)
        audit = problem.audit(suppressed, want_duals=True, time_limit=max(remaining, 0.1))
        info.lp_solves += audit.n_lp
        if (audit.verdict == "unchecked").any():
            info.note = "time limit"
            break
        failing = audit.targets[audit.verdict != "protected"]
        if len(failing) == 0:
            info.seconds = time.perf_counter() - t0
            info.cuts = len(pool)
            return suppressed, info
        # A failing cell without duals is pinned by what is published already (an earlier release):
        # no pattern of this release protects it.
        if any(int(p) not in audit.duals for p in failing) or not all(
            pool.add(*cut) for p in failing for cut in _dual_inequalities(problem, suppressed, audit, int(p))
        ):
            info.note = "infeasible"
            info.seconds = time.perf_counter() - t0
            return None, info
    info.seconds = time.perf_counter() - t0
    info.cuts = len(pool)
    info.optimal = False
    return None, info


class _CutPool:
    """Protection inequalities ``sum coefs x >= lb`` over the suppressible cells ``var``."""

    def __init__(self, var: np.ndarray, n: int):
        self.vpos = np.full(n, -1, dtype=np.int64)  # quantity -> MILP column
        self.vpos[var] = np.arange(len(var))
        self.n_var = len(var)
        self.rows: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []
        self.lb: list[float] = []

    def __len__(self) -> int:
        return len(self.lb)

    def add(self, cols: np.ndarray, coefs: np.ndarray, rhs: float) -> bool:
        """Add one inequality over quantities ``cols``; False when no pattern can satisfy it."""
        if rhs <= 1e-9:
            return True
        if coefs.sum() < rhs - 1e-7:
            return False
        self.rows.append(np.full(len(cols), len(self.lb)))
        self.cols.append(self.vpos[cols])
        self.vals.append(coefs)
        self.lb.append(rhs)
        return True

    def matrix(self) -> sp.csr_matrix:
        return sp.csr_matrix((np.concatenate(self.vals), (np.concatenate(self.rows), np.concatenate(self.cols))), shape=(len(self.lb), self.n_var))


def _dual_inequalities(problem: Problem, suppressed: np.ndarray, audit: IntervalResult, p: int) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """The cuts the audit's duals give for failing sensitive cell ``p``: on its range's width, and
    on its max where that stops below ``top[p]``."""
    rows, lam_max, lam_min, _ = audit.duals[p]
    cuts = [dual_cut(problem, suppressed, p, rows, lam_max, lam_min).inequality(float(problem.required[p]))]
    if np.isfinite(problem.top[p]):
        cuts.append(dual_cut(problem, suppressed, p, rows, lam_max, lam_min, upper=True).inequality(float(problem.top[p])))
    return cuts


def _row_cuts(problem: Problem) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Necessary single-equation conditions (unrounded, no ledger): a head start for the MILP."""
    v = problem.view
    standard = (v.sup_lo == 0) & np.isinf(v.sup_hi) & (v.pub_lo == v.pub_hi) & v.in_release
    cuts = []
    M = problem.M
    for r in range(M.shape[0]):
        cols = M.indices[M.indptr[r] : M.indptr[r + 1]]
        coefs = M.data[M.indptr[r] : M.indptr[r + 1]]
        if not standard[cols].all() or not problem.sensitive[cols].any():
            continue
        margin = cols[coefs > 0]
        if len(margin) == 1:
            cuts += _margin_cuts(problem, cols, margin[0], cols[coefs < 0])
    return cuts


def _margin_cuts(problem: Problem, cols: np.ndarray, m: int, parts: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Cuts from one equation ``m = sum of parts`` whose cells all show exact counts: a sensitive
    cell needs another hidden cell in it, and a sensitive part needs the hidden values beside it
    (the margin's counting as unbounded) to add up to its required width."""
    a = problem.view.pub_lo
    cuts = []
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
