"""Which allocator Arrow uses in a dvnet process.

pyarrow 26 allocates with its bundled mimalloc by default on Linux. mimalloc backs its large
buffers with transparent huge pages, and on the 2-core machine dvnet is measured on, faulting
those in cost 0.5–1.2 s of kernel time (compaction) on a million-row extract, differently each
run. With the C library's allocator, the same read costs 0.25–0.4 s of kernel time, and a whole
record-mode contribution takes 2.7–2.8 s instead of 3.3–3.5 s (4 runs each, alternating, fresh
processes; jemalloc was in between). The commands that run contributions (``dvnet contribute``,
``dvnet demo``; the benchmark's children alike) therefore switch Arrow to the system allocator
at their entry, unless the operator chose one with Arrow's own ``ARROW_DEFAULT_MEMORY_POOL``.
A library call of ``contribute()`` leaves its host process's allocator alone.

Switching is safe at any time: every Arrow buffer remembers the pool that allocated it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

import pyarrow as pa

#: Arrow's own setting; when it is set, dvnet leaves the operator's choice alone.
ARROW_POOL_VARIABLE = "ARROW_DEFAULT_MEMORY_POOL"


def use_system_allocator() -> None:
    """Make the C library's allocator Arrow's default pool (unless the operator set
    ``ARROW_DEFAULT_MEMORY_POOL``)."""
    if not os.environ.get(ARROW_POOL_VARIABLE):
        pa.set_memory_pool(pa.system_memory_pool())


def give_back_freed_memory(above: int = 0) -> None:
    """Return to the system what the C library's allocator holds freed, when that is more than
    ``above`` bytes (glibc's ``malloc_trim``; nothing elsewhere). Called between blocks of an
    extract: glibc keeps what Arrow's and the column pool's threads freed in per-thread arenas,
    and without this a blockwise read grows as if it kept every block. Each trim costs the page
    faults of taking the memory back, hence the threshold."""
    libc = _glibc()
    if libc is not None and (not above or libc.mallinfo2().fordblks > above):
        libc.malloc_trim(0)


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]


def _glibc():
    global _LIBC
    if _LIBC is False:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            libc.malloc_trim, libc.mallinfo2  # noqa: B018  (glibc, 2.33 and later)
            libc.mallinfo2.restype = _MallInfo2
            _LIBC = libc
        except (OSError, AttributeError):
            _LIBC = None
    return _LIBC


_LIBC = False
