"""k-anonymity over the quasi-identifiers a record-mode bundle is about to send.

Reports name column combinations and class counts, never the values in a class.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd

from dvnet.contracts.errors import DvnetError

DEFAULT_K = 5
#: The smallest k there is: with k = 1 (or 0, or less) every record is its own class and nothing
#: is protected, so such a k is refused, never taken to mean "off".
MIN_K = 2


def check_k(k: object) -> int:
    """``k`` as an integer of at least ``MIN_K``, or ``USAGE_K_INVALID``."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < MIN_K:
        raise DvnetError("USAGE_K_INVALID", f"k must be a whole number of at least {MIN_K} (k-anonymity cannot be switched off)")
    return int(k)


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
    k_without_small_classes: int = 0  # the smallest class once the small classes are withheld (0: none left)

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


def _codes(frame: pd.DataFrame, column: str) -> tuple[np.ndarray, int]:
    """Per row a small integer for the column's value (0: missing, its own class), and the count
    of codes, in the narrowest integer type that holds them (a byte a row for the usual coded
    column: the codes of every quasi-identifier are held at once). Factorised once per column;
    every combination reuses it. A categorical column's own codes are used as they are (equal
    values have one code; unused categories make no class)."""
    s = frame[column]
    if isinstance(s.dtype, pd.CategoricalDtype):
        codes, width = s.cat.codes.to_numpy(), len(s.cat.categories) + 1
    else:
        codes, uniques = pd.factorize(s, use_na_sentinel=True)
        width = len(uniques) + 1
    small = np.min_scalar_type(width)
    out = codes.astype(small)  # -1 (missing) wraps to the type's top value: moved to 0 below
    out += 1
    return out, width


# Below this many possible combinations a class is counted with bincount (one pass, no sort).
_DENSE_LIMIT = 1 << 24


def _class_keys(codes: list[tuple[np.ndarray, int]], n: int) -> tuple[np.ndarray, int]:
    """Per row one integer naming its class over ``codes``, and the size of the key space (keys
    are renumbered when the space would grow past ``_DENSE_LIMIT``)."""
    combined = np.zeros(n, dtype=np.int64)
    space = 1
    for c, width in codes:
        if space * width >= _DENSE_LIMIT:  # too sparse for a table: renumber what exists
            _, combined = np.unique(combined, return_inverse=True)
            combined = combined.astype(np.int64, copy=False)
            space = int(combined.max()) + 1 if n else 1
        combined *= width  # in place: one array of keys a row, however many columns
        combined += c
        space *= width
    return combined, space


