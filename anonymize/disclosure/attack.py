"""The attacker's linear programmes: the range of every suppressed cell, at any scale.

Given equations ``M y = 0`` and per-quantity bounds [L, U] (a published exact count has L = U), the
attacker's range for a suppressed quantity p is [min y_p, max y_p] over that polytope. Published
quantities are substituted out; what remains splits into independent connected components.

Per component, cheapest first:

1. *Propagation* through the equations gives an outer range (the true range lies inside): a cell
   whose outer range is already too narrow fails for certain (``propagation.py``).
2. A component of at most ``exact_limit`` cells, when exact ranges are wanted for the report:
   two LPs per cell (HiGHS), exact.
3. Larger components: *feasible points* and relaxations (``feasible_points.py``): an inner range
   at least the required width settles a cell as protected, an outer range narrower than required
   as failing.
4. What is still undecided gets the exact per-cell LPs over the whole component, within budget:
   first the side (max or min) with more room left; a cell its optimum already shows its width
   apart needs no second LP. Two LPs per cell (``report_exact``) stay the reference path.

Every point that certifies a range is checked against the equations and the attacker's bounds
(``component.POINT_TOL``), never taken on the solver's word. Points seen by an earlier audit of a
smaller pattern (``seen_ranges.py``: the heuristic's rounds, protect's final audit) are feasible
here too when every bound contains the earlier one, and settle cells with no LP at all.

Each settled cell records how ("lp", "propagation", "relaxation", "feasible points", "bounds",
"published value"); cells left at the deadline are "unchecked".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from dvnet.anonymize.disclosure.component import Component, ComponentTargets
from dvnet.anonymize.disclosure.exact_ranges import exact_ranges
from dvnet.anonymize.disclosure.feasible_points import SearchLimits, search_feasible_points
from dvnet.anonymize.disclosure.intervals import TOL, IntervalResult
from dvnet.anonymize.disclosure.propagation import propagate
from dvnet.anonymize.disclosure.seen_ranges import SeenRanges


def attacker_intervals(
    M: sp.csr_matrix,
    L: np.ndarray,
    U: np.ndarray,
    targets: np.ndarray,
    required: np.ndarray,
    *,
    truth: np.ndarray | None = None,
    exact_limit: int = 400,
    report_exact: bool = True,
    want_duals: bool = False,
    time_limit: float | None = None,
    seed: int = 0,
    sweep_limit: int = 50000,
    full_lp_limit: int = 50000,
    max_sweeps: int = 100,
    block_size: int = 400,
    seen: SeenRanges | None = None,
    duals_apart: bool = False,
    top: np.ndarray | None = None,
    stop_at_failure: bool = False,
    memo: ComponentMemo | None = None,
) -> IntervalResult:
    """Attacker's range for every quantity in ``targets`` given ``M y = 0`` and bounds [L, U].

    ``required[k]`` is the width ``targets[k]`` must reach. ``truth`` (the true values) is a
    feasible point to start from. ``report_exact``: exact ranges for every target of a component
    of at most ``exact_limit`` cells. ``want_duals``: LP duals for every failing target (exact
    when its component has at most ``full_lp_limit`` cells, else from its neighbourhood LP).
    Components larger than ``block_size`` cells are first searched block by block; whole-component
    LPs are solved up to ``sweep_limit`` cells (at most ``max_sweeps`` of them). ``seen``: the
    values earlier audits of a smaller programme saw (``seen_ranges.py``), used when they still
    hold and updated with the points found here. ``duals_apart`` (with ``want_duals``): for a
    heuristic between repairs. A target known to fail gets its duals only when it shares no
    equation with a failing target given duals before it; the others stay failing without duals
    (the heuristic repairs the first and looks at the rest again after, when the repair may have
    protected them too). In a component where some target is known to fail (propagation, the
    points seen), the targets not known to fail get no LPs of their own and stay "unchecked"
    until after the repair, as do those sharing an equation with a target given duals; a call
    in which nothing fails decides every target. ``top[k]``
    (optional): the value the range of ``targets[k]`` must also reach upwards (an upper
    protection level; -inf for none). ``stop_at_failure``: for a caller that only asks whether
    every target is protected; the audit stops at the first target found exact or narrow (targets
    are looked at in the order given, so put the likeliest to fail first) and leaves the rest
    unchecked.
    ``memo``: components settled by earlier calls with the same memo; a component whose programme
    and targets are the same again takes their answer without solving (``ComponentMemo``). Not
    with ``want_duals``, ``seen`` or ``stop_at_failure``, whose answers depend on more than that.
    """
    t0 = time.perf_counter()
    deadline = None if time_limit is None else t0 + time_limit

    def stop() -> bool:
        return (deadline is not None and time.perf_counter() > deadline) or (stop_at_failure and out.failed().any())

    targets = np.asarray(targets, dtype=np.int64)
    required = np.asarray(required, dtype=float)
    out = IntervalResult.unchecked(targets, None if top is None else np.asarray(top, dtype=float))
    if seen is not None:
        seen.start(M, L, U)
    if len(targets):
        prog = _Programme.without_published(M, L, U)
        tloc = prog.local[targets]
        live = _settle_published(out, tloc, L[targets], U[targets])
        oL, oU = prog.oL[tloc[live]], prog.oU[tloc[live]]
        sure_fail = (oU - oL < required[live] - TOL) | (oU < out.top[live] - TOL)
        out.settle(live[sure_fail], prog.oL[tloc[live[sure_fail]]], prog.oU[tloc[live[sure_fail]]], "propagation", required)
        groups = _by_component(prog.A, live, tloc)
        out.n_components = len(groups)
        run = _Run(
            prog=prog,
            out=out,
            required=required,
            tloc=tloc,
            truth_free=None if truth is None else truth[prog.free_idx],
            limits=SearchLimits(block_size, sweep_limit, full_lp_limit, max_sweeps, want_duals),
            exact_limit=exact_limit,
            report_exact=report_exact,
            rng=np.random.default_rng(seed),
            stop=stop,
            seen=seen,
            duals_apart=duals_apart,
            memo=None if want_duals or seen is not None or stop_at_failure else memo,
        )
        for tg, cv, cr in groups:
            if stop():
                break
            run.component(tg, cv, cr)
        out.n_lp = run.counter[0]
    out.seconds = time.perf_counter() - t0
    return out


@dataclass
class _Programme:
    """The attacker's programme over the quantities not published exactly: ``A y = b``, [L, U],
    with outer ranges [oL, oU] from propagation.

    ``free_idx``: each column's quantity id; ``active``: each row's equation id in ``M``;
    ``local``: each quantity's column, -1 when published exactly (substituted into ``b``).
    """

    A: sp.csr_matrix
    b: np.ndarray
    L: np.ndarray
    U: np.ndarray
    oL: np.ndarray
    oU: np.ndarray
    free_idx: np.ndarray
    active: np.ndarray
    local: np.ndarray

    @classmethod
    def without_published(cls, M: sp.csr_matrix, L: np.ndarray, U: np.ndarray) -> _Programme:
        free = (U - L) > 1e-9
        fixed_idx = np.nonzero(~free)[0]
        free_idx = np.nonzero(free)[0]
        Mc = M.tocsc()
        rhs = -(Mc[:, fixed_idx] @ L[fixed_idx]) if len(fixed_idx) else np.zeros(M.shape[0])
        A_all = Mc[:, free_idx].tocsr()
        active = np.nonzero(np.diff(A_all.indptr) > 0)[0]
        local = np.full(M.shape[1], -1, dtype=np.int64)
        local[free_idx] = np.arange(len(free_idx))
        A, b, Lf, Uf = A_all[active], rhs[active], L[free_idx], U[free_idx]
        oL, oU = propagate(A, b, Lf, Uf)
        return cls(A, b, Lf, Uf, oL, oU, free_idx, active, local)


def _settle_published(out: IntervalResult, tloc: np.ndarray, L: np.ndarray, U: np.ndarray) -> np.ndarray:
    """Targets published exactly (elsewhere, or in an earlier release) are known: their value and
    verdict "exact". Returns the positions of the others."""
    pinned = tloc < 0
    out.lower[pinned] = L[pinned]
    out.upper[pinned] = U[pinned]
    out.method[pinned] = "published value"
    out.verdict[pinned] = "exact"
    return np.nonzero(~pinned)[0]


def component_labels(A: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, int]:
    """Connected components of the cells (columns) of ``A`` linked by its equations (rows): each
    column's and each row's component, and how many there are."""
    nr, nf = A.shape
    if nr:
        _, labels = connected_components(sp.bmat([[None, A], [A.T, None]], format="csr"), directed=False)
        return labels[nr:], labels[:nr], int(labels.max()) + 1
    return np.arange(nf), np.zeros(0, dtype=np.int64), nf


def _by_component(A: sp.csr_matrix, live: np.ndarray, tloc: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per connected component of ``A`` holding a ``live`` target: (its targets' positions, its
    columns, its rows), in component order."""
    if len(live) == 0:  # every target is published exactly somewhere: no programme to solve
        return []
    var_comp, row_comp, n_comp = component_labels(A)
    tcomp = var_comp[tloc[live]]
    order = np.argsort(tcomp, kind="stable")
    live_sorted, comp_sorted = live[order], tcomp[order]
    cuts = np.r_[0, np.nonzero(np.diff(comp_sorted))[0] + 1, len(comp_sorted)]
    vorder = np.argsort(var_comp, kind="stable")
    vstarts = np.searchsorted(var_comp[vorder], np.arange(n_comp + 1))
    rorder = np.argsort(row_comp, kind="stable")
    rstarts = np.searchsorted(row_comp[rorder], np.arange(n_comp + 1))
    groups = []
    for start, stop in zip(cuts[:-1], cuts[1:], strict=True):
        comp = comp_sorted[start]
        groups.append((live_sorted[start:stop], vorder[vstarts[comp] : vstarts[comp + 1]], rorder[rstarts[comp] : rstarts[comp + 1]]))
    return groups


