"""numpy masks from Arrow boolean results.

Reference: ``[bool(v) if v is not None else False for v in values]``
(tests/unit/kernels/test_kernels_masks.py).
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
