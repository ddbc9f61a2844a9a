"""Agency dominance: a cell mostly made of one agency's clients shows that agency's caseload.

The (1, k) dominance rule (tau-ARGUS, ACRO): a cell with a value > 0 in which the largest single
contributor holds more than ``share`` of the total is sensitive. Contributions come per interior
cell (the table's dimension columns, ``agency_id`` and ``value``); a margin's contributions are the
sums over the interior cells it covers, so a province total dominated by one shelter is caught
even when each of its regions is not.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import numpy as np
import pandas as pd

from dvnet.anonymize.disclosure.errors import INVALID_CONTRIBUTIONS, DisclosureError
from dvnet.anonymize.disclosure.tables import TOTAL, LinkedModel, Table, quantity_keys

AGENCY_COLUMN = "agency_id"


def _by_table(tables: list[Table], contributions: pd.DataFrame | Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    if isinstance(contributions, Mapping):
        return dict(contributions)
    if "table" in contributions.columns:
        return {str(name): g.drop(columns="table") for name, g in contributions.groupby("table", sort=False)}
    if len(tables) == 1:
        return {tables[0].name: contributions}
    raise DisclosureError(
        INVALID_CONTRIBUTIONS,
        "contributions for a release of several tables need a 'table' column (or a mapping by table name)",
    )


def top_shares(model: LinkedModel, tables: list[Table], contributions: pd.DataFrame | Mapping[str, pd.DataFrame]) -> np.ndarray:
    """Per quantity, the largest single agency's share of the cell (NaN where nothing is known)."""
    share = np.full(model.n, np.nan)
    frames = _by_table(tables, contributions)
    known = {t.name: t for t in tables}
    index = pd.Index(model.keys)
    for name, frame in frames.items():
        if name not in known:
            raise DisclosureError(INVALID_CONTRIBUTIONS, f"contributions name a table not in the release: {name}", table=name)
        t = known[name]
        missing = [c for c in (*t.dims, AGENCY_COLUMN, "value") if c not in frame.columns]
        if missing:
            raise DisclosureError(INVALID_CONTRIBUTIONS, f"contributions for table {name} lack column(s) {', '.join(missing)}", table=name)
        frame = frame.loc[:, [*t.dims, AGENCY_COLUMN, "value"]].copy()
        for d in t.dims:
            frame[d] = frame[d].astype(str)
            if (frame[d] == TOTAL).any():
                raise DisclosureError(INVALID_CONTRIBUTIONS, f"contributions for table {name} must be interior cells (no Total)", table=name, dimension=d)
        values = pd.to_numeric(frame["value"], errors="coerce")
        if values.isna().any() or (values < 0).any():
            raise DisclosureError(INVALID_CONTRIBUTIONS, f"contributions for table {name} have values that are not non-negative numbers", table=name)
        frame["value"] = values.astype(float)
        for r in range(len(t.dims) + 1):
            for rolled in itertools.combinations(t.dims, r):
                kept = [d for d in t.dims if d not in rolled]
                per_agency = frame.groupby([*kept, AGENCY_COLUMN], sort=False, observed=True)["value"].sum().reset_index()
                g = per_agency.groupby(kept, sort=False)["value"] if kept else per_agency.assign(_k=0).groupby("_k")["value"]
                cells = pd.DataFrame({"top": g.max(), "total": g.sum()}).reset_index()
                for d in rolled:
                    cells[d] = TOTAL
                keys = quantity_keys(cells, t.dims, t.measure)
                q = index.get_indexer(keys)
                ok = (q >= 0) & (cells["total"].to_numpy() > 0)
                s = (cells["top"].to_numpy() / np.where(cells["total"].to_numpy() > 0, cells["total"].to_numpy(), 1.0))[ok]
                share[q[ok]] = np.fmax(share[q[ok]], s)
    return share


def dominance_mask(model: LinkedModel, shares: np.ndarray, share_limit: float | None) -> np.ndarray:
    """True where one agency holds more than ``share_limit`` of a released cell with value > 0."""
    if share_limit is None:
        return np.zeros(model.n, dtype=bool)
    with np.errstate(invalid="ignore"):
        return model.in_release & (np.nan_to_num(model.truth, nan=0.0) > 0) & (np.nan_to_num(shares, nan=0.0) > share_limit)
