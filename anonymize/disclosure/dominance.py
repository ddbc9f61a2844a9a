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
        codes = [pd.factorize(frame[d], sort=False) for d in t.dims]
        who = agencies.get_indexer(frame[AGENCY_COLUMN].astype(str).to_numpy())
        value = frame["value"].to_numpy()
        for r in range(len(t.dims) + 1):
            for rolled in itertools.combinations(range(len(t.dims)), r):
                kept = [i for i in range(len(t.dims)) if i not in rolled]
                cell = _combine([codes[i][0] for i in kept], len(frame))
                row, agency, amount, top = _top_two(cell, who, value, len(agencies))
                coords = {t.dims[i]: (codes[i][1][codes[i][0][row[top.first]]] if i in kept else TOTAL) for i in range(len(t.dims))}
                q = index.get_indexer(quantity_keys(pd.DataFrame(coords, index=range(len(top.first))), t.dims, t.measure))
                qa = q[top.group]
                entries.append((qa[qa >= 0], agency[qa >= 0], amount[qa >= 0]))
                ok = q >= 0
                out.top1[q[ok]] = top.top1[ok]
                out.top2[q[ok]] = top.top2[ok]
                out.total[q[ok]] = top.total[ok]
                single = ok & (top.n == 1)
                out.owner[q[single]] = agency[top.first[single]]
    if entries:
        rows, cols, vals = (np.concatenate(x) for x in zip(*entries, strict=True))
        out.by_agency = _one_count_each(rows, cols, vals, model.n, len(agencies))
    out.agencies = list(agencies)
    return out


def _one_count_each(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, n: int, k: int) -> sp.csr_matrix:
    """One count per (quantity, agency): a quantity shown by several tables is the same count."""
    frame = pd.DataFrame({"r": rows, "c": cols, "v": vals}).drop_duplicates(["r", "c"])
    return sp.csr_matrix((frame["v"].to_numpy(), (frame["r"].to_numpy(), frame["c"].to_numpy())), shape=(n, k))


def _combine(codes: list[np.ndarray], n: int) -> np.ndarray:
    """One code per combination of the given codes, at most ``n`` of them (0 for every row when
    there are no codes)."""
    cell = np.zeros(n, dtype=np.int64)
    for c in codes:
        cell = pd.factorize(cell * (int(c.max(initial=0)) + 1) + c, sort=False)[0].astype(np.int64)
    return cell


@dataclass
class _TopTwo:
    """Per cell: the position of its first per-agency row (the largest agency's), the two largest
    agency counts, their total and how many agencies; per per-agency row, its cell (``group``)."""

    first: np.ndarray
    group: np.ndarray
    top1: np.ndarray
    top2: np.ndarray
    total: np.ndarray
    n: np.ndarray


def _top_two(cell: np.ndarray, agency: np.ndarray, value: np.ndarray, n_agencies: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, _TopTwo]:
    """Each agency's count per cell, the rows with a count > 0 grouped by cell, largest first:
    a source row of its cell, the agency, the count; and each cell's ``_TopTwo``."""
    pair, row, at = np.unique(cell * n_agencies + agency, return_index=True, return_inverse=True)
    amount = np.bincount(at.ravel(), weights=value, minlength=len(pair))
    pair, row, amount = pair[amount > 0], row[amount > 0], amount[amount > 0]
    cell_of, agency = pair // n_agencies, pair % n_agencies
    order = np.lexsort((-amount, cell_of))
    cell_of, row, agency, amount = cell_of[order], row[order], agency[order], amount[order]
    first = np.r_[0, np.nonzero(np.diff(cell_of))[0] + 1] if len(cell_of) else np.zeros(0, dtype=np.int64)
    n = np.diff(np.r_[first, len(cell_of)])
    group = np.repeat(np.arange(len(first)), n)
    second = np.where(n > 1, amount[np.minimum(first + 1, len(amount) - 1)] if len(amount) else 0.0, 0.0)
    return row, agency, amount, _TopTwo(first, group, amount[first], second, np.add.reduceat(amount, first) if len(first) else np.zeros(0), n)


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
