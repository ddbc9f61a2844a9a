"""Ranges in a component too large for two exact LPs per cell: feasible points and relaxations.

Starting from a feasible point (the true values, or one LP), LPs over blocks of a breadth-first
partition (the rest of the component held at the point), then over the whole component with
aggregate objectives (if small enough), then around each undecided cell ("neighbourhood": its
cells within a few equations free, the rest held at the point, or relaxed to their outer ranges).
A cell whose feasible points lie its required width apart is protected for certain; an outer
range narrower than required fails for certain. What is left goes to the exact per-cell LPs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order

from dvnet.anonymize.disclosure.component import ComponentTargets, cols_of
from dvnet.anonymize.disclosure.intervals import TOL

#: Neighbourhoods tried around an undecided cell: (equations away, most cells), smallest first.
NEIGHBOURHOODS = ((3, 300), (6, 2000))


@dataclass(frozen=True)
class SearchLimits:
    """Component sizes (in cells) that choose the search's LPs, and whether failing cells need
    their duals; see ``attacker_intervals``."""

    block_size: int
    sweep_limit: int
    full_lp_limit: int
    max_sweeps: int
    want_duals: bool


def search_feasible_points(
    job: ComponentTargets, todo: np.ndarray, limits: SearchLimits, rng: np.random.Generator, stop: Callable[[], bool]
) -> np.ndarray:
    """Settle what the search can in ``job``; return ``todo`` narrowed to what still needs exact LPs."""
    C = job.C
    if C.point is None:
        C.find_point()
    undecided = job.undecided()
    # Block sweeps first: small LPs, and protection is mostly local.
    if undecided.any() and C.n > limits.block_size and C.point is not None:
        undecided = _block_sweeps(job, undecided, limits.block_size, rng, stop)
    if C.n <= limits.sweep_limit:
        undecided = _component_sweeps(job, undecided, limits.max_sweeps, rng, stop)
    # Neighbourhoods in a component too big for whole-component LPs (there also the duals of the
    # cells already known to fail).
    visit = (undecided | (job.needs_duals & ~job.open_)) & (C.n > limits.full_lp_limit)
    if visit.any() and C.point is not None:
        for j in np.nonzero(visit)[0]:
            if stop():
                break
            _neighbourhood_ranges(job, j, limits.want_duals)
    done = job.open_ & job.certified()
    if done.any():
        job.settle(done, C.obs_lo[job.tl[done]], C.obs_hi[job.tl[done]], "feasible points")
        todo &= ~done
    return todo & (job.open_ | job.needs_duals)


def _signs(kind: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Objective directions of the ``kind``-th LP of a round: all up, all down, then random."""
    if kind == 0:
        return np.full(size, 1.0)
    if kind == 1:
        return np.full(size, -1.0)
    return rng.choice([-1.0, 1.0], size=size)


def _blocks(graph: sp.csr_matrix, nb: int, root_cell: int, block_size: int, shift: int) -> Iterator[np.ndarray]:
    """Cells in breadth-first order from ``root_cell`` over ``graph`` (``nb`` equations, then the
    cells), cut into blocks of ``block_size``, the first one ``shift`` long when shifted."""
    order = breadth_first_order(graph, nb + root_cell, directed=False, return_predecessors=False)
    cells = order[order >= nb] - nb
    cuts = [0, *range(shift or block_size, len(cells), block_size), len(cells)]
    for start, stop in zip(cuts[:-1], cuts[1:], strict=True):
        yield np.sort(cells[start:stop])


def _block_sweeps(job: ComponentTargets, undecided: np.ndarray, block_size: int, rng: np.random.Generator, stop: Callable[[], bool]) -> np.ndarray:
    """Each block's cells free, the rest at the point; twice, the second partition shifted by half a block."""
    C = job.C
    nb = C.A.shape[0]
    graph = sp.bmat([[None, C.A], [C.A.T, None]], format="csr")
    for shift in (0, block_size // 2):
        if not undecided.any() or stop():
            break
        want = np.zeros(C.n, dtype=bool)
        want[job.tl[undecided]] = True
        for V in _blocks(graph, nb, int(job.tl[np.nonzero(undecided)[0][0]]), block_size, shift):
            if stop():
                break
            if not want[V].any():
                continue
            for kind in range(3):
                C.free_block(V, np.where(want[V], _signs(kind, len(V), rng), 0.0))
        undecided = job.undecided()
    return undecided


#: Whole-component sweeps go on (up to ``max_sweeps``) while each settles at least this share of
#: the cells still undecided. A sweep costs a few single-cell LPs (an interior-point LP of the
#: component against warm simplex runs), and settles far more cells: on the benchmark's 10^5-cell
#: release (a 25,556-cell component, 22,093 cells undecided after the block sweeps) sweeps of
#: 1.0-1.7 s settled 990, 677, 1,930, ... and the 33rd still 51 cells, against 4-5 cells for each
#: single-cell LP of 0.3 s; stopping at a tenth, as before, left 20,425 cells to those LPs.
SWEEP_MIN_SHARE = 0.01


def _component_sweeps(job: ComponentTargets, undecided: np.ndarray, max_sweeps: int, rng: np.random.Generator, stop: Callable[[], bool]) -> np.ndarray:
    """LPs over the whole component, until a sweep settles under ``SWEEP_MIN_SHARE`` of the rest."""
    for s in range(max_sweeps):
        if not undecided.any() or stop():
            break
        idx = job.tl[undecided]
        before = int(undecided.sum())
        job.C.sweep(idx, _signs(s, len(idx), rng))
        undecided = job.undecided()
        if s >= 1 and before - int(undecided.sum()) < max(1.0, before * SWEEP_MIN_SHARE):
            break
    return undecided


def _neighbourhood_ranges(job: ComponentTargets, j: int, want_duals: bool) -> None:
    """Inner and outer range of target ``j`` over ever larger neighbourhoods, until one decides it."""
    C = job.C
    p = job.tl[j]
    for radius, cap in NEIGHBOURHOODS:
        if job.open_[j] and job.seen_enough(j):
            break
        V = C.neighbourhood(p, radius, cap)
        if len(V) >= C.n:
            break
        olo, ohi, ihi, ilo, rows = C.sandwich(p, V)
        if job.open_[j] and not job.enough(j, olo, ohi):
            # Inner and outer ranges meet: the neighbourhood's range is the attacker's, exactly.
            exact = ihi.status == "optimal" and ilo.status == "optimal" and abs(ihi.value - ohi) < TOL and abs(-ilo.value - olo) < TOL
            job.settle(j, olo, ohi, "lp" if exact else "relaxation")
        if not job.open_[j]:
            if want_duals and ihi.lam is not None and ilo.lam is not None:
                job.keep_duals(j, rows, ihi.lam, ilo.lam, np.setdiff1d(cols_of(C.A, rows), V))
            break
