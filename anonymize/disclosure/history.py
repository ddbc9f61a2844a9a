"""Earlier releases of the same population, as the audit's attacker joins them with this one.

An earlier release whose every number agrees with this release's true counts (a re-publication of
the same data, under this or another profile) shows the *same* quantities: its cells are linked
to this release's by key, so a number published in one pins the other.

An earlier release that disagrees somewhere (late records, a correction) shows *another
population*: its cells become quantities of their own (the key marked with the release id), and
each quantity present in both is linked by a difference ``new - old``. The attacker is granted
which cells changed and in which direction (a late record only adds): the difference is a
non-negative quantity ``d`` in ``new - old - d = 0`` (or ``old - new - d = 0``), fixed at 0 where
nothing changed. A difference that is a small count (1..t-1) is sensitive: the publish step must
keep its range as wide as a small cell's, or refuse.

The true counts of the earlier release come from the coordinator's internal record; where it is
missing the direction is unknown and the release is refused (``HISTORY_INCOMPLETE``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dvnet.anonymize.disclosure.errors import HISTORY_INCOMPLETE, DisclosureError
from dvnet.anonymize.disclosure.rounding import rounding_interval


@dataclass(frozen=True)
class Link:
    """A quantity shown by this release (``new``) and by a changed earlier release (``old``):
    ``d = |new - old|`` (``truth``), ``up`` when new >= old."""

    new: str
    old: str
    truth: float
    up: bool


def release_of(cell) -> str:
    return (cell.table or "").split("/", 1)[0]


def join_history(current: dict[str, float], earlier: Sequence, key_of) -> tuple[list, list[Link]]:
    """The earlier cells as the model should see them (changed releases re-keyed) and the links.

    ``current``: this release's true count per quantity key (NaN where not known, as in an audit of
    published tables). ``key_of(cell)``: an earlier cell's quantity key.
    """
    by_release: dict[str, list] = {}
    for c in earlier:
        by_release.setdefault(release_of(c), []).append(c)
    out, links = [], []
    for rid, cells in by_release.items():
        keys = [key_of(c) for c in cells]
        if not _changed(cells, keys, current):
            out += cells
            continue
        seen: set[str] = set()
        for c, k in zip(cells, keys, strict=True):
            old = dataclasses.replace(c, measure=f"{c.measure}@{rid}")
            out.append(old)
            now = current.get(k)
            if now is None or k in seen:
                continue
            seen.add(k)
            then = c.truth if c.truth is not None else (c.value if c.value is not None and c.rounding_base <= 1 else None)
            if then is None or np.isnan(now):
                raise DisclosureError(
                    HISTORY_INCOMPLETE,
                    f"release {rid} of the same period differs from this one, and the coordinator's record of its true counts is missing",
                    hint="restore coordinator/releases-internal/<release>.json, or publish another period",
                    release=rid,
                )
            links.append(Link(new=k, old=key_of(old), truth=abs(float(now) - float(then)), up=float(now) >= float(then)))
    return out, links


def _changed(cells: Sequence, keys: Sequence[str], current: dict[str, float]) -> bool:
    """Whether any number of an earlier release disagrees with this release's true counts."""
    for c, k in zip(cells, keys, strict=True):
        now = current.get(k)
        if now is None or np.isnan(now):
            continue
        if c.truth is not None:
            if float(c.truth) != float(now):
                return True
        elif c.value is not None:
            lo, hi = rounding_interval(np.array([float(c.value)]), int(c.rounding_base))
            if not lo[0] - 1e-9 <= now <= hi[0] + 1e-9:
                return True
    return False


def current_counts(keys: Sequence[np.ndarray], values: Sequence[pd.Series]) -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in zip(keys, values, strict=True):
        out.update(zip(k.tolist(), v.to_numpy(dtype=float, na_value=np.nan).tolist(), strict=True))
    return out
