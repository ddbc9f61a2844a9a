"""The attacker's large-component path against exact LP ranges computed here, independently.

Real releases reach block sweeps, whole-component sweeps and neighbourhood LPs only with
components of hundreds to tens of thousands of suppressed cells; here the size limits are lowered
so a 336-cell table takes those paths. The reference is two LPs per suppressed cell (scipy's
``linprog``, min and max) over the same published equations and bounds, built in this file.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog

from dvnet.anonymize.disclosure import component, exact_ranges, feasible_points, lp
from dvnet.anonymize.disclosure.attack import _Programme, attacker_intervals
from dvnet.anonymize.disclosure.component import Component

SHAPE = (5, 6, 7)  # interior sizes of a 3-D table; with every margin 6 x 7 x 8 = 336 cells
PRIMARY_WIDTH = 8.0  # a small count's range must be at least this wide
COMPLEMENTARY_WIDTH = 1.0  # a complementary cell's range must not pin it
TOL = 1e-6


def _equations() -> sp.csr_matrix:
    """Every additivity equation of the table (each line along each axis), ``total - parts = 0``.

    Cell (i, j, k) is quantity ``np.ravel_multi_index((i, j, k), (6, 7, 8))``; index ``SHAPE[axis]``
    along an axis is that axis' total.
    """
    full = tuple(s + 1 for s in SHAPE)
    ids = np.arange(np.prod(full)).reshape(full)
    M = sp.lil_matrix((sum(np.prod(full) // n for n in full), ids.size))
    r = 0
    for axis in range(3):
        lines = np.moveaxis(ids, axis, -1).reshape(-1, full[axis])
        for line in lines:
            M[r, line[-1]] = 1.0
            M[r, line[:-1]] = -1.0
            r += 1
    return M.tocsr()


def _table_and_pattern() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True values, suppressed mask and required widths, by quantity id.

    Interior counts 0..11; every count below 3 is suppressed (primary), plus a seeded scatter of
    complementary cells over the whole table but its grand total: one component of about 150
    suppressed cells, some recoverable exactly, some to a narrow range, most protected.
    """
    rng = np.random.default_rng(1)
    full = tuple(s + 1 for s in SHAPE)
    cube = np.zeros(full)
    cube[:-1, :-1, :-1] = rng.integers(0, 12, size=SHAPE)
    cube[-1] = cube[:-1].sum(axis=0)
    cube[:, -1] = cube[:, :-1].sum(axis=1)
    cube[:, :, -1] = cube[:, :, :-1].sum(axis=2)
    primary = np.zeros(full, dtype=bool)
    primary[:-1, :-1, :-1] = cube[:-1, :-1, :-1] < 3
    hidden = primary | (rng.random(full) < 0.35)
    hidden[-1, -1, -1] = False
    required = np.where(primary, PRIMARY_WIDTH, COMPLEMENTARY_WIDTH)
    return cube.ravel(), hidden.ravel(), required.ravel()