@dataclass
class _Run:
    """One call of ``attacker_intervals``, settling its targets component by component."""

    prog: _Programme
    out: IntervalResult
    required: np.ndarray
    tloc: np.ndarray  # each target's column in ``prog`` (-1: published)
    truth_free: np.ndarray | None
    limits: SearchLimits
    exact_limit: int
    report_exact: bool
    rng: np.random.Generator
    stop: Callable[[], bool]  # past the deadline, or (stop_at_failure) a target failed
    seen: SeenRanges | None = None
    duals_apart: bool = False
    counter: list[int] = field(default_factory=lambda: [0])  # LPs solved
    memo: ComponentMemo | None = None

    def component(self, tg: np.ndarray, cv: np.ndarray, cr: np.ndarray) -> None:
        """Settle targets ``tg`` of the component with columns ``cv`` and rows ``cr`` (from the
        memo when it holds the same component)."""
        if self.memo is None:
            self._solve_component(tg, cv, cr)
        elif not self.memo.recall(self, tg, cv, cr):
            self._solve_component(tg, cv, cr)
            self.memo.keep(self, tg, cv, cr)

    def _solve_component(self, tg: np.ndarray, cv: np.ndarray, cr: np.ndarray) -> None:
        prog, out = self.prog, self.out
        out.largest_component = max(out.largest_component, len(cv))
        pos = np.full(prog.A.shape[1], -1, dtype=np.int64)
        pos[cv] = np.arange(len(cv))
        tl = pos[self.tloc[tg]]
        if len(cr) == 0:  # a suppressed cell in no equation: only its own bounds
            out.settle(tg, prog.L[cv[tl]], prog.U[cv[tl]], "bounds", self.required)
            return
        job = ComponentTargets(self._probe(tg, cv, cr), out, self.required, tg, tl, prog.free_idx[cv], prog.active[cr], self.limits.want_duals)
        exact_mode = self.report_exact and len(cv) <= self.exact_limit
        todo = np.ones(len(tg), dtype=bool) if exact_mode else (job.open_ | job.needs_duals)
        # Between repairs (``duals_apart``) a component with a target known to fail gets only
        # that target's duals (``exact_ranges``): a search for points would settle nothing used now.
        repair_coming = self.duals_apart and len(cv) <= self.limits.full_lp_limit and job.known_failing().any()
        if not exact_mode and job.open_.any() and not repair_coming:
            todo = search_feasible_points(job, todo, self.limits, self.rng, self.stop)
        if exact_mode or len(cv) <= self.limits.full_lp_limit:
            exact_ranges(job, todo, self.limits.want_duals, self.stop, exact=exact_mode, duals_apart=self.duals_apart)
        if self.seen is not None:
            self.seen.record(prog.free_idx[cv], job.C.obs_lo, job.C.obs_hi)

    def _probe(self, tg: np.ndarray, cv: np.ndarray, cr: np.ndarray) -> Component:
        """The component's programme, starting from the true values when they are known."""
        p = self.prog
        reach = float(np.max(self.required[tg]))
        if self.truth_free is not None:  # a top above the true count: the points must reach that far up too
            above = self.out.top[tg] - self.truth_free[self.tloc[tg]]
            reach = max(reach, float(np.max(np.nan_to_num(above, nan=0.0, neginf=0.0, posinf=0.0))))
        C = Component(p.A[cr][:, cv].tocsr(), p.b[cr], p.L[cv], p.U[cv], p.oL[cv], p.oU[cv], self.counter, reach=2.0 * reach)
        if self.truth_free is not None and not np.isnan(self.truth_free[cv]).any():
            C.set_point(self.truth_free[cv])
        if self.seen is not None:  # points of an earlier, smaller programme: feasible here too
            lo, hi = self.seen.seen(p.free_idx[cv])
            np.minimum(C.obs_lo, lo, out=C.obs_lo)
            np.maximum(C.obs_hi, hi, out=C.obs_hi)
        return C


