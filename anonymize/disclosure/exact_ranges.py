"""The exact per-cell LPs of one component, several cells at a time (``lp.in_parallel``).

Two LPs over the whole component per target (its max and its min) give its exact range, and
their duals when it fails. Every optimum is a feasible point for all cells, so unless exact ranges
are wanted for the report, a target the points seen so far already show its required width apart
needs no LP of its own, and one side (the one with more room left) may already settle it.

Cells are taken in order, up to ``lp.LP_THREADS`` at a time, each on its worker's own copy of the
programme (warm-started from that worker's last optimum). What decides which cells get LPs is read
before a batch; what the batch's LPs found is applied after it, in the cells' order, in the
calling thread: the same cells get the same LPs whatever the threads' timing, so a pattern and its
report do not depend on it. Only the points one batch's cells would have given each other are
missed (a cell may get an LP that a batch-mate's optimum would have spared it).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dvnet.anonymize.disclosure.component import ComponentTargets
from dvnet.anonymize.disclosure.intervals import TOL
from dvnet.anonymize.disclosure.lp import LP_THREADS, LPResult, in_parallel

#: Components smaller than this get one cell at a time: their LPs take well under a millisecond,
#: less than handing them to a thread.
PARALLEL_MIN_CELLS = 200


def exact_ranges(
    job: ComponentTargets, todo: np.ndarray, want_duals: bool, stop: Callable[[], bool], *, exact: bool = True, duals_apart: bool = False
) -> None:
    """Settle the ``todo`` targets of ``job`` by their LPs (and keep the duals of those that fail,
    with ``want_duals``). ``exact``: both LPs for every target, for exact ranges in the report.
    ``duals_apart``: see ``attacker_intervals``."""
    C = job.C
    near_dualled = np.zeros(C.A.shape[0], dtype=bool)  # equations of a failing target given duals
    order = np.nonzero(todo)[0]
    if duals_apart:
        known = job.known_failing()[order]
        if known.any():  # a repair is coming: only the cells known to fail are looked at now (their duals)
            order = _apart(job, order[known])
    width = LP_THREADS if C.n >= PARALLEL_MIN_CELLS else 1
    for worker in range(width):  # every copy built here, before any of them solves (``WarmLP``)
        C.warm("exact", worker)
    pending = [int(j) for j in order]
    while pending and not stop():
        batch = _next_batch(job, pending, width, exact, want_duals, duals_apart, near_dualled)
        if not batch:
            continue
        one_side = [not exact and not job.failing(j) for j in batch]
        found = in_parallel(lambda k, worker: _cell_lps(job, batch[k], worker, one_side[k]), list(range(len(batch))))
        for sides in found:
            C.counter[0] += len(sides)
            for res in sides.values():
                if res.x is not None:
                    C.observe(res.x)
        for j, sides in zip(batch, found, strict=True):
            if len(sides) == 1 and job.seen_enough(j):
                job.settle(j, C.obs_lo[job.tl[j]], C.obs_hi[job.tl[j]], "feasible points")
                continue
            if len(sides) == 1:  # its one side's point failed the check: both sides, here
                sides = {1.0: C.extreme(job.tl[j], 1.0), -1.0: C.extreme(job.tl[j], -1.0)}
            hi, lo = sides[1.0], sides[-1.0]
            job.settle(j, -lo.value, hi.value, "lp")
            if want_duals and not job.protected(j):
                job.keep_duals(j, np.arange(len(job.equations)), hi.lam, lo.lam, np.zeros(0, dtype=np.int64))
                near_dualled[_rows(job, j)] = True


def _rows(job: ComponentTargets, j: int) -> np.ndarray:
    A = job.C.Acsc
    p = job.tl[j]
    return A.indices[A.indptr[p] : A.indptr[p + 1]]


def _apart(job: ComponentTargets, order: np.ndarray) -> np.ndarray:
    """The cells of ``order`` that get duals when each is known to fail: in order, each sharing no
    equation with one taken before it (the others are looked at again after the repair)."""
    taken = np.zeros(job.C.A.shape[0], dtype=bool)
    keep = np.zeros(len(order), dtype=bool)
    for k, j in enumerate(order):
        rows = _rows(job, j)
        if not taken[rows].any():
            keep[k] = taken[rows] = True
    return order[keep]


def _next_batch(
    job: ComponentTargets, pending: list[int], width: int, exact: bool, want_duals: bool, duals_apart: bool, near_dualled: np.ndarray
) -> list[int]:
    """The next cells of ``pending`` that need LPs (at most ``width``, taken out of it), settling
    and dropping on the way those the points seen so far decide. With ``duals_apart`` a batch ends
    before a cell sharing an equation with one in it: if that one fails, its duals spare the cell
    its LPs until after the repair, as when the cells are taken one at a time."""
    C = job.C
    batch: list[int] = []
    taken = np.zeros(C.A.shape[0], dtype=bool)
    at = 0
    while at < len(pending) and len(batch) < width:
        j = pending[at]
        p = job.tl[j]
        if not exact and job.seen_enough(j):
            job.settle(j, C.obs_lo[p], C.obs_hi[p], "feasible points")
        elif not want_duals and C.obs_hi[p] >= C.oU[p] - TOL and C.obs_lo[p] <= C.oL[p] + TOL:
            job.settle(j, C.oL[p], C.oU[p], "lp")  # both outer bounds are attained by feasible points
        elif duals_apart and near_dualled[_rows(job, j)].any():
            pass  # looked at again after that repair
        elif duals_apart and taken[_rows(job, j)].any():
            break
        else:
            batch.append(j)
            taken[_rows(job, j)] = True
        at += 1
    del pending[:at]
    return batch


def _cell_lps(job: ComponentTargets, j: int, worker: int, one_side: bool) -> dict[float, LPResult]:
    """Target ``j``'s LPs on ``worker``'s programme, by sign (1 its max, -1 minus its min). With
    ``one_side``, first the side with more room left by the points seen (or the one that must
    reach its ``top``); the other only when that optimum does not already lie the required width
    from them. Reads the component, changes nothing (runs in a worker thread)."""
    C = job.C
    p = job.tl[j]
    if not one_side:
        return {1.0: C.optimum(p, 1.0, worker), -1.0: C.optimum(p, -1.0, worker)}
    room_up, room_down = C.oU[p] - C.obs_hi[p], C.obs_lo[p] - C.oL[p]
    sign = 1.0 if room_up >= room_down or C.obs_hi[p] < job.top[j] - TOL else -1.0
    first = C.optimum(p, sign, worker)
    if first.x is not None:
        v = first.x[p]
        lo, hi = (C.obs_lo[p], max(C.obs_hi[p], v)) if sign > 0 else (min(C.obs_lo[p], v), C.obs_hi[p])
        if job.enough(j, lo, hi):
            return {sign: first}
    return {sign: first, -sign: C.optimum(p, -sign, worker)}
