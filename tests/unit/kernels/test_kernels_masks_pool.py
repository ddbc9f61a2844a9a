"""kernels.masks and kernels.column_pool against their references: a Python list of booleans
(null as False), the blocks' bool arrays joined, and a plain loop over the columns."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from dvnet.kernels.column_pool import PARALLEL_MIN_ROWS, run_per_column
from dvnet.kernels.masks import RowFlags, bool_mask


@pytest.mark.parametrize("values", [[], [None], [True, None, False], [False] * 3 + [None, True] * 5])
@pytest.mark.parametrize("chunked", [False, True])
def test_bool_mask_equals_a_python_list_with_null_as_false(values, chunked):
    arr = pa.array(values, pa.bool_())
    given = pa.chunked_array([arr.slice(0, len(values) // 2), arr.slice(len(values) // 2)]) if chunked else arr
    got = bool_mask(given, len(values))
    assert got.dtype == bool and got.tolist() == [bool(v) for v in values]


def test_bool_mask_of_a_chunked_array_without_chunks_has_n_false_rows():
    assert bool_mask(pa.chunked_array([], pa.bool_()), 0).tolist() == []


@pytest.mark.parametrize("sizes", [[], [0], [1], [7, 0, 9], [8, 16, 3], [1000, 1, 13]])
def test_row_flags_hold_the_blocks_joined(sizes):
    rng = np.random.default_rng(sum(sizes) + len(sizes))
    blocks = [rng.random(n) < 0.5 for n in sizes]
    flags = RowFlags()
    for b in blocks:
        flags.append(b)
    joined = flags.joined()
    assert len(flags) == sum(sizes)
    assert joined.dtype == bool and joined.tolist() == (np.concatenate(blocks).tolist() if blocks else [])


def test_row_flags_hold_a_bit_a_row():
    flags = RowFlags()
    flags.append(np.ones(80_000, dtype=bool))
    assert sum(p.nbytes for p in flags._packed) == 10_000


@pytest.mark.parametrize("rows", [10, PARALLEL_MIN_ROWS])
def test_run_per_column_equals_a_loop_in_column_order(rows):
    columns = [f"c{i}" for i in range(7)]
    assert run_per_column(lambda c: c.upper() * 2, columns, rows) == [c.upper() * 2 for c in columns]


def test_run_per_column_uses_threads_only_for_large_frames():
    import threading

    def where(_c):
        return threading.current_thread().name.startswith("dvnet-columns")

    assert not any(run_per_column(where, ["a", "b"], PARALLEL_MIN_ROWS - 1))
    assert all(run_per_column(where, ["a", "b"], PARALLEL_MIN_ROWS))


def test_run_per_column_keeps_its_threads_from_one_call_to_the_next():
    import threading
    import time

    def thread(_c):
        time.sleep(0.01)  # long enough that both workers take a column
        return threading.current_thread()

    first = set(run_per_column(thread, list(range(8)), PARALLEL_MIN_ROWS))
    second = set(run_per_column(thread, list(range(8)), PARALLEL_MIN_ROWS))
    assert second <= first, "the second call started threads of its own"


def test_run_per_column_inside_its_own_work_finishes():
    import threading

    def inner(c):
        return run_per_column(lambda x: x * 2, [c, c + 1], PARALLEL_MIN_ROWS)

    done = []
    worker = threading.Thread(target=lambda: done.append(run_per_column(inner, list(range(6)), PARALLEL_MIN_ROWS)), daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert done == [[[2 * c, 2 * c + 2] for c in range(6)]], "work per column waited on its own pool"