def _class_sizes(codes: list[tuple[np.ndarray, int]], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row the size of its equivalence class, and the size of every class."""
    if not codes:
        return np.full(n, n), np.asarray([n] if n else [], dtype=np.int64)
    combined, space = _class_keys(codes, n)
    if space < _DENSE_LIMIT:
        counts = np.bincount(combined, minlength=1)
        return counts[combined], counts[counts > 0]
    _, inverse, counts = np.unique(combined, return_inverse=True, return_counts=True)
    return counts[inverse], counts


def _one_row_per_class(codes: dict[str, tuple[np.ndarray, int]], columns: list[str], n: int) -> np.ndarray:
    """One row of each class over ``columns``."""
    combined, space = _class_keys([codes[c] for c in columns], n)
    if space <= 4 * n:  # a table over the key space: any row of a class stands for it
        row_of = np.zeros(space, dtype=np.int64)
        row_of[combined] = np.arange(n)
        return row_of[np.flatnonzero(np.bincount(combined, minlength=space))]
    _, first = np.unique(combined, return_index=True)
    return first


def _weighted_class_sizes(codes: list[tuple[np.ndarray, int]], weights: np.ndarray) -> np.ndarray:
    """Sizes of the classes over ``codes`` when each entry stands for ``weights`` rows."""
    combined, _ = _class_keys(codes, len(weights))
    _, inverse = np.unique(combined, return_inverse=True)
    return np.bincount(inverse, weights=weights).astype(np.int64)


def measure(frame: pd.DataFrame, quasi_identifiers: list[str], k: int = DEFAULT_K) -> KAnonymityReport:
    """Equivalence classes over ``quasi_identifiers`` and, when k fails, which column subsets cause
    it, over every row of ``frame`` at once (with the per-row mask): the reference ``ClassCounts``,
    which a contribution counts a block at a time, is tested against."""
    check_k(k)
    if len(frame) == 0:
        return KAnonymityReport(k, quasi_identifiers, 0, 0, 0, 0, [], np.zeros(0, dtype=bool))
    n = len(frame)
    codes = {c: _codes(frame, c) for c in quasi_identifiers}
    sizes, _ = _class_sizes([codes[c] for c in quasi_identifiers], n)
    # One row per class stands for it, weighted by the class's size (``_report``).
    first = _one_row_per_class(codes, quasi_identifiers, n)
    report = _report({c: (codes[c][0][first], codes[c][1]) for c in quasi_identifiers}, sizes[first], quasi_identifiers, k)
    report.small_class_mask = sizes < k
    return report


def _report(codes: dict[str, tuple[np.ndarray, int]], sizes: np.ndarray, quasi_identifiers: list[str], k: int) -> KAnonymityReport:
    """The report over classes given one entry each (``codes``: per column the entry's code and
    the count of codes) and their sizes (every size at least 1)."""
    small = sizes < k
    offending: list[dict] = []
    if small.any():
        # Column subsets are counted over the classes weighted by their sizes: the same counts as
        # over every row.
        for width in (1, 2):
            for cols in combinations(quasi_identifiers, width):
                per_class = _weighted_class_sizes([codes[c] for c in cols], sizes)
                below = int((per_class < k).sum())
                if below:
                    offending.append({"columns": list(cols), "small_classes": below})
            if offending:
                break
        if not offending:
            offending.append({"columns": list(quasi_identifiers), "small_classes": int(small.sum())})
    return KAnonymityReport(
        k_required=k,
        quasi_identifiers=list(quasi_identifiers),
        k_achieved=int(sizes.min()) if len(sizes) else 0,
        classes=len(sizes),
        small_classes=int(small.sum()),
        records_in_small_classes=int(sizes[small].sum()),
        offending_combinations=offending,
        k_without_small_classes=int(sizes[~small].min()) if (~small).any() else 0,
    )


class ClassCounts:
    """k-anonymity's classes counted a block of rows at a time: ``add`` gives each row of a block
    the number of its class (the same number for the same values in every block: classes are
    named by their values, so blocks whose categoricals list other categories agree), ``report``
    gives what ``measure`` over every row at once gives (without the per-row mask: ``small``
    tells which class numbers are below k). Holds one entry per class, never the rows."""

    def __init__(self, quasi_identifiers: list[str]) -> None:
        self.quasi_identifiers = list(quasi_identifiers)
        self._number: dict[tuple, int] = {}  # a class's values -> its number
        self.sizes = np.zeros(0, dtype=np.int64)  # per class number: its rows so far

    def add(self, frame: pd.DataFrame) -> np.ndarray:
        """The class number of each row of ``frame`` (a block's quasi-identifier columns), counted."""
        n = len(frame)
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        codes = [_codes(frame, c) for c in self.quasi_identifiers]
        combined, _ = _class_keys(codes, n)
        keys, first, inverse = np.unique(combined, return_index=True, return_inverse=True)
        columns = [_values_at(frame[c], first) for c in self.quasi_identifiers]
        numbers = np.empty(len(keys), dtype=np.int64)
        for i, values in enumerate(zip(*columns)) if columns else enumerate([()] * len(keys)):
            numbers[i] = self._number.setdefault(values, len(self._number))
        if len(self._number) > len(self.sizes):
            self.sizes = np.concatenate([self.sizes, np.zeros(len(self._number) - len(self.sizes), dtype=np.int64)])
        rows = numbers[inverse.reshape(-1)]
        self.sizes[numbers] += np.bincount(inverse.reshape(-1), minlength=len(keys))  # a block names each class once
        return rows

    def small(self, k: int) -> np.ndarray:
        """Per class number: whether the class is below k."""
        return self.sizes < k

    def report(self, k: int) -> KAnonymityReport:
        check_k(k)
        if not len(self.sizes):
            return KAnonymityReport(k, self.quasi_identifiers, 0, 0, 0, 0, [])
        classes = list(self._number)  # in number order (dicts keep insertion order)
        codes = {}
        for j, column in enumerate(self.quasi_identifiers):
            values = pd.Series([c[j] for c in classes], dtype=object)
            found, uniques = pd.factorize(values, use_na_sentinel=True)
            codes[column] = ((found + 1).astype(np.int64), len(uniques) + 1)
        return _report(codes, self.sizes, self.quasi_identifiers, k)


def _values_at(s: pd.Series, positions: np.ndarray) -> list:
    """The values of ``s`` at ``positions`` as plain Python values (None for a missing one), the
    same for a categorical and a plain column."""
    taken = s.iloc[positions]
    values = taken.astype(object).to_numpy()
    values[taken.isna().to_numpy()] = None
    return values.tolist()
