"""Builders for small tidy tables with margins, shared by the disclosure-control tests.

Fixtures, not importable helpers, so the test folders stay independent of each other's imports.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from dvnet.anonymize.disclosure import SUPPRESSED_MARK, TOTAL, Table, audit


def _grid_table(name, grid, rows, cols, dims=("region", "service"), measure="episodes", statuses=None):
    """A 2-D table with row, column and grand totals; ``statuses`` maps (row, col) -> status
    ("suppressed: <reason>" in a hand-made pattern; ``hand_audit`` splits mark and reason)."""
    grid = np.asarray(grid, dtype=int)
    R = [*rows, TOTAL]
    C = [*cols, TOTAL]
    full = np.zeros((len(R), len(C)), dtype=int)
    full[:-1, :-1] = grid
    full[:-1, -1] = grid.sum(axis=1)
    full[-1, :-1] = grid.sum(axis=0)
    full[-1, -1] = grid.sum()
    recs = []
    for i, r in enumerate(R):
        for j, c in enumerate(C):
            rec = {dims[0]: r, dims[1]: c, "value": int(full[i, j])}
            if statuses is not None:
                s = statuses.get((r, c), "published")
                rec["status"] = s
                if s != "published":
                    rec["value"] = pd.NA
            recs.append(rec)
    frame = pd.DataFrame(recs)
    frame["value"] = frame["value"].astype("Int64")
    return Table(name, frame, dims, measure)


def _cube_table(name, values: dict, dims, measure="episodes", nested: dict | None = None):
    """A table from interior cells {coords tuple: count}, with every margin the dims allow.

    ``nested`` maps a child dim to its parent dim (region -> province): the child's margin rows
    are omitted where the parent is Total, as a province/region table shows them.
    """
    nested = nested or {}
    interior = pd.DataFrame([(*k, v) for k, v in values.items()], columns=[*dims, "value"])
    frames = []
    for r in range(len(dims) + 1):
        for rolled in itertools.combinations(dims, r):
            if any(child not in rolled and parent in rolled for child, parent in nested.items()):
                continue
            kept = [d for d in dims if d not in rolled]
            g = interior.groupby(kept, as_index=False)["value"].sum() if kept else pd.DataFrame({"value": [interior["value"].sum()]})
            for d in rolled:
                g[d] = TOTAL
            frames.append(g[[*dims, "value"]])
    return Table(name, pd.concat(frames, ignore_index=True), tuple(dims), measure)


@pytest.fixture
def grid_table():
    return _grid_table


def _hand_audit(tables, profile="dv-default", **kw):
    """Audit hand-made tables whose status says "suppressed: <reason>": published with the one
    mark, the reasons handed to the audit as the coordinator's record would be."""
    public, reasons = [], {}
    for t in tables:
        status = t.frame["status"].astype(str) if "status" in t.frame.columns else pd.Series("published", index=t.frame.index)
        reasons[t.name] = [s.split(": ", 1)[1] if s.startswith("suppressed: ") else "published" for s in status]
        frame = t.frame.copy()
        frame["status"] = [SUPPRESSED_MARK if s != "published" else s for s in status]
        public.append(Table(t.name, frame, t.dims, t.measure))
    return audit(public, profile, reasons=reasons, **kw)


@pytest.fixture
def hand_audit():
    return _hand_audit


@pytest.fixture
def cube_table():
    return _cube_table


@pytest.fixture
def cell():
    """The row of ``frame`` at the given coordinates."""

    def find(frame: pd.DataFrame, **coords: str) -> pd.Series:
        mask = np.ones(len(frame), dtype=bool)
        for d, v in coords.items():
            mask &= (frame[d] == v).to_numpy()
        assert mask.sum() == 1, coords
        return frame[mask].iloc[0]

    return find
