"""Work on a frame's columns in a small thread pool when the frame is large.

Reference: ``[work(c) for c in columns]`` (tests/unit/kernels/test_kernels_column_pool.py).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

#: Below this many rows the columns are worked on one after another (threads cost more than they save).
PARALLEL_MIN_ROWS = 50_000
T = TypeVar("T")
R = TypeVar("R")


def run_per_column(work: Callable[[T], R], columns: list[T], rows: int) -> list[R]:
    """``work`` for each column, in order: in a small thread pool for large frames (the Arrow and
    numpy kernels release Python's lock, so columns overlap on the machine's cores), one after
    another below ``PARALLEL_MIN_ROWS`` rows, where threads cost more than they save."""
    if rows < PARALLEL_MIN_ROWS or len(columns) < 2:
        return [work(c) for c in columns]
    return list(_pool().map(work, columns))


_local = threading.local()


def _pool() -> ThreadPoolExecutor:
    """The calling thread's pool, started once and kept (a contribution read in blocks calls this
    a few times per block: starting two threads each time cost 1.5 s over 5M rows). One pool per
    calling thread, so work in a pool that itself works per column never waits on its own pool;
    a pool goes with its thread (its workers stop once it is collected)."""
    pool = getattr(_local, "pool", None)
    if pool is None:
        pool = _local.pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="dvnet-columns")
    return pool
