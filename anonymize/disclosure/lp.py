"""The attacker's linear programmes solved by HiGHS: one-off (scipy's ``linprog``) or kept loaded.

A programme is ``max c @ y  s.t.  A y = b, A_ub y <= b_ub, L <= y <= U``; infeasible published
numbers are ``INVALID_TABLE``, a solver that stops without an answer ``AUDIT_INCOMPLETE``.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import highspy
import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from dvnet.anonymize.disclosure.errors import AUDIT_INCOMPLETE, INVALID_TABLE, DisclosureError


@dataclass
class LPResult:
    status: str  # "optimal" | "unbounded"
    value: float
    x: np.ndarray | None
    lam: np.ndarray | None  # duals of the equality rows, for the maximisation


def solve_lp(
    obj_max: np.ndarray,
    A: sp.csr_matrix | None,
    b: np.ndarray | None,
    L: np.ndarray,
    U: np.ndarray,
    A_ub: sp.csr_matrix | None = None,
    b_ub: np.ndarray | None = None,
) -> LPResult:
    """max obj_max @ y  s.t.  A y = b, A_ub y <= b_ub, L <= y <= U (HiGHS)."""
    bounds = np.column_stack([L, U])
    kw = {}
    if A is not None and A.shape[0]:
        kw.update(A_eq=A, b_eq=b)
    if A_ub is not None and A_ub.shape[0]:
        kw.update(A_ub=A_ub, b_ub=b_ub)
    res = linprog(-obj_max, bounds=bounds, method="highs", **kw)
    if res.status == 2:  # presolve may say "infeasible" for "infeasible or unbounded"
        res = linprog(-obj_max, bounds=bounds, method="highs", options={"presolve": False}, **kw)
    if res.status == 0:
        lam = -np.asarray(res.eqlin.marginals) if "A_eq" in kw else np.zeros(0)
        return LPResult("optimal", -float(res.fun), res.x, lam)
    if res.status == 3:
        return LPResult("unbounded", np.inf, None, None)
    if res.status == 2:
        raise DisclosureError(INVALID_TABLE, "published numbers are inconsistent: the attacker's programme has no solution")
    raise DisclosureError(AUDIT_INCOMPLETE, f"the LP solver stopped without an answer (status {res.status})")


_banner_lock = threading.Lock()
_banner_written = False


def _silent_highs() -> highspy.Highs:
    """A ``highspy.Highs`` with its logging off, the process's stdout left untouched.

    ``Highs()`` calls into HiGHS before any option can be set, and HiGHS then writes its licence
    banner to file descriptor 1, once per process: in the middle of ``dvnet publish``'s output. So
    the process's first construction (a fraction of a millisecond) runs with that descriptor
    pointed at the null device. (highspy's private ``_Highs`` would avoid this; it is not its API.)
    """
    global _banner_written
    with _banner_lock:
        if _banner_written:
            h = highspy.Highs()
        else:
            sys.stdout.flush()
            saved = os.dup(1)
            null = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(null, 1)
                h = highspy.Highs()
            finally:
                os.dup2(saved, 1)
                os.close(saved)
                os.close(null)
            _banner_written = True
            h.silent()  # (again below, for every instance)
            # HiGHS sets up its process-wide task scheduler on a first solve: done here, under the
            # lock, so that LP worker threads (``in_parallel``) never race to do it.
            h.addVar(0.0, 1.0)
            h.run()
            h.clearModel()
    h.silent()
    return h


def _highs_lp(A: sp.csr_matrix, b: np.ndarray, L: np.ndarray, U: np.ndarray) -> highspy.HighsLp:
    """``A y = b``, ``L <= y <= U``, objective zero and maximised, in HiGHS's column-wise form."""
    n = A.shape[1]
    lp = highspy.HighsLp()
    lp.num_col_ = n
    lp.num_row_ = A.shape[0]
    lp.col_cost_ = np.zeros(n)
    lp.col_lower_ = np.where(np.isinf(L), -highspy.kHighsInf, L)
    lp.col_upper_ = np.where(np.isinf(U), highspy.kHighsInf, U)
    lp.row_lower_ = b
    lp.row_upper_ = b
    Ac = A.tocsc()
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = Ac.indptr
    lp.a_matrix_.index_ = Ac.indices
    lp.a_matrix_.value_ = Ac.data.astype(float)
    lp.a_matrix_.num_col_ = n
    lp.a_matrix_.num_row_ = A.shape[0]
    lp.sense_ = highspy.ObjSense.kMaximize
    return lp


class WarmLP:
    """One attacker programme kept loaded in HiGHS, re-solved for many objectives.

    Only the objective changes between solves, so the previous basis stays primal feasible and
    primal simplex restarts from it: a few pivots instead of a solve from scratch (50-100x faster
    on a component of thousands of cells). A programme without equations goes to ``linprog``.

    ``interior``: HiGHS's interior-point solver without crossover instead, from scratch each time,
    for LPs whose optimum is wanted only as a feasible point (checked by the caller), not as a
    vertex or for its duals: on a 24,534-cell component 0.95 s against 20.1 s for primal simplex
    from scratch (the search's sweeps over a large component change the whole objective, so warm
    starts there save little).

    ``start``: a feasible point (the true values, or one the search found): simplex then begins
    from the vertex HiGHS's crossover reaches from it, not from scratch. On a 24,534-cell
    component the first single-cell LP took 18.2 s from scratch; crossover from the true values
    takes 1.0 s, and the LPs after it 0.01-0.15 s each, as warm as any later one. HiGHS's crossover
    must not run while another instance solves (it crashed the process when it did): build every
    worker's copy before ``in_parallel``. ``basis``: another copy's basis instead (the same
    constraints, so it is primal feasible here too; a copy for a second worker needs no crossover).
    """

    def __init__(
        self, A: sp.csr_matrix, b: np.ndarray, L: np.ndarray, U: np.ndarray, *, interior: bool = False, start: np.ndarray | None = None,
        basis: highspy.HighsBasis | None = None,
    ):
        self.A, self.b, self.L, self.U = A, b, L, U
        self.n = A.shape[1]
        self.h = None
        self._last = np.zeros(0, dtype=np.int32)
        if A.shape[0] == 0:
            return
        h = _silent_highs()
        if interior:
            h.setOptionValue("solver", "ipm")
            h.setOptionValue("run_crossover", "off")
        else:
            h.setOptionValue("simplex_strategy", 4)  # primal simplex: warm starts survive a new objective
        lp = _highs_lp(A, b, L, U)
        h.passModel(lp)
        if not interior:
            if basis is not None:
                started = h.setBasis(basis) == highspy.HighsStatus.kOk
            else:
                started = start is None or _crossed_over(h, start)
            if not started:
                h.passModel(lp)  # no basis to begin from: from scratch, as without one
        self.h = h

    def basis(self) -> highspy.HighsBasis | None:
        """The current basis (for another copy of the same programme), if there is a valid one."""
        if self.h is None:
            return None
        b = self.h.getBasis()
        return b if b.valid else None

    def solve(self, idx: np.ndarray, vals: np.ndarray) -> LPResult:
        """max sum vals * y[idx]; duals ``lam`` of the equations in the maximisation convention."""
        if self.h is None:
            return self._from_scratch(idx, vals)
        h = self.h
        if len(self._last):
            h.changeColsCost(len(self._last), self._last, np.zeros(len(self._last)))
        idx = np.asarray(idx, dtype=np.int32)
        h.changeColsCost(len(idx), idx, np.asarray(vals, dtype=float))
        self._last = idx
        h.run()
        status = h.getModelStatus()
        if status == highspy.HighsModelStatus.kOptimal:
            sol = h.getSolution()
            return LPResult("optimal", float(h.getInfo().objective_function_value), np.asarray(sol.col_value), np.asarray(sol.row_dual))
        if status == highspy.HighsModelStatus.kUnbounded:
            return LPResult("unbounded", np.inf, None, None)
        return self._from_scratch(idx, vals)  # anything unusual: ask again from scratch

    def _from_scratch(self, idx: np.ndarray, vals: np.ndarray) -> LPResult:
        c = np.zeros(self.n)
        c[idx] = vals
        return solve_lp(c, self.A, self.b, self.L, self.U)


def _crossed_over(h: highspy.Highs, start: np.ndarray) -> bool:
    """Give ``h`` the basis HiGHS's crossover reaches from feasible point ``start``."""
    sol = highspy.HighsSolution()
    sol.col_value = np.asarray(start, dtype=float)
    sol.value_valid = True
    return h.crossover(sol) == highspy.HighsStatus.kOk and h.getBasis().valid


#: LPs solved at once, each in a thread with its own HiGHS instance (HiGHS releases Python's lock
#: while it solves: two threads solve two LPs in the time of one on this 2-core machine).
LP_THREADS = max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()


def in_parallel(task: Callable[[int, int], object], items: Sequence[int]) -> list[object]:
    """``task(item, worker)`` for each of ``items`` (at most ``LP_THREADS``), the first in the
    calling thread, the others in the pool's threads, worker ``k`` for the ``k``-th; the results in
    the order of ``items``. An exception in any task is raised here, after every task has ended."""
    global _pool, _pool_size
    if len(items) > LP_THREADS:
        raise ValueError(f"at most {LP_THREADS} tasks at once")
    futures = []
    if len(items) > 1:
        with _pool_lock:
            if _pool_size < len(items) - 1:  # first use (or LP_THREADS raised since)
                if _pool is not None:
                    _pool.shutdown(wait=False)
                _pool_size = LP_THREADS - 1
                _pool = ThreadPoolExecutor(max_workers=_pool_size, thread_name_prefix="dvnet-lp")
            futures = [_pool.submit(task, item, k) for k, item in enumerate(items[1:], start=1)]
    try:
        first = [task(items[0], 0)] if len(items) else []
    finally:
        rest = [f.exception() for f in futures]  # waits for every one
    failed = next((e for e in rest if e is not None), None)
    if failed is not None:
        raise failed
    return first + [f.result() for f in futures]
