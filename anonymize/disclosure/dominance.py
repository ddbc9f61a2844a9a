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

import itertools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from dvnet.anonymize.disclosure.errors import INVALID_CONTRIBUTIONS, DisclosureError
from dvnet.anonymize.disclosure.tables import TOTAL, LinkedModel, Table, quantity_keys

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
    # This release's quantities come first (earlier versions joined from history follow, and may
    # repeat a key): only they have contributions.
    index = pd.Index(model.keys[: int(model.in_release.sum())])
    long = []
    for name, frame in _by_table(tables, contributions).items():
        if name not in known:
            raise DisclosureError(INVALID_CONTRIBUTIONS, f"contributions name a table not in the release: {name}", table=name)
        long.append(_rolled_up(known[name], _checked(known[name], frame), index))
    if not long:
        return Contributions([], [sp.csr_matrix((model.n, 0))])
    parts = pd.concat(long, ignore_index=True)
    # A quantity shared by several tables gets the same parts from each: keep one.
    parts = parts.groupby(["q", "party", PARTITION_COLUMN], sort=False)["value"].max().reset_index()
    party_codes, parties = pd.factorize(parts["party"], sort=True)
    part_codes, _ = pd.factorize(parts[PARTITION_COLUMN], sort=True)
    matrices = []
    for k in range(int(part_codes.max()) + 1):
        sel = part_codes == k
        matrices.append(
            sp.csr_matrix((parts["value"].to_numpy(float)[sel], (parts["q"].to_numpy()[sel], party_codes[sel])), shape=(model.n, len(parties)))
        )
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
    return frame


def _rolled_up(t: Table, frame: pd.DataFrame, index: pd.Index) -> pd.DataFrame:
    """(quantity id, party, partition, value) for every cell of ``t`` the interior rolls up to."""
    out = []
    for r in range(len(t.dims) + 1):
        for rolled in itertools.combinations(t.dims, r):
            kept = [d for d in t.dims if d not in rolled]
            g = frame.groupby([*kept, AGENCY_COLUMN, PARTITION_COLUMN], sort=False, observed=True)["value"].sum().reset_index()
            for d in rolled:
                g[d] = TOTAL
            q = index.get_indexer(quantity_keys(g, t.dims, t.measure))
            keep = (q >= 0) & (g["value"].to_numpy() > 0)
            out.append(pd.DataFrame({"q": q[keep], "party": g[AGENCY_COLUMN].astype(str).to_numpy()[keep], PARTITION_COLUMN: g[PARTITION_COLUMN].to_numpy()[keep], "value": g["value"].to_numpy()[keep]}))
    return pd.concat(out, ignore_index=True)


def dominance_mask(model: LinkedModel, contributions: Contributions, p: float | None) -> np.ndarray:
    """True where a released cell with a count > 0 fails the p % rule in some partition."""
    if p is None:
        return np.zeros(model.n, dtype=bool)
    T = np.nan_to_num(model.truth, nan=0.0)
    mask = np.zeros(model.n, dtype=bool)
    for x1, _, x2, count in contributions.top_two():
        mask |= (count > 0) & (T - x1 - x2 < p * x1 - 1e-9)
    return model.in_release & (T > 0) & mask
