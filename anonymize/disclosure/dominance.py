"""Contributions to each cell, and the p % dominance rule that protects contributors from each other.

A contributor (an agency that reported the records, or an organisation the records name, such as
the organisation a referral went to) knows its own part of every cell. Subtracting it from a
published total, the second-largest contributor estimates the largest one's part to within the
rest of the cell. The p % rule (tau-ARGUS, sdcTable, GaussSuppression, ACRO) makes a cell with a
count > 0 sensitive when that rest is below p % of the largest part:

    T - x1 - x2 < p * x1

So a cell with one contributor (a category with a single organisation is that organisation's
caseload) or two (each reads the other's) is always sensitive. Contributions come per interior
cell (the table's dimension columns, the party column ``agency_id`` and ``value``), optionally in
several ``partition``s (the same records split by reporting agency, by receiving organisation);
a margin's parts are the sums over the interior cells it covers, so a province dominated by one
shelter is caught even when each of its regions is not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from dvnet.anonymize.disclosure.errors import INVALID_CONTRIBUTIONS, DisclosureError
from dvnet.anonymize.disclosure.tables import TOTAL, LinkedModel, Table

AGENCY_COLUMN = "agency_id"
PARTITION_COLUMN = "partition"


@dataclass
class Contributions:
    """Per partition, each party's part of each of the release's quantities (rows: quantity ids)."""

    parties: list[str]
    partitions: list[sp.csr_matrix]

    def own(self) -> sp.csr_matrix:
        """What each party knows of each quantity: its largest part over the partitions."""
        out = self.partitions[0]
        for P in self.partitions[1:]:
            out = out.maximum(P)
        return out.tocsc()

    def top_two(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """Per partition: largest part, its party, second-largest part, number of parties > 0."""
        out = []
        for P in self.partitions:
            n = P.shape[0]
            x1 = np.zeros(n)
            who = np.full(n, -1, dtype=np.int64)
            x2 = np.zeros(n)
            count = np.diff(P.indptr)
            for i in np.nonzero(count)[0]:
                vals = P.data[P.indptr[i] : P.indptr[i + 1]]
                cols = P.indices[P.indptr[i] : P.indptr[i + 1]]
                order = np.argsort(-vals, kind="stable")
                x1[i], who[i] = vals[order[0]], cols[order[0]]
                x2[i] = vals[order[1]] if len(order) > 1 else 0.0
            out.append((x1, who, x2, np.asarray((P > 0).sum(axis=1)).ravel()))
        return out


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


def contributions_of(model: LinkedModel, tables: list[Table], contributions: pd.DataFrame | Mapping[str, pd.DataFrame]) -> Contributions:
    """Every party's part of every quantity of ``model`` (margins summed from interior cells)."""
    known = {t.name: t for t in tables}
    checked = {}
    for name, frame in _by_table(tables, contributions).items():
        if name not in known:
            raise DisclosureError(INVALID_CONTRIBUTIONS, f"contributions name a table not in the release: {name}", table=name)
        checked[name] = _checked(known[name], frame)
    frames = [f for f in checked.values() if len(f)]
    if not frames:
        return Contributions([], [sp.csr_matrix((model.n, 0))])
    everything = pd.concat(frames, ignore_index=True)
    parties = sorted(everything[AGENCY_COLUMN].astype(str).unique())
    partitions = sorted(everything[PARTITION_COLUMN].astype(str).unique())
    n_cols = len(parties) * len(partitions)
    # Earlier versions joined from history follow this release's quantities (and may repeat a
    # key): only this release's cells have contributions.
    per_table = []
    for name, frame in checked.items():
        t = known[name]
        party = pd.Categorical(frame[AGENCY_COLUMN].astype(str), categories=parties).codes.astype(np.int64)
        part = pd.Categorical(frame[PARTITION_COLUMN].astype(str), categories=partitions).codes.astype(np.int64)
        row = _interior_row(t, frame)
        ok = row >= 0
        C = sp.csr_matrix((frame["value"].to_numpy(float)[ok], (row[ok], party[ok] * len(partitions) + part[ok])), shape=(len(t.frame), n_cols))
        rolled = (_roll_up(t) @ C).tocoo()
        keep = rolled.data > 0
        per_table.append((model.cell_qids[name][rolled.row[keep]], rolled.col[keep], rolled.data[keep]))
    q = np.concatenate([p[0] for p in per_table])
    c = np.concatenate([p[1] for p in per_table])
    v = np.concatenate([p[2] for p in per_table])
    # A quantity shared by several tables gets the same parts from each: keep one.
    order = np.lexsort((-v, c, q))
    q, c, v = q[order], c[order], v[order]
    first = np.r_[True, (q[1:] != q[:-1]) | (c[1:] != c[:-1])]
    q, c, v = q[first], c[first], v[first]
    matrices = []
    for k in range(len(partitions)):
        sel = c % len(partitions) == k
        matrices.append(sp.csr_matrix((v[sel], (q[sel], c[sel] // len(partitions))), shape=(model.n, len(parties))))
    return Contributions([str(p) for p in parties], matrices)


def _checked(t: Table, frame: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in (*t.dims, AGENCY_COLUMN, "value") if c not in frame.columns]
    if missing:
        raise DisclosureError(INVALID_CONTRIBUTIONS, f"contributions for table {t.name} lack column(s) {', '.join(missing)}", table=t.name)
    frame = frame.loc[:, [*t.dims, AGENCY_COLUMN, "value", *([PARTITION_COLUMN] if PARTITION_COLUMN in frame.columns else [])]].copy()
    if PARTITION_COLUMN not in frame.columns:
        frame[PARTITION_COLUMN] = "agency"
    for d in t.dims:
        frame[d] = frame[d].astype(str)
        if (frame[d] == TOTAL).any():
            raise DisclosureError(INVALID_CONTRIBUTIONS, f"contributions for table {t.name} must be interior cells (no Total)", table=t.name, dimension=d)
    values = pd.to_numeric(frame["value"], errors="coerce")
    if values.isna().any() or (values < 0).any():
        raise DisclosureError(INVALID_CONTRIBUTIONS, f"contributions for table {t.name} have values that are not non-negative numbers", table=t.name)
    frame["value"] = values.astype(float)
    return frame.reset_index(drop=True)


def _interior_row(t: Table, frame: pd.DataFrame) -> np.ndarray:
    """The row of ``t`` each contribution belongs to (-1 for a cell the table does not list)."""
    if not t.dims:
        return np.zeros(len(frame), dtype=np.int64)
    rows = t.frame[list(t.dims)].reset_index(drop=True).assign(_row=np.arange(len(t.frame)))
    return frame[list(t.dims)].merge(rows, on=list(t.dims), how="left")["_row"].fillna(-1).to_numpy(dtype=np.int64)


def _roll_up(t: Table) -> sp.csr_matrix:
    """(cells x cells) 0/1: which interior cells of ``t`` each of its cells sums over.

    A cell with Total in dimensions S covers the interior cells equal to it in every other
    dimension; regions nested in provinces need nothing special (a province row names its province).
    """
    n = len(t.frame)
    if not t.dims:
        return sp.identity(n, format="csr")
    codes = []
    is_total = []
    for d in t.dims:
        col = t.frame[d].to_numpy(dtype=object)
        c, _ = pd.factorize(col, sort=False)
        codes.append(c.astype(np.int64))
        is_total.append(col == TOTAL)
    codes_m = np.column_stack(codes)
    total_m = np.column_stack(is_total)
    interior = np.nonzero(~total_m.any(axis=1))[0]
    patterns, pattern_of = np.unique(total_m, axis=0, return_inverse=True)
    pattern_of = pattern_of.ravel()
    rows_out, cols_out = [], []
    for k, pattern in enumerate(patterns):
        cells = np.nonzero(pattern_of == k)[0]
        kept = np.nonzero(~pattern)[0]
        if len(kept) == 0:
            rows_out.append(np.repeat(cells, len(interior))), cols_out.append(np.tile(interior, len(cells)))
            continue
        key_cells = pd.MultiIndex.from_arrays([codes_m[cells, j] for j in kept]) if len(kept) > 1 else pd.Index(codes_m[cells, kept[0]])
        key_int = pd.MultiIndex.from_arrays([codes_m[interior, j] for j in kept]) if len(kept) > 1 else pd.Index(codes_m[interior, kept[0]])
        hit = key_cells.get_indexer(key_int)
        ok = hit >= 0
        rows_out.append(cells[hit[ok]]), cols_out.append(interior[ok])
    r = np.concatenate(rows_out)
    c = np.concatenate(cols_out)
    return sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(n, n))


def dominance_mask(model: LinkedModel, contributions: Contributions, p: float | None) -> np.ndarray:
    """True where a released cell with a count > 0 fails the p % rule in some partition."""
    if p is None:
        return np.zeros(model.n, dtype=bool)
    T = np.nan_to_num(model.truth, nan=0.0)
    mask = np.zeros(model.n, dtype=bool)
    for x1, _, x2, count in contributions.top_two():
        mask |= (count > 0) & (T - x1 - x2 < p * x1 - 1e-9)
    return model.in_release & (T > 0) & mask
