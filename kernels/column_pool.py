"""Work on a frame's columns in a small thread pool when the frame is large.

Reference: ``[work(c) for c in columns]`` (tests/unit/kernels/test_kernels_column_pool.py).
"""

from __future__ import annotations

import os
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
    with ThreadPoolExecutor(max_workers=min(len(columns), os.cpu_count() or 1), thread_name_prefix="dvnet-columns") as pool:
        return list(pool.map(work, columns))
