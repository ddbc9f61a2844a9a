"""k-anonymity over the quasi-identifiers a record-mode bundle is about to send.

Reports name column combinations and class counts, never the values in a class.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd

DEFAULT_K = 5


@dataclass
class KAnonymityReport:
    k_required: int
    quasi_identifiers: list[str]
    k_achieved: int  # size of the smallest equivalence class (0 when there are no rows)
    classes: int
    small_classes: int  # classes below k
    records_in_small_classes: int
    offending_combinations: list[dict] = field(default_factory=list)  # smallest column subsets already below k
    small_class_mask: np.ndarray | None = None

    @property
    def passed(self) -> bool:
        return self.small_classes == 0

    def summary(self) -> str:
        if self.passed:
            return f"k-anonymity: k={self.k_achieved} over ({', '.join(self.quasi_identifiers)}) meets k>={self.k_required}"
        worst = "; ".join(f"({', '.join(o['columns'])}) has {o['small_classes']} classes below k" for o in self.offending_combinations[:3])
        return (
            f"k-anonymity: smallest class {self.k_achieved} < k={self.k_required} over ({', '.join(self.quasi_identifiers)}): "
            f"{self.small_classes} classes below k covering {self.records_in_small_classes} records. {worst}"
        )


def _class_sizes(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    codes = [pd.factorize(frame[c].astype("string").fillna("\x00missing"))[0] for c in columns]
    if not codes:
        return np.full(len(frame), len(frame))
    combined = np.zeros(len(frame), dtype=np.int64)
    for c in codes:
        combined = combined * (int(c.max()) + 2 if len(c) else 1) + c
    _, inverse, counts = np.unique(combined, return_inverse=True, return_counts=True)
    return counts[inverse]


def measure(frame: pd.DataFrame, quasi_identifiers: list[str], k: int = DEFAULT_K) -> KAnonymityReport:
    """Equivalence classes over ``quasi_identifiers`` and, when k fails, which column subsets cause it."""
    if len(frame) == 0:
        return KAnonymityReport(k, quasi_identifiers, 0, 0, 0, 0, [], np.zeros(0, dtype=bool))
    sizes = _class_sizes(frame, quasi_identifiers)
    small = sizes < k
    n_small_classes = int(pd.Series(sizes[small]).value_counts().pipe(lambda v: (v / v.index).sum())) if small.any() else 0
    classes = int((1.0 / sizes).sum().round())
    offending: list[dict] = []
    if small.any():
        for width in (1, 2):
            for cols in combinations(quasi_identifiers, width):
                s = _class_sizes(frame, list(cols))
                if (s < k).any():
                    offending.append({"columns": list(cols), "small_classes": int(round((1.0 / s[s < k]).sum()))})
            if offending:
                break
        if not offending:
            offending.append({"columns": list(quasi_identifiers), "small_classes": n_small_classes})
    return KAnonymityReport(
        k_required=k,
        quasi_identifiers=list(quasi_identifiers),
        k_achieved=int(sizes.min()),
        classes=classes,
        small_classes=n_small_classes,
        records_in_small_classes=int(small.sum()),
        offending_combinations=offending,
        small_class_mask=small,
    )