class ComponentMemo:
    """Components already settled, by everything their answer depends on: the equations and cells,
    the constants the published cells put into the equations, the cells' bounds, the targets with
    their widths and tops, and whether exact ranges were asked for. The same component asked
    again (one agency's programme between repair rounds, where the repair changed other
    components) gets the same ranges, methods and verdicts without an LP. Within one ``protect``
    call the true values, and so the starting point, do not change. ``hits``, ``misses``: counts."""

    def __init__(self) -> None:
        self.answers: dict[tuple, tuple[np.ndarray, ...]] = {}
        self.hits = self.misses = 0

    @staticmethod
    def _key(run: _Run, tg: np.ndarray, cv: np.ndarray, cr: np.ndarray) -> tuple:
        p = run.prog
        arrays = (p.free_idx[cv], p.active[cr], p.b[cr], p.L[cv], p.U[cv], p.free_idx[run.tloc[tg]], run.required[tg], run.out.top[tg])
        return (*(a.tobytes() for a in arrays), run.report_exact, run.exact_limit)

    def recall(self, run: _Run, tg: np.ndarray, cv: np.ndarray, cr: np.ndarray) -> bool:
        answer = self.answers.get(self._key(run, tg, cv, cr))
        if answer is None:
            self.misses += 1
            return False
        self.hits += 1
        out = run.out
        out.lower[tg], out.upper[tg], out.method[tg], out.verdict[tg] = answer
        out.largest_component = max(out.largest_component, len(cv))
        return True

    def keep(self, run: _Run, tg: np.ndarray, cv: np.ndarray, cr: np.ndarray) -> None:
        out = run.out
        if not (out.verdict[tg] == "unchecked").any():  # cut short by the clock: nothing to keep
            self.answers[self._key(run, tg, cv, cr)] = (out.lower[tg].copy(), out.upper[tg].copy(), out.method[tg].copy(), out.verdict[tg].copy())