def _bounds(truth: np.ndarray, hidden: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What the attacker knows: published cells exactly, suppressed cells only non-negative."""
    return np.where(hidden, 0.0, truth), np.where(hidden, np.inf, truth)


def _exact_ranges(M: sp.csr_matrix, L: np.ndarray, U: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """[min, max] of each target over ``M y = 0``, ``L <= y <= U``: two LPs per target."""
    bounds = list(zip(L, [None if np.isinf(u) else u for u in U], strict=True))
    out = np.zeros((len(targets), 2))
    for k, t in enumerate(targets):
        c = np.zeros(M.shape[1])
        c[t] = 1.0
        lo = linprog(c, A_eq=M, b_eq=np.zeros(M.shape[0]), bounds=bounds, method="highs")
        hi = linprog(-c, A_eq=M, b_eq=np.zeros(M.shape[0]), bounds=bounds, method="highs")
        assert lo.status == 0 and hi.status in (0, 3)
        out[k] = (lo.fun, -hi.fun if hi.status == 0 else np.inf)
    return out


@pytest.fixture(scope="module")
def case():
    truth, hidden, required = _table_and_pattern()
    M = _equations()
    L, U = _bounds(truth, hidden)
    targets = np.nonzero(hidden)[0]
    return M, L, U, truth, targets, required[targets], _exact_ranges(M, L, U, targets)


# Limits that send the table's component down the large path (the defaults are 400 cells and
# more): no exact per-cell LPs at first, blocks of 16 cells; then either whole-component sweeps
# and the exact LPs for what is left, or, for a component "too big" for whole-component LPs,
# neighbourhoods (smaller than the component, which the defaults' would not be).
SWEEPS = dict(exact_limit=0, block_size=16, sweep_limit=10_000, full_lp_limit=10_000)
NEIGHBOURHOODS = dict(exact_limit=0, block_size=16, sweep_limit=0, full_lp_limit=20)
SMALL_NEIGHBOURHOODS = ((2, 60), (4, 140))


def _check_against_exact(result, required: np.ndarray, exact: np.ndarray) -> None:
    """Each settled range is what its method promises, and each verdict is the exact range's."""
    width = exact[:, 1] - exact[:, 0]
    for k in range(len(result.targets)):
        lo, hi, how, verdict = result.lower[k], result.upper[k], result.method[k], result.verdict[k]
        if how == "unchecked":
            continue
        if how == "lp":
            assert (lo, hi) == (pytest.approx(exact[k, 0], abs=TOL), pytest.approx(exact[k, 1], abs=TOL)), k
        elif how == "feasible points":  # an inner range: values the attacker cannot rule out
            assert exact[k, 0] - TOL <= lo and hi <= exact[k, 1] + TOL, k
        else:  # an outer range: the attacker's range lies inside
            assert how in ("propagation", "relaxation"), how
            assert lo <= exact[k, 0] + TOL and exact[k, 1] <= hi + TOL, k
        if width[k] >= required[k] - TOL:
            assert verdict == "protected", k
        else:
            assert verdict in ("exact", "narrow"), k
            assert verdict == "narrow" or width[k] < 1.0 - TOL, k  # "exact": at most one count fits


def _failing(result) -> set[int]:
    return set(result.targets[(result.verdict == "exact") | (result.verdict == "narrow")].tolist())


def test_the_pattern_is_one_component_beyond_the_lowered_limits_with_every_kind_of_cell(case):
    M, L, U, truth, targets, required, exact = case
    width = exact[:, 1] - exact[:, 0]
    assert (width < 1.0 - TOL).sum() >= 10
    assert ((width >= 1.0 - TOL) & (width < required - TOL)).sum() >= 10
    assert (width >= required - TOL).sum() >= 50
    result = attacker_intervals(M, L, U, targets, required, truth=truth, **SWEEPS)
    assert result.n_components == 1 and result.largest_component == len(targets) > 8 * SWEEPS["block_size"]


@pytest.mark.parametrize("want_duals", [False, True], ids=["ranges", "with duals"])
@pytest.mark.parametrize("with_truth", [True, False], ids=["from the true values", "from an LP's point"])
def test_sweeps_then_exact_lps_give_the_exact_ranges(case, with_truth, want_duals):
    M, L, U, truth, targets, required, exact = case
    result = attacker_intervals(M, L, U, targets, required, truth=truth if with_truth else None, want_duals=want_duals, **SWEEPS)
    _check_against_exact(result, required, exact)
    assert not (result.method == "unchecked").any()
    assert "feasible points" in set(result.method)
    if want_duals:  # whole-component duals: nothing held fixed
        assert set(result.duals) == _failing(result)
        assert all(len(frozen) == 0 for *_, frozen in result.duals.values())


@pytest.mark.parametrize("want_duals", [False, True], ids=["ranges", "with duals"])
@pytest.mark.parametrize("with_truth", [True, False], ids=["from the true values", "from an LP's point"])
def test_neighbourhood_ranges_agree_with_the_exact_ranges(case, monkeypatch, with_truth, want_duals):
    M, L, U, truth, targets, required, exact = case
    monkeypatch.setattr(feasible_points, "NEIGHBOURHOODS", SMALL_NEIGHBOURHOODS)
    result = attacker_intervals(M, L, U, targets, required, truth=truth if with_truth else None, want_duals=want_duals, **NEIGHBOURHOODS)
    _check_against_exact(result, required, exact)
    # Neighbourhoods settle most cells; the bound propagation alone misses some failing ones.
    assert (result.method == "feasible points").sum() >= len(targets) // 2
    assert (result.method == "relaxation").any()
    assert (result.method == "unchecked").sum() <= len(targets) // 10
    if want_duals:  # neighbourhood duals: the cells outside the neighbourhood held fixed
        assert set(result.duals) == _failing(result)
        assert all(len(frozen) > 0 for *_, frozen in result.duals.values())


@pytest.mark.parametrize("want_duals", [False, True], ids=["ranges", "with duals"])
def test_each_lps_optimum_settles_the_cells_it_already_shows_wide_enough(case, want_duals):
    """No block or sweep search: the only feasible points are the per-cell LPs' optima. A cell they
    already show its required width apart needs no LPs of its own, and one whose first LP (max or
    min) shows it needs no second: at most one LP per cell settled by points, so fewer than two
    LPs per cell are solved, and every range is still what its method promises."""
    M, L, U, truth, targets, required, exact = case
    only_exact_lps = dict(exact_limit=0, block_size=10**9, sweep_limit=0, full_lp_limit=10_000, max_sweeps=0)
    result = attacker_intervals(M, L, U, targets, required, truth=truth, want_duals=want_duals, **only_exact_lps)
    _check_against_exact(result, required, exact)
    assert not (result.method == "unchecked").any()
    from_points = int((result.method == "feasible points").sum())
    assert from_points > 0 and result.n_lp <= 2 * (len(targets) - from_points) + from_points < 2 * len(targets), (from_points, result.n_lp)
    if want_duals:
        assert set(result.duals) == _failing(result)


# --------------------------------------------------------------------------------------------
# Two cells' LPs at a time (``exact_ranges``, ``lp.in_parallel``)
# --------------------------------------------------------------------------------------------


@pytest.fixture
def two_threads(monkeypatch):
    """The per-cell LPs two at a time even on this small component (and on a 1-core machine)."""
    monkeypatch.setattr(lp, "LP_THREADS", 2)
    monkeypatch.setattr(exact_ranges, "LP_THREADS", 2)
    monkeypatch.setattr(exact_ranges, "PARALLEL_MIN_CELLS", 0)


def test_in_parallel_runs_the_tasks_at_once_in_their_own_threads(monkeypatch):
    monkeypatch.setattr(lp, "LP_THREADS", 2)
    meet = threading.Barrier(2, timeout=10)  # broken unless both tasks wait at the same time

    def task(item, worker):
        meet.wait()
        return item * 10, worker, threading.current_thread().name

    (a, b) = lp.in_parallel(task, [4, 5])
    assert a == (40, 0, threading.main_thread().name)
    assert b[:2] == (50, 1) and b[2].startswith("dvnet-lp")


def test_in_parallel_raises_a_workers_failure_after_every_task_ended(monkeypatch):
    monkeypatch.setattr(lp, "LP_THREADS", 2)
    ended = []

    def task(item, worker):
        if worker == 1:
            raise ValueError("the worker's LP failed")
        time.sleep(0.2)
        ended.append(item)

    with pytest.raises(ValueError, match="the worker's LP failed"):
        lp.in_parallel(task, [1, 2])
    assert ended == [1]


@pytest.mark.parametrize("want_duals", [False, True], ids=["ranges", "with duals"])
def test_exact_lps_two_at_a_time_give_the_exact_ranges_and_the_same_answer_every_time(case, two_threads, want_duals):
    """The exact-LP path with two worker threads: every range still what its method promises,
    the duals of every failing cell, and the same ranges, methods, verdicts and duals on every run
    (what the threads find is applied in the cells' order, whatever their timing)."""
    M, L, U, truth, targets, required, exact = case
    only_exact_lps = dict(exact_limit=0, block_size=10**9, sweep_limit=0, full_lp_limit=10_000, max_sweeps=0)
    runs = [attacker_intervals(M, L, U, targets, required, truth=truth, want_duals=want_duals, **only_exact_lps) for _ in range(3)]
    result = runs[0]
    _check_against_exact(result, required, exact)
    assert not (result.method == "unchecked").any()
    assert (result.method == "feasible points").any() and (result.method == "lp").any()
    if want_duals:
        assert set(result.duals) == _failing(result)
    for other in runs[1:]:
        np.testing.assert_array_equal(other.lower, result.lower)
        np.testing.assert_array_equal(other.upper, result.upper)
        np.testing.assert_array_equal(other.method, result.method)
        np.testing.assert_array_equal(other.verdict, result.verdict)
        assert other.duals.keys() == result.duals.keys()
        for key, (rows, lam_max, lam_min, frozen) in result.duals.items():
            np.testing.assert_array_equal(other.duals[key][1], lam_max)
            np.testing.assert_array_equal(other.duals[key][2], lam_min)


def test_exact_ranges_two_at_a_time_for_the_report(case, two_threads):
    """A component within ``exact_limit``: both LPs of every cell, two cells at a time, exact."""
    M, L, U, truth, targets, required, exact = case
    result = attacker_intervals(M, L, U, targets, required, truth=truth, exact_limit=10_000)
    assert set(result.method) == {"lp"} or set(result.method) <= {"lp", "propagation"}
    lp_cells = result.method == "lp"
    np.testing.assert_allclose(result.lower[lp_cells], exact[lp_cells, 0], atol=TOL)
    np.testing.assert_allclose(result.upper[lp_cells], exact[lp_cells, 1], atol=TOL)
    _check_against_exact(result, required, exact)


def test_duals_apart_two_at_a_time_gives_duals_to_the_same_cells_as_one_at_a_time(case, monkeypatch):
    """Between repairs, failing cells sharing an equation with one given duals wait for the repair:
    taking two cells at a time must not change which cells get duals."""
    M, L, U, truth, targets, required, exact = case
    only_exact_lps = dict(exact_limit=0, block_size=10**9, sweep_limit=0, full_lp_limit=10_000, max_sweeps=0)

    def dualled() -> set[int]:
        r = attacker_intervals(M, L, U, targets, required, truth=truth, want_duals=True, duals_apart=True, **only_exact_lps)
        return set(r.duals)

    one_at_a_time = dualled()
    monkeypatch.setattr(lp, "LP_THREADS", 2)
    monkeypatch.setattr(exact_ranges, "LP_THREADS", 2)
    monkeypatch.setattr(exact_ranges, "PARALLEL_MIN_CELLS", 0)
    two_at_a_time = dualled()
    assert one_at_a_time and two_at_a_time == one_at_a_time
    assert len(one_at_a_time) < len(_failing(attacker_intervals(M, L, U, targets, required, truth=truth, **only_exact_lps)))


# --------------------------------------------------------------------------------------------
# The search's whole-component LPs by the interior-point method (``component.INTERIOR_MIN_CELLS``)
# --------------------------------------------------------------------------------------------


def _component(case) -> tuple[Component, np.ndarray]:
    M, L, U, truth, *_ = case
    prog = _Programme.without_published(M, L, U)
    C = Component(prog.A, prog.b, prog.L, prog.U, prog.oL, prog.oU, [0])
    C.set_point(truth[prog.free_idx])
    return C, prog.free_idx


@pytest.mark.parametrize("interior", [True, False], ids=["interior point", "primal simplex"])
def test_the_searchs_sweeps_give_checked_points_by_either_solver(case, monkeypatch, interior):
    """A sweep's optimum is only a point to widen the seen ranges: by the interior-point method
    (not a vertex) it must still pass the feasibility check and widen them, and it is used from
    the component size the limit names."""
    monkeypatch.setattr(component, "INTERIOR_MIN_CELLS", 0 if interior else 10**9)
    C, _ = _component(case)
    assert C.warm("box").h.getOptionValue("solver")[1] == ("ipm" if interior else "choose")
    point = C.point.copy()
    for sign in (1.0, -1.0):
        C.sweep(np.arange(C.n), np.full(C.n, sign))
    assert C.rejected == 0
    assert (C.obs_hi > point + 1.0).sum() >= 10 and (C.obs_lo < point - 1.0).sum() >= 10


def test_sweeps_by_the_interior_point_method_then_exact_lps_give_the_exact_ranges(case, monkeypatch):
    monkeypatch.setattr(component, "INTERIOR_MIN_CELLS", 0)
    M, L, U, truth, targets, required, exact = case
    result = attacker_intervals(M, L, U, targets, required, truth=truth, want_duals=True, **SWEEPS)
    _check_against_exact(result, required, exact)
    assert not (result.method == "unchecked").any()
    assert "feasible points" in set(result.method)
    assert set(result.duals) == _failing(result)


# --------------------------------------------------------------------------------------------
# The exact per-cell LPs start from the known point's vertex (``WarmLP(start=...)``)
# --------------------------------------------------------------------------------------------


def _optima(W: lp.WarmLP, cells: np.ndarray) -> tuple[list[float], int]:
    """Max and min of each of ``cells``, and the simplex iterations the first LP took."""
    values, first = [], None
    for p in cells:
        for sign in (1.0, -1.0):
            res = W.solve(np.array([p]), np.array([sign]))
            values.append(res.value)
            first = W.h.getInfo().simplex_iteration_count if first is None else first
    return values, first


def test_the_exact_programme_starts_from_the_vertex_crossover_reaches_from_the_known_point(case):
    """Before any solve, the component's programme already holds a basis (from the true values),
    so its first LP is a few pivots, not a solve from scratch; the optima are the cold start's."""
    C, _ = _component(case)
    cells = np.arange(0, C.n, max(C.n // 12, 1))
    cold = lp.WarmLP(C.A, C.b, C.L, C.U)
    assert not cold.h.getBasis().valid
    warm = C.warm("exact")
    assert warm.h.getBasis().valid
    (cold_values, cold_first), (warm_values, warm_first) = _optima(cold, cells), _optima(warm, cells)
    np.testing.assert_allclose(warm_values, cold_values, atol=TOL)
    assert warm_first < cold_first / 2


def test_a_second_workers_copy_starts_from_the_first_copys_basis(case):
    C, _ = _component(case)
    first = C.warm("exact", 0)
    first.solve(np.array([3]), np.array([1.0]))
    C.point = None  # no point to cross over from: only the first copy's basis can start it
    second = C.warm("exact", 1)
    assert second.h.getBasis().valid
    cells = np.arange(1, C.n, max(C.n // 8, 1))
    np.testing.assert_allclose(_optima(second, cells)[0], _optima(lp.WarmLP(C.A, C.b, C.L, C.U), cells)[0], atol=TOL)


def test_a_point_crossover_cannot_use_leaves_the_programme_to_start_from_scratch(case):
    C, _ = _component(case)
    W = lp.WarmLP(C.A, C.b, C.L, C.U, start=np.zeros(3))  # not a point of this programme
    assert not W.h.getBasis().valid
    cells = np.arange(2, C.n, max(C.n // 8, 1))
    np.testing.assert_allclose(_optima(W, cells)[0], _optima(lp.WarmLP(C.A, C.b, C.L, C.U), cells)[0], atol=TOL)


class _SweptJob:
    """A component whose n-th sweep settles ``shares[n]`` of the cells still undecided."""

    def __init__(self, cells: int, shares: list[float]):
        self.open = np.ones(cells, dtype=bool)
        self.tl = np.arange(cells)
        self.shares = list(shares)
        self.swept = 0
        self.C = self

    def sweep(self, idx, w) -> None:
        assert len(idx) == self.open.sum() and set(np.unique(w)) <= {-1.0, 1.0}
        settle = int(round(self.shares[self.swept] * len(idx)))
        self.open[idx[:settle]] = False
        self.swept += 1

    def undecided(self) -> np.ndarray:
        return self.open.copy()


def test_whole_component_sweeps_go_on_while_each_settles_its_share_of_the_rest():
    shares = [0.30, 0.10, 0.05, 0.02, 0.015, 0.012, 0.005, 0.5, 0.5]
    job = _SweptJob(10_000, shares)
    left = feasible_points._component_sweeps(job, job.undecided(), 100, np.random.default_rng(0), lambda: False)
    assert job.swept == 7  # the seventh settled under 1 % of the rest: no eighth
    assert left.sum() == job.open.sum() < 10_000 * 0.7 * 0.9 * 0.95 * 0.98
    capped = _SweptJob(10_000, shares)
    feasible_points._component_sweeps(capped, capped.undecided(), 3, np.random.default_rng(0), lambda: False)
    assert capped.swept == 3
