"""A rule's failing rows: what every part of conformance hands back."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ROW_COLUMN = "(row)"


@dataclass
class Failure:
    """Rows of a frame failing one rule of a schema: a boolean mask, never the values."""

    column: str  # ROW_COLUMN for a dataframe-level check
    rule: str
    mask: np.ndarray
    required: bool
