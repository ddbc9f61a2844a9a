"""numpy masks from Arrow boolean results, and flags kept a bit a row.

References: ``[bool(v) if v is not None else False for v in values]``; the blocks' bool arrays
joined (tests/unit/kernels/test_kernels_masks_pool.py).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def bool_mask(values: pa.Array | pa.ChunkedArray, n: int) -> np.ndarray:
    """A numpy bool mask of ``n`` rows from an Arrow boolean result (nulls count as False)."""
    filled = pc.fill_null(values, False)
    if isinstance(filled, pa.ChunkedArray):
        return np.concatenate([c.to_numpy(zero_copy_only=False) for c in filled.chunks]) if filled.num_chunks else np.zeros(n, bool)
    return filled.to_numpy(zero_copy_only=False)


class RowFlags:
    """One flag per row, appended a block at a time and held a bit a row (``np.packbits``): what a
    contribution keeps per row of the whole extract, so that a byte a row does not grow its memory
    with the extract (10 MB a mask at 10M rows). Reference: the blocks' bool arrays joined."""

    def __init__(self) -> None:
        self._packed: list[np.ndarray] = []
        self._lengths: list[int] = []

    def __len__(self) -> int:
        return sum(self._lengths)

    def append(self, flags: np.ndarray) -> None:
        flags = np.asarray(flags, dtype=bool)
        self._packed.append(np.packbits(flags))
        self._lengths.append(len(flags))

    def joined(self) -> np.ndarray:
        """Every row's flag, in order, as one bool array."""
        out = np.zeros(len(self), dtype=bool)
        at = 0
        for packed, n in zip(self._packed, self._lengths, strict=True):
            out[at : at + n] = np.unpackbits(packed, count=n).view(bool)
            at += n
        return out
