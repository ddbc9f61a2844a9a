"""Certifying a suppressed cell by feasible points instead of LPs of its own, against the exact LPs.

The audit settles most cells by points of the attacker's polytope that lie the cell's required
width apart: optima of LPs solved for other cells, checked feasible, and carried from one audit of
a growing pattern to the next (``seen_ranges.py``). That shortcut may say "unsafe" where the
exact LPs would say "safe" (it then only costs LPs), never the reverse. The reference here is
the exact per-cell path (``report_exact``: two LPs per cell over its whole component).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from dvnet.anonymize.disclosure import protect
from dvnet.anonymize.disclosure.attack import ComponentMemo, attacker_intervals
from dvnet.anonymize.disclosure.audit import audit
from dvnet.anonymize.disclosure.component import Component
from dvnet.anonymize.disclosure.seen_ranges import SeenRanges

TOL = 1e-6
PRIMARY_WIDTH = 4.0


def _equations(shape: tuple[int, ...]) -> sp.csr_matrix:
    """Every additivity equation of a table with interior ``shape`` and all margins (the last index
    along each axis is that axis' total), ``total - parts = 0``; cells in row-major order."""
    full = tuple(s + 1 for s in shape)
    ids = np.arange(int(np.prod(full))).reshape(full)
    rows, cols, vals = [], [], []
    r = 0
    for axis in range(len(full)):
        for line in np.moveaxis(ids, axis, -1).reshape(-1, full[axis]):
            rows += [r] * len(line)
            cols += line.tolist()
            vals += [-1.0] * (len(line) - 1) + [1.0]
            r += 1
    return sp.csr_matrix((vals, (rows, cols)), shape=(r, ids.size))


def _table(shape: tuple[int, ...], rng: np.random.Generator, high: int = 9) -> np.ndarray:
    full = tuple(s + 1 for s in shape)
    cube = np.zeros(full)
    cube[tuple(slice(0, s) for s in shape)] = rng.integers(0, high, size=shape)
    for axis in range(len(shape)):
        idx = [slice(None)] * len(shape)
        idx[axis] = -1
        body = [slice(None)] * len(shape)
        body[axis] = slice(0, -1)
        cube[tuple(idx)] = cube[tuple(body)].sum(axis=axis)
    return cube.ravel()


def _bounds(truth: np.ndarray, hidden: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Published cells exactly, suppressed cells only non-negative."""
    return np.where(hidden, 0.0, truth), np.where(hidden, np.inf, truth)


def _reference(M, truth, hidden, required):
    """The exact per-cell path: two LPs per suppressed cell over its whole component."""
    L, U = _bounds(truth, hidden)
    targets = np.nonzero(hidden)[0]
    return attacker_intervals(M, L, U, targets, required[targets], truth=truth, report_exact=True, exact_limit=10**9)


# The fast path at these sizes: no exact per-cell LPs for the report, tiny blocks, whole-component sweeps.
FAST = dict(exact_limit=0, block_size=8, sweep_limit=10_000, full_lp_limit=10_000)


def _fast(M, truth, hidden, required, seen, **kw):
    L, U = _bounds(truth, hidden)
    targets = np.nonzero(hidden)[0]
    return attacker_intervals(M, L, U, targets, required[targets], truth=truth, seen=seen, **FAST, **kw)


def test_a_point_that_breaks_an_equation_or_a_bound_widens_no_range():
    # total = a + b, the total published as 5: (a, b) = (2, 3) is feasible, (2, 4) and (-1, 6) are not.
    A = sp.csr_matrix(np.array([[1.0, 1.0]]))
    C = Component(A, np.array([5.0]), np.zeros(2), np.full(2, np.inf), np.zeros(2), np.full(2, 5.0), [0])
    assert not C.observe(np.array([2.0, 4.0]))
    assert not C.observe(np.array([-1.0, 6.0]))
    assert np.isinf(C.obs_lo).all() and np.isinf(C.obs_hi).all()
    assert C.observe(np.array([2.0, 3.0])) and C.observe(np.array([5.0, 0.0]))
    assert C.obs_lo.tolist() == [2.0, 0.0] and C.obs_hi.tolist() == [5.0, 3.0]
    assert C.rejected == 2


def test_carried_points_certify_cells_without_lps_of_their_own():
    """A pattern audited, one more cell suppressed, audited again: the cells the first audit showed
    wide enough are settled by its points, with no LP, and agree with the exact ranges."""
    shape = (4, 4, 3)
    rng = np.random.default_rng(3)
    M, truth = _equations(shape), _table(shape, rng)
    hidden = rng.random(len(truth)) < 0.45
    hidden[-1] = False
    required = np.where(truth < 3, PRIMARY_WIDTH, 1.0)
    seen = SeenRanges()
    first = _fast(M, truth, hidden, required, seen)
    more = hidden.copy()
    more[np.nonzero(~hidden[:-1])[0][0]] = True
    second = _fast(M, truth, more, required, seen)
    reference = _reference(M, truth, more, required)
    assert (second.verdict == reference.verdict).all()
    protected_before = set(first.targets[first.verdict == "protected"].tolist())
    carried = np.isin(second.targets, list(protected_before))
    assert carried.sum() >= 10
    assert (second.method[carried] == "feasible points").all() and (second.verdict[carried] == "protected").all()
    assert second.n_lp < first.n_lp


@pytest.mark.parametrize("seed", range(8))
def test_the_fast_path_agrees_with_the_exact_per_cell_lps_on_random_small_releases(seed):
    """Random 2-D and 3-D tables and patterns that grow, then shrink (cells published again), then
    grow: every verdict of the fast path (points carried from the audit before, one-sided LPs,
    duals only for failing cells apart) is the exact path's, and a failing cell left without
    duals is still reported failing. Where cells are known to fail, the rest may be left for
    after the repair ("unchecked"), never when nothing fails: the audit that ends a heuristic
    decides every cell."""
    rng = np.random.default_rng(100 + seed)
    shape = (5, 6) if seed % 2 else (3, 4, 3)
    M, truth = _equations(shape), _table(shape, rng)
    primary = (truth > 0) & (truth < 3)
    required = np.where(primary, PRIMARY_WIDTH, 1.0)
    hidden = primary | (rng.random(len(truth)) < 0.2)
    hidden[-1] = False
    seen = SeenRanges()
    for step in range(5):
        if step == 2:  # publish most complementary cells again: what was seen before may not hold now
            hidden = primary | (hidden & (rng.random(len(truth)) < 0.3))
        elif step:
            hidden = hidden | ((rng.random(len(truth)) < 0.1) & (np.arange(len(truth)) != len(truth) - 1))
        fast = _fast(M, truth, hidden, required, seen, want_duals=True, duals_apart=True)
        reference = _reference(M, truth, hidden, required)
        left = fast.verdict == "unchecked"
        assert not left.any() or fast.duals
        if not fast.failed().any():
            assert not left.any()
        assert fast.verdict[~left].tolist() == reference.verdict[~left].tolist()
        # A failing cell's range is exact too: what it lacks (the repair's deficit) is exact.
        short = fast.failed()
        assert np.allclose(fast.lower[short], reference.lower[short]) and np.allclose(fast.upper[short], reference.upper[short])
        failing = set(fast.targets[fast.verdict != "protected"].tolist())
        assert set(fast.duals) <= failing and (not failing or fast.duals)
        # The cells given duals share no equation with each other.
        touched = [set(M[:, [q]].nonzero()[0].tolist()) for q in fast.duals]
        assert all(not (a & b) for i, a in enumerate(touched) for b in touched[i + 1 :])


@pytest.mark.parametrize("seed", range(4))
def test_an_audit_in_which_nothing_fails_decides_every_cell(seed):
    """The fast path leaves cells for after a repair only while something fails: on a protecting
    pattern (grown here by the test's own rule: a published cell beside a failing one, until the
    exact path passes it) every cell is decided, by the same verdict as the exact path."""
    rng = np.random.default_rng(200 + seed)
    shape = (5, 6) if seed % 2 else (3, 4, 3)
    M, truth = _equations(shape), _table(shape, rng)
    primary = (truth > 0) & (truth < 3)
    required = np.where(primary, PRIMARY_WIDTH, 1.0)
    hidden = primary.copy()
    hidden[-1] = False
    for _ in range(len(truth)):
        reference = _reference(M, truth, hidden, required)
        failing = reference.targets[reference.failed()]
        if not len(failing):
            break
        beside = np.unique(M[M[:, failing].nonzero()[0]].indices)
        beside = beside[~hidden[beside] & (beside != len(truth) - 1)]
        hidden[rng.choice(beside) if len(beside) else rng.choice(np.nonzero(~hidden[:-1])[0])] = True
    assert not reference.failed().any()
    fast = _fast(M, truth, hidden, required, SeenRanges(), want_duals=True, duals_apart=True)
    assert fast.verdict.tolist() == reference.verdict.tolist()
    assert (fast.method == "lp").any() or (fast.method == "feasible points").any()


def test_protect_passes_an_audit_that_carries_nothing_over(cube_table):
    """protect's final audit reuses the heuristic's points; the published tables must also pass
    the evaluator's audit, which starts from nothing."""
    rng = np.random.default_rng(7)
    values = {(f"R{i}", f"S{j}", f"A{k}"): int(v) for (i, j, k), v in np.ndenumerate(rng.integers(0, 30, size=(5, 6, 4)))}
    table = cube_table("episodes_by_region_service_age", values, ("region", "service", "age"))
    release = protect([table], "dv-default", method="heuristic")
    assert release.audit.passed
    again = audit(release.as_tables(), "dv-default", reasons=release.reasons)
    assert again.passed


@pytest.mark.parametrize("exact_limit", [400, 0], ids=["exact per-cell LPs", "feasible points first"])
def test_without_reasons_a_cell_that_can_only_be_a_small_count_is_narrow_whatever_settled_it(grid_table, exact_limit):
    """The evaluator's audit (no reasons) holds a cell whose whole range lies below the threshold
    to the protection width. Feasible points that show it is not exact must not let it pass: the
    2 x 2 rectangle of small counts below (a suppressed cell is at least 1: zeros are published)
    ranges over [1, 2], [3, 4], [1, 2], [3, 4]: not exact, but surely small."""
    grid = [[2, 3, 20], [1, 4, 20], [20, 20, 20]]
    rows, cols = ["R1", "R2", "R3"], ["S1", "S2", "S3"]
    hidden = {(r, c): "suppressed" for r in rows[:2] for c in cols[:2]}
    table = grid_table("episodes", grid, rows, cols, statuses=hidden)
    report = audit([table], "dv-default", exact_limit=exact_limit)
    assert not report.passed
    assert (report.cells["verdict"] == "narrow").all()
    assert (report.cells["upper"] - report.cells["lower"]).round(6).tolist() == [1.0] * 4


@pytest.mark.parametrize("seed", range(6))
def test_an_audit_that_stops_at_the_first_failure_says_what_the_full_one_says(seed):
    """``stop_at_failure`` (the clean-up's question: does every cell stay protected?): on a
    pattern that fails, it reports a failure the full audit reports too, with fewer LPs, and
    leaves the rest unchecked; on a pattern that passes, every verdict is the full audit's."""
    rng = np.random.default_rng(200 + seed)
    shape = (5, 6) if seed % 2 else (3, 4, 3)
    M, truth = _equations(shape), _table(shape, rng)
    primary = (truth > 0) & (truth < 3)
    required = np.where(primary, PRIMARY_WIDTH, 1.0)
    for density in np.linspace(0.2, 0.9, 15):  # a pattern with cells of both kinds
        hidden = primary | (rng.random(len(truth)) < density)
        hidden[-1] = False
        full = _fast(M, truth, hidden, required, None)
        if full.failed().any() and not full.failed().all():
            break
    failing = full.targets[full.failed()]
    order = np.r_[failing[:1], np.setdiff1d(full.targets, failing[:1])]  # the likeliest to fail first, as the clean-up orders them
    L, U = _bounds(truth, hidden)
    stopped = attacker_intervals(M, L, U, order, required[order], truth=truth, stop_at_failure=True, **FAST)
    checked = stopped.verdict != "unchecked"
    by_target = dict(zip(full.targets.tolist(), full.verdict.tolist(), strict=True))
    assert stopped.failed().any() and not checked.all()
    assert all(v == by_target[q] for q, v in zip(stopped.targets[checked].tolist(), stopped.verdict[checked].tolist(), strict=True))
    assert stopped.n_lp <= full.n_lp
    everything = np.arange(len(truth)) != len(truth) - 1  # all but the grand total: nothing can be worked out
    whole = _fast(M, truth, everything, required, None)
    assert not whole.failed().any()
    assert _fast(M, truth, everything, required, None, stop_at_failure=True).verdict.tolist() == whole.verdict.tolist()


@pytest.mark.parametrize("exact", [False, True])
def test_a_component_asked_again_is_recalled_without_lps_and_a_changed_one_is_solved_again(exact):
    """``ComponentMemo`` (the insider check between repair rounds): the same programme asked
    again is answered from the memo with no LP and the same verdicts and ranges; a component whose
    bounds changed is solved again, and its answer is what a call without the memo gives."""
    rng = np.random.default_rng(7)
    shape = (4, 5)
    one, truth_one = _equations(shape), _table(shape, rng)
    M = sp.block_diag([one, one]).tocsr()  # two tables sharing nothing: two components
    truth = np.r_[truth_one, _table(shape, rng)]
    n = len(truth_one)
    hidden = (rng.random(len(truth)) < 0.45) | ((truth > 0) & (truth < 3))
    hidden[[n - 1, 2 * n - 1]] = False  # grand totals published
    required = np.where((truth > 0) & (truth < 3), PRIMARY_WIDTH, 1.0)
    L, U = _bounds(truth, hidden)
    targets = np.nonzero(hidden)[0]
    kw = dict(truth=truth, report_exact=exact, exact_limit=10**9 if exact else 0, block_size=8, sweep_limit=10_000, full_lp_limit=10_000)

    def ask(L, U, memo=None):
        return attacker_intervals(M, L, U, targets, required[targets], memo=memo, **kw)

    memo = ComponentMemo()
    first = ask(L, U, memo)
    assert first.n_lp > 0 and memo.misses == first.n_components == 2 and memo.hits == 0
    again = ask(L, U, memo)
    assert again.n_lp == 0 and memo.hits == 2
    for field in ("lower", "upper"):
        assert np.array_equal(getattr(again, field), getattr(first, field), equal_nan=True)
    assert again.verdict.tolist() == first.verdict.tolist() and again.method.tolist() == first.method.tolist()

    moved = targets[targets >= n][0]  # a bound of the second table's component moves (the truth still inside)
    L2, U2 = L.copy(), U.copy()
    U2[moved] = truth[moved] + 50
    changed = ask(L2, U2, memo)
    assert memo.hits == 3 and memo.misses == 3  # the first table's component recalled, the second's solved
    plain = ask(L2, U2)
    assert changed.verdict.tolist() == plain.verdict.tolist()
    if exact:
        assert np.allclose(changed.lower, plain.lower) and np.allclose(changed.upper, plain.upper)
