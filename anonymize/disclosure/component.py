"""One connected component of the attacker's programme and the LPs that probe it.

Every LP solution is a feasible point of the full programme, so the spread of values seen per cell
(``obs_lo``/``obs_hi``) is an inner range of the attacker's: a cell seen at least its required
width apart is protected for certain. LPs over a neighbourhood with the cells outside it relaxed
to their outer ranges give an outer range instead: narrower than required fails for certain.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from dvnet.anonymize.disclosure.errors import DisclosureError
from dvnet.anonymize.disclosure.intervals import TOL, IntervalResult
from dvnet.anonymize.disclosure.lp import LPResult, WarmLP, solve_lp


def rows_of(csc: sp.csc_matrix, cols: np.ndarray) -> np.ndarray:
    """The equations any of ``cols`` appears in."""
    if len(cols) == 0:
        return np.zeros(0, dtype=np.int64)
    parts = [csc.indices[csc.indptr[v] : csc.indptr[v + 1]] for v in cols]
    return np.unique(np.concatenate(parts))


def cols_of(csr: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """The cells appearing in any of ``rows``."""
    if len(rows) == 0:
        return np.zeros(0, dtype=np.int64)
    parts = [csr.indices[csr.indptr[r] : csr.indptr[r + 1]] for r in rows]
    return np.unique(np.concatenate(parts))


#: From this many cells, the search's whole-component LPs (``sweep``, ``find_point``) use HiGHS's
#: interior-point method (``WarmLP(interior=True)``): on the benchmark's 10^4-cell release shapes
#: (one 5,868-cell component) ``protect`` took 27.3, 23.4, 22.2, 37.6 s against 31.5, 27.4, 24.9,
#: 45.8 s with warm primal simplex (seeds 2024, 1, 2, 3), the same patterns.
INTERIOR_MIN_CELLS = 2000

#: A point found by an LP counts as feasible only if it meets every equation and bound of the
#: attacker's programme to within this (absolute): HiGHS's primal feasibility tolerance, the one
#: the exact per-cell LP's own optimum is held to, so a range certified by points is no looser than
#: the reference LP's. The solver's point is checked here, not trusted; a point that fails is
#: dropped, which can only cost more LPs.
POINT_TOL = 1e-7


def snapped(x: np.ndarray) -> np.ndarray:
    """``x`` with values within 1e-6 of an integer set to it: vertices of a table's programme are
    mostly integral, and a snapped vertex then meets the integral equations exactly."""
    r = np.round(x)
    return np.where(np.abs(x - r) < 1e-6, r, x)


class Component:
    """One connected component of the attacker's programme, with the feasible points seen so far."""

    def __init__(self, A: sp.csr_matrix, b: np.ndarray, L: np.ndarray, U: np.ndarray, oL: np.ndarray, oU: np.ndarray, counter: list[int], reach: float = np.inf):
        self.A, self.b, self.L, self.U, self.oL, self.oU = A, b, L, U, oL, oU
        self.Acsc = A.tocsc()
        self.n = A.shape[1]
        self.obs_lo = np.full(self.n, np.inf)
        self.obs_hi = np.full(self.n, -np.inf)
        self.point: np.ndarray | None = None
        self.rejected = 0  # LP points that failed the feasibility check
        self.counter = counter
        self._warm: dict[tuple[str, int], WarmLP] = {}
        self.reach = reach
        finite = np.where(np.isfinite(oU), oU, np.nan)
        big = float(np.nanmax(np.r_[finite, oL, np.abs(b), 0.0])) * 4 + 1000.0
        # A finite box inside the outer ranges: any point found in it is feasible for the attacker.
        self.Lbox = np.maximum(L, oL)
        self.Ubox = np.minimum(U, np.where(np.isfinite(oU), oU, big))

    def lp(self, *args, **kw) -> LPResult:
        self.counter[0] += 1
        return solve_lp(*args, **kw)

    def warm(self, which: str, worker: int = 0) -> WarmLP:
        """The programme kept loaded for ``which`` ("exact" or "box"); each LP worker thread
        (``lp.in_parallel``) has its own copy, so its warm starts are its own. The search's
        programme ("box": points only) of a component of ``INTERIOR_MIN_CELLS`` or more is solved
        by the interior-point method; the others start from the known point, if any (the box holds
        it too), or from worker 0's basis. Not thread-safe (``WarmLP``): build the copies before
        their threads solve."""
        if (which, worker) not in self._warm:
            L, U = (self.L, self.U) if which == "exact" else self.box()
            first = self._warm.get((which, 0)) if worker else None
            basis = first.basis() if first is not None else None
            self._warm[which, worker] = WarmLP(
                self.A, self.b, L, U, interior=which == "box" and self.n >= INTERIOR_MIN_CELLS, start=self.point, basis=basis
            )
        return self._warm[which, worker]

    def box(self) -> tuple[np.ndarray, np.ndarray]:
        """Where to look for feasible points: near the known point, inside the outer ranges.

        A cell needs to be seen ``reach`` (twice its required width) either side of the point at
        most; a small box keeps each LP close to its warm start.
        """
        if self.point is None:
            return self.Lbox, self.Ubox
        return np.maximum(self.Lbox, self.point - self.reach), np.minimum(self.Ubox, self.point + self.reach)

    def solve(self, which: str, idx: np.ndarray, vals: np.ndarray) -> LPResult:
        self.counter[0] += 1
        return self.warm(which).solve(idx, vals)

    def feasible(self, x: np.ndarray) -> bool:
        """Whether ``x`` (every cell of the component) meets the equations and bounds to ``POINT_TOL``."""
        if not np.all(np.isfinite(x)):
            return False
        if np.any(x < self.L - POINT_TOL) or np.any(x > self.U + POINT_TOL):
            return False
        return bool(np.max(np.abs(self.A @ x - self.b), initial=0.0) <= POINT_TOL)

    def observe(self, x: np.ndarray, idx: np.ndarray | None = None) -> bool:
        """Widen the seen ranges by point ``x`` (over cells ``idx``, the others at the known point)
        once it is checked feasible; returns whether it was."""
        full = self.checked(x if idx is None else self._completed(x, idx))
        if full is None:
            return False
        np.minimum(self.obs_lo, full, out=self.obs_lo)
        np.maximum(self.obs_hi, full, out=self.obs_hi)
        return True

    def checked(self, x: np.ndarray | None) -> np.ndarray | None:
        """``x`` snapped to integers where that keeps it feasible, else ``x`` itself if feasible,
        else None (counted in ``rejected``)."""
        if x is not None:
            for candidate in (snapped(x), x):
                if self.feasible(candidate):
                    return candidate
        self.rejected += 1
        return None

    def _completed(self, x: np.ndarray, idx: np.ndarray) -> np.ndarray | None:
        if self.point is None:
            return None
        full = self.point.copy()
        full[idx] = x
        return full

    def set_point(self, x: np.ndarray) -> None:
        x = self.checked(x)  # None: e.g. the true values of a release that contradicts itself
        if x is None:
            return
        self.point = x.copy()
        # The finite stand-in for an unbounded upper range must hold the known point: with nothing
        # published nearby (one agency: every cell dominance-suppressed) true counts can exceed it,
        # and a search box that excludes the point makes the restricted programmes infeasible.
        unbounded = ~np.isfinite(np.minimum(self.U, self.oU))
        self.Ubox = np.where(unbounded, np.maximum(self.Ubox, 4 * np.abs(x) + 1000.0), self.Ubox)
        self.observe(x)

    def find_point(self) -> None:
        res = self.solve("box", np.zeros(0, dtype=np.int64), np.zeros(0))
        if res.x is not None:
            self.set_point(res.x)

    def sweep(self, idx: np.ndarray, w: np.ndarray) -> None:
        """One LP over the whole component with objective ``w`` on cells ``idx``."""
        try:
            res = self.solve("box", idx, w)
        except DisclosureError:
            return
        if res.x is not None and self.observe(res.x) and self.point is None:
            self.point = self.checked(res.x)

    def _restricted(self, V: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        """Equations touching V with every other cell held at the current point."""
        rows = rows_of(self.Acsc, V)
        sub = self.A[rows]
        subV = sub[:, V]
        rhs = self.b[rows] - sub @ self.point + subV @ self.point[V]
        return subV.tocsr(), rhs, rows

    def free_block(self, V: np.ndarray, w: np.ndarray) -> None:
        """LP over V (others at the point) with objective ``w`` over V: a feasible point."""
        subV, rhs, _ = self._restricted(V)
        Lb, Ub = self.box()
        res = self.lp(w, subV, rhs, Lb[V], Ub[V])
        if res.x is not None:
            self.observe(res.x, V)

    def neighbourhood(self, p: int, radius: int, cap: int) -> np.ndarray:
        """Cells within ``radius`` equations of ``p``, one ring at a time while at most ``cap``."""
        seen = np.array([p])
        frontier = seen
        for _ in range(radius):
            nxt = cols_of(self.A, rows_of(self.Acsc, frontier))
            new = np.setdiff1d(nxt, seen, assume_unique=False)
            if len(new) == 0 or len(seen) + len(new) > cap:
                break
            seen = np.union1d(seen, new)
            frontier = new
        return seen

    def sandwich(self, p: int, V: np.ndarray) -> tuple[float, float, LPResult, LPResult, np.ndarray]:
        """Outer range (others relaxed), then the inner LPs' max and min (others held) of ``p`` over
        neighbourhood V, and the equations touching V."""
        e = (V == p).astype(float)
        subV, rhs, rows = self._restricted(V)
        inner_max, inner_min = self._inner(p, V, e, subV, rhs)
        outer_lo, outer_hi = self._outer(V, e, subV, rows)
        return outer_lo, outer_hi, inner_max, inner_min, rows

    def _inner(self, p: int, V: np.ndarray, e: np.ndarray, subV: sp.csr_matrix, rhs: np.ndarray) -> tuple[LPResult, LPResult]:
        """Max and min of ``p`` with V free and every other cell at the point: feasible points."""
        found = []
        for sign in (1.0, -1.0):
            res = self.lp(sign * e, subV, rhs, self.L[V], self.U[V])
            found.append(res)
            if res.status == "unbounded":
                if sign > 0:
                    self.obs_hi[p] = np.inf
                else:
                    self.obs_lo[p] = -np.inf
            elif res.x is not None:
                self.observe(res.x, V)
        return found[0], found[1]

    def _outer(self, V: np.ndarray, e: np.ndarray, subV: sp.csr_matrix, rows: np.ndarray) -> tuple[float, float]:
        """Min and max of ``e @ y[V]`` with the cells outside V free within their outer ranges."""
        lo_r, hi_r = self._relaxed_rows(V, rows)
        eq = np.isclose(lo_r, hi_r) & np.isfinite(lo_r)
        ub_rows = [subV[~eq & np.isfinite(hi_r)], -subV[~eq & np.isfinite(lo_r)]]
        A_ub = sp.vstack(ub_rows).tocsr()
        b_ub = np.r_[hi_r[~eq & np.isfinite(hi_r)], -lo_r[~eq & np.isfinite(lo_r)]]
        bound = []
        for sign in (1.0, -1.0):
            try:
                res = self.lp(sign * e, subV[eq], lo_r[eq], self.oL[V], self.oU[V], A_ub=A_ub, b_ub=b_ub)
                bound.append(sign * res.value if res.status == "optimal" else sign * np.inf)
            except DisclosureError:  # numerical trouble in a relaxation: it just tells nothing
                bound.append(sign * np.inf)
        return bound[1], bound[0]

    def _relaxed_rows(self, V: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each equation of ``rows`` as a range on its V part, the outside cells in their outer ranges."""
        sub = self.A[rows]
        outside = np.setdiff1d(cols_of(self.A, rows), V)
        So = sub[:, outside]
        lo_o, hi_o = self.oL[outside], self.oU[outside]
        pos = So.multiply(So > 0).tocsr()
        neg = So.multiply(So < 0).tocsr()
        with np.errstate(invalid="ignore"):
            smin = _safe_dot(pos, lo_o) + _safe_dot(neg, hi_o)
            smax = _safe_dot(pos, hi_o) + _safe_dot(neg, lo_o)
        return self.b[rows] - smax, self.b[rows] - smin

    def optimum(self, p: int, sign: float, worker: int = 0) -> LPResult:
        """Max (``sign`` 1) or minus the min (-1) of cell ``p`` over the whole component, on
        ``worker``'s copy of the programme. Reads the component and changes nothing of it (no
        point seen, no LP counted): safe in an LP worker thread."""
        return self.warm("exact", worker).solve(np.array([p]), np.array([sign]))

    def extreme(self, p: int, sign: float) -> LPResult:
        """``optimum``, counted, its optimum widening the seen ranges."""
        self.counter[0] += 1
        res = self.optimum(p, sign)
        if res.x is not None:
            self.observe(res.x)
        return res


class ComponentTargets:
    """The targets lying in one component, and what is still open about them.

    ``tg``: the targets' positions in the result; ``tl``: their cells in the component;
    ``quantities``/``equations``: the component's cells and equations by their ids in the full
    programme (the ids the LP duals are reported under).
    """

    def __init__(self, comp: Component, out: IntervalResult, required: np.ndarray, tg: np.ndarray, tl: np.ndarray, quantities: np.ndarray, equations: np.ndarray, want_duals: bool):
        self.C, self.out, self.required = comp, out, required
        self.tg, self.tl, self.quantities, self.equations = tg, tl, quantities, equations
        self.req = required[tg]
        self.top = out.top[tg]
        self.open_ = out.verdict[tg] == "unchecked"
        self.needs_duals = want_duals & (out.verdict[tg] != "protected")

    def enough(self, j, lo, hi) -> np.ndarray:
        """Whether [lo, hi] is wide enough for target(s) ``j`` and reaches their ``top``."""
        return (hi - lo >= self.req[j] - TOL) & (hi >= self.top[j] - TOL)

    def certified(self) -> np.ndarray:
        """Targets whose feasible points already lie their required width apart (and reach their
        ``top``): protected."""
        return self.enough(slice(None), self.C.obs_lo[self.tl], self.C.obs_hi[self.tl])

    def seen_enough(self, j: int) -> bool:
        """``certified`` for one target."""
        p = self.tl[j]
        return bool(self.enough(j, self.C.obs_lo[p], self.C.obs_hi[p]))

    def undecided(self) -> np.ndarray:
        return self.open_ & ~self.certified()

    def settle(self, j, lo, hi, how: str) -> None:
        """Record the range of target(s) ``j``, which are then no longer open."""
        self.out.settle(self.tg[j], lo, hi, how, self.required)
        self.open_[j] = False

    def failing(self, j: int) -> bool:
        return self.out.verdict[self.tg[j]] in ("exact", "narrow")

    def known_failing(self) -> np.ndarray:
        """Per target: whether it is already known to fail (``failing``, for every target)."""
        return (self.out.verdict[self.tg] == "exact") | (self.out.verdict[self.tg] == "narrow")

    def protected(self, j: int) -> bool:
        return self.out.verdict[self.tg[j]] == "protected"

    def keep_duals(self, j: int, rows: np.ndarray, lam_max: np.ndarray, lam_min: np.ndarray, frozen: np.ndarray) -> None:
        """Duals of target ``j``'s max and min LPs over component ``rows``, ``frozen`` cells held."""
        self.out.duals[int(self.out.targets[self.tg[j]])] = (self.equations[rows], lam_max, lam_min, self.quantities[frozen])


def _safe_dot(M: sp.csr_matrix, v: np.ndarray) -> np.ndarray:
    """M @ v where 0 * inf counts as 0 and any +-inf term makes the row +-inf."""
    fin = np.where(np.isfinite(v), v, 0.0)
    out = M @ fin
    for s in (np.inf, -np.inf):
        hit = (M @ (v == s).astype(float)) != 0
        if hit.any():
            signed = M @ np.where(v == s, 1.0, 0.0)
            out = np.where(hit, np.where(signed > 0, s, -s), out)
    return out
