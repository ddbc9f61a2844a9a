"""Agency dominance: a cell mostly made of one agency's clients shows that agency's caseload.

Two rules, either makes a cell with a value > 0 sensitive (tau-ARGUS, ACRO):
- (1, k): the largest single contributor holds more than ``share`` of the total;
- p %: the rest beyond the two largest contributors is below p % of the largest,
  ``total - x1 - x2 < p/100 * x1``. The second-largest contributor (an insider) subtracts its own
  count from the total and would know the largest one's to within p %; a cell with one or two
  contributing agencies is therefore always sensitive (the rest is 0).
A category with a single member organisation (the only ministry of the registry) is that
organisation's caseload whoever contributes it: its cells are sensitive as if one contributor held
100 % (``category_mask``). Contributions come per interior cell (the table's dimension columns,
``agency_id`` and ``value``); a margin's contributions are the sums over the interior cells it
covers, so a province total dominated by one shelter is caught even when each of its regions is not.
A cell with a single contributing agency is a *singleton*: that agency knows the cell's count
(``Contributors.owner``), which the singleton rule in ``singletons.py`` protects.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

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


@dataclass
class Contributors:
    """Per quantity: the largest and second-largest agency's count, the total over agencies, and
    the one agency's code where a single agency contributes (else -1); NaN / -1 where unknown."""

    top1: np.ndarray
    top2: np.ndarray
    total: np.ndarray
    owner: np.ndarray
    by_agency: sp.csr_matrix | None = None  # quantities x agencies: each agency's count (the insider's own knowledge)
    agencies: list[str] = field(default_factory=list)  # agency id of each code of ``owner`` and column of ``by_agency``

    @property
    def share(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.total > 0, self.top1 / self.total, np.nan)


def contributors(model: LinkedModel, tables: list[Table], contributions: pd.DataFrame | Mapping[str, pd.DataFrame]) -> Contributors:
    """Per quantity, what the agencies contributing to it add up to (see ``Contributors``)."""
    out = Contributors(*(np.full(model.n, np.nan) for _ in range(3)), np.full(model.n, -1, dtype=np.int64))
    entries: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    frames = _by_table(tables, contributions)
    agencies = pd.Index(sorted({str(a) for f in frames.values() if AGENCY_COLUMN in f.columns for a in f[AGENCY_COLUMN].unique()}))
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
                per_agency = per_agency[per_agency["value"] > 0]
                cells, group = _top_two(per_agency, kept)
                for d in rolled:
                    cells[d] = TOTAL
                q = index.get_indexer(quantity_keys(cells, t.dims, t.measure))
                qa = q[group]
                entries.append((qa[qa >= 0], agencies.get_indexer(per_agency[AGENCY_COLUMN].astype(str).to_numpy())[qa >= 0], per_agency["value"].to_numpy(dtype=float)[qa >= 0]))
                ok = q >= 0
                q, cells = q[ok], cells[ok]
                out.top1[q] = cells["top1"].to_numpy(dtype=float)
                out.top2[q] = cells["top2"].to_numpy(dtype=float)
                out.total[q] = cells["total"].to_numpy(dtype=float)
                single = cells["n"].to_numpy() == 1
                out.owner[q[single]] = agencies.get_indexer(cells["first"].astype(str).to_numpy()[single])
    if entries:
        rows, cols, vals = (np.concatenate(x) for x in zip(*entries, strict=True))
        out.by_agency = _one_count_each(rows, cols, vals, model.n, len(agencies))
    out.agencies = list(agencies)
    return out


def _one_count_each(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, n: int, k: int) -> sp.csr_matrix:
    """One count per (quantity, agency): a quantity shown by several tables is the same count."""
    frame = pd.DataFrame({"r": rows, "c": cols, "v": vals}).drop_duplicates(["r", "c"])
    return sp.csr_matrix((frame["v"].to_numpy(), (frame["r"].to_numpy(), frame["c"].to_numpy())), shape=(n, k))


def _top_two(per_agency: pd.DataFrame, kept: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """Per cell of ``kept`` coordinates: largest and second-largest agency count, total, how many
    agencies contribute, and the largest agency; and each row of ``per_agency``'s cell (a row
    number of the first)."""
    frame = per_agency.assign(_k=0) if not kept else per_agency
    keys = kept or ["_k"]
    frame = frame.sort_values("value", ascending=False, kind="stable")
    g = frame.groupby(keys, sort=False)
    rank = g.cumcount().to_numpy()
    group = pd.Series(g.ngroup().to_numpy(), index=frame.index).reindex(per_agency.index).to_numpy()
    cells = pd.DataFrame({"top1": g["value"].max(), "total": g["value"].sum(), "n": g["value"].size(), "first": g[AGENCY_COLUMN].first()})
    second = frame[rank == 1].set_index(keys)["value"]
    cells["top2"] = second.reindex(cells.index).fillna(0.0).to_numpy(dtype=float)
    cells = cells.reset_index()
    return (cells.drop(columns="_k") if not kept else cells), group


def dominance_mask(model: LinkedModel, who: Contributors, share_limit: float | None, p_percent: float | None) -> np.ndarray:
    """True for a released cell with value > 0 where one agency holds more than ``share_limit``
    of it, or where the rest beyond the two largest agencies is below ``p_percent`` % of the largest."""
    sensitive = np.zeros(model.n, dtype=bool)
    known = ~np.isnan(who.total) & (who.total > 0)
    if share_limit is not None:
        sensitive |= known & (np.nan_to_num(who.share, nan=0.0) > share_limit)
    if p_percent is not None:
        rest = np.nan_to_num(who.total - who.top1 - who.top2, nan=np.inf)
        sensitive |= known & (rest < p_percent / 100.0 * np.nan_to_num(who.top1, nan=0.0))
    return model.in_release & (np.nan_to_num(model.truth, nan=0.0) > 0) & sensitive


def category_mask(model: LinkedModel, tables: list[Table], sole: Mapping[str, Collection[str]]) -> np.ndarray:
    """True for a released cell with value > 0 whose coordinate in a dimension of ``sole`` is a
    category with a single member organisation (``sole[dim]``): that organisation's caseload."""
    mask = np.zeros(model.n, dtype=bool)
    for t in tables:
        rows = np.zeros(len(t.frame), dtype=bool)
        for d in t.dims:
            if sole.get(d):
                rows |= t.frame[d].astype(str).isin([str(v) for v in sole[d]]).to_numpy()
        mask[model.cell_qids[t.name][rows]] = True
    return mask & model.in_release & (np.nan_to_num(model.truth, nan=0.0) > 0)
