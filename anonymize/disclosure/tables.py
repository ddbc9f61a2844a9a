"""The linked-table model: tidy release tables become quantities tied by additivity constraints.

A release table is tidy and long: one column per dimension, where the margin over a dimension is
the string ``"Total"``, then ``value`` (an integer count). Two cells with the same ``measure`` and
the same non-Total coordinates are the same *quantity*, whichever table shows them; that is how
tables sharing margins, and earlier releases, are linked.

For every table and every dimension, a cell with ``Total`` in that dimension equals the sum of the
cells of the same table that differ from it only in that dimension's non-Total values (over the
combinations present). That one rule gives row and column totals, hierarchies (region within
province: a province cell is the sum of its regions, the grand total the sum of provinces) and the
links between tables. Each such equation is a row of ``M`` with +1 for the margin and -1 for each
part; every true table satisfies ``M @ x == 0``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from dvnet.anonymize.disclosure.errors import (
    INCONSISTENT_SHARED_CELL,
    INVALID_TABLE,
    LEDGER_CONFLICT,
    DisclosureError,
)
from dvnet.anonymize.disclosure.history import Link, current_counts, join_history
from dvnet.anonymize.disclosure.intervals import EXACT_WIDTH
from dvnet.anonymize.disclosure.rounding import rounding_interval

TOTAL = "Total"
STATUS_COLUMN = "status"
VALUE_COLUMN = "value"

_MEASURE_SEP = "\x1d"
_DIM_SEP = "\x1e"
_PAIR_SEP = "\x1f"


@dataclass(frozen=True)
class Table:
    """One tidy release table: ``frame`` has the ``dims`` columns and ``value`` (and maybe ``status``).

    A row is one cell; ``Total`` in a dimension marks the margin over it. ``value`` holds counts
    (nullable: NA only where ``status`` says the cell is suppressed, as in a protected table).
    """

    name: str
    frame: pd.DataFrame
    dims: tuple[str, ...]
    measure: str
    description: str = ""

    def __post_init__(self) -> None:
        dims = tuple(self.dims)
        object.__setattr__(self, "dims", dims)
        missing = [c for c in (*dims, VALUE_COLUMN) if c not in self.frame.columns]
        if missing:
            raise DisclosureError(INVALID_TABLE, f"table {self.name} lacks column(s) {', '.join(missing)}", table=self.name)
        if len(set(dims)) != len(dims) or VALUE_COLUMN in dims or STATUS_COLUMN in dims:
            raise DisclosureError(INVALID_TABLE, f"table {self.name} has repeated or reserved dimension names", table=self.name)
        frame = self.frame.loc[:, [*dims, VALUE_COLUMN, *([STATUS_COLUMN] if STATUS_COLUMN in self.frame.columns else [])]].copy()
        frame.reset_index(drop=True, inplace=True)
        for d in dims:
            if frame[d].isna().any():
                raise DisclosureError(INVALID_TABLE, f"table {self.name} has empty coordinates in dimension {d}", table=self.name, dimension=d)
            frame[d] = frame[d].astype(str)
        values = pd.to_numeric(frame[VALUE_COLUMN], errors="coerce").astype("Float64")
        bad = values.notna() & ((values < 0) | (values != values.round()))
        if bad.any():
            raise DisclosureError(INVALID_TABLE, f"table {self.name} has {int(bad.sum())} value(s) that are not non-negative integers", table=self.name)
        missing_values = values.isna() & frame[VALUE_COLUMN].notna()
        if missing_values.any():
            raise DisclosureError(INVALID_TABLE, f"table {self.name} has {int(missing_values.sum())} non-numeric value(s)", table=self.name)
        frame[VALUE_COLUMN] = values.round().astype("Int64")
        if frame[VALUE_COLUMN].isna().any():
            if STATUS_COLUMN not in frame.columns or (frame.loc[frame[VALUE_COLUMN].isna(), STATUS_COLUMN].astype(str) == "published").any():
                raise DisclosureError(INVALID_TABLE, f"table {self.name} has missing values not marked suppressed", table=self.name)
        if dims and frame.duplicated(list(dims)).any():
            raise DisclosureError(INVALID_TABLE, f"table {self.name} has {int(frame.duplicated(list(dims)).sum())} duplicated cell(s)", table=self.name)
        if not dims and len(frame) > 1:
            raise DisclosureError(INVALID_TABLE, f"table {self.name} has no dimensions but several rows", table=self.name)
        object.__setattr__(self, "frame", frame)

    @property
    def n_cells(self) -> int:
        return len(self.frame)


@dataclass(frozen=True)
class EarlierCell:
    """A cell of an earlier release, from the release ledger.

    ``value`` is what was published (``None`` if it was suppressed); ``rounding_base`` > 1 if it was
    published rounded. ``table`` (e.g. "<release-id>/<table>") lets the audit rebuild that table's
    margin relations from its cells; pass suppressed cells too (value ``None``) so it is complete.
    ``suppressed_floor``: the least count a suppressed cell of that release can hold under its
    profile's zero rule; ``protection_width``: the width that release promised its sensitive
    cells; ``truth``: the true count then (coordinator's internal record, never published). ``reason``: why it was suppressed, from the coordinator's internal record
    (``None`` when the history was rebuilt from release folders alone). ``owner``: the one agency
    that contributed the cell then, where one alone did (internal record; ``None`` otherwise or
    when unknown, which the singleton rule reads as "no agency knows it").
    """

    measure: str
    coords: Mapping[str, str]
    value: int | None
    rounding_base: int = 1
    table: str | None = None
    reason: str | None = None
    suppressed_floor: int = 0
    protection_width: int = 0
    truth: int | None = None
    owner: str | None = None


def quantity_keys(frame: pd.DataFrame, dims: Sequence[str], measure: str) -> np.ndarray:
    """The quantity key of every row: the measure and its non-Total coordinates, dims sorted."""
    names = sorted(dims)
    columns = [frame[d].astype(str).tolist() for d in names]
    keys = np.empty(len(frame), dtype=object)
    keys[:] = [_key(measure, zip(names, values)) for values in zip(*columns)] if names else [_key(measure, ())] * len(frame)
    return keys


def quantity_key(measure: str, coords: Mapping[str, object]) -> str:
    """One quantity's key from its coordinates: what ``quantity_keys`` gives a row holding them."""
    return _key(measure, ((d, str(v)) for d, v in sorted(coords.items())))


def _key(measure: str, pairs) -> str:
    """``pairs``: (dimension, value as text), dimensions sorted."""
    return measure + _MEASURE_SEP + "".join(d + _DIM_SEP + v + _PAIR_SEP for d, v in pairs if v != TOTAL)


def parse_key(key: str) -> tuple[str, dict[str, str]]:
    """(measure, {dim: value}) of a quantity key; dims absent from the dict are Total."""
    measure, rest = key.split(_MEASURE_SEP, 1)
    coords = {}
    for pair in rest.split(_PAIR_SEP)[:-1]:
        d, v = pair.split(_DIM_SEP, 1)
        coords[d] = v
    return measure, coords


def describe_key(key: str) -> str:
    measure, coords = parse_key(key)
    return measure + ": " + (", ".join(f"{d}={v}" for d, v in coords.items()) or TOTAL)


def _combine_codes(codes: list[np.ndarray], sizes: list[int], n: int) -> np.ndarray:
    if not codes:
        return np.zeros(n, dtype=np.int64)
    if float(np.prod([max(s, 1) for s in sizes], dtype=float)) < 2.0**62:
        return np.ravel_multi_index(tuple(codes), tuple(max(s, 1) for s in sizes)).astype(np.int64)
    frame = pd.DataFrame({i: c for i, c in enumerate(codes)})
    return frame.groupby(list(frame.columns), sort=False).ngroup().to_numpy(dtype=np.int64)


def additivity_entries(frame: pd.DataFrame, dims: Sequence[str], qids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """COO entries (row, quantity, +1/-1) of one table's additivity equations, and their count."""
    n = len(frame)
    rows_out, cols_out, vals_out = [], [], []
    n_rows = 0
    codes, sizes, total_code = [], [], []
    for d in dims:
        c, uniques = pd.factorize(frame[d].to_numpy(dtype=object), sort=False)
        codes.append(c.astype(np.int64))
        sizes.append(len(uniques))
        hits = np.nonzero(np.asarray(uniques, dtype=object) == TOTAL)[0]
        total_code.append(int(hits[0]) if len(hits) else -1)
    for k in range(len(dims)):
        if total_code[k] < 0:
            continue
        others = [j for j in range(len(dims)) if j != k]
        gid = _combine_codes([codes[j] for j in others], [sizes[j] for j in others], n)
        is_total = codes[k] == total_code[k]
        parent_rows = np.nonzero(is_total)[0]
        child_rows = np.nonzero(~is_total)[0]
        if len(parent_rows) == 0 or len(child_rows) == 0:
            continue
        parent_g = gid[parent_rows]
        order = np.argsort(parent_g, kind="stable")
        sorted_g = parent_g[order]
        child_g = gid[child_rows]
        pos = np.minimum(np.searchsorted(sorted_g, child_g), len(sorted_g) - 1)
        match = sorted_g[pos] == child_g
        child_rows = child_rows[match]
        parent_of_child = order[pos[match]]  # index into parent_rows
        if len(child_rows) == 0:
            continue
        used, row_of_child = np.unique(parent_of_child, return_inverse=True)
        rows_out += [n_rows + np.arange(len(used)), n_rows + row_of_child]
        cols_out += [qids[parent_rows[used]], qids[child_rows]]
        vals_out += [np.ones(len(used), dtype=np.int8), -np.ones(len(child_rows), dtype=np.int8)]
        n_rows += len(used)
    if not rows_out:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.int8), 0
    return np.concatenate(rows_out), np.concatenate(cols_out), np.concatenate(vals_out), n_rows


def _dedupe_rows(M: sp.csr_matrix) -> sp.csr_matrix:
    """Drop repeated equations (shared margins make the same equation appear in several tables)."""
    if M.shape[0] == 0:
        return M
    rng = np.random.default_rng(20240917)
    w = rng.random((M.shape[1], 2))
    h = np.asarray(M @ w)
    lengths = np.diff(M.indptr)
    sig = pd.DataFrame({"a": h[:, 0], "b": h[:, 1], "n": lengths})
    keep = ~sig.duplicated().to_numpy()
    keep &= lengths > 1
    return M[np.nonzero(keep)[0]]


@dataclass
class LinkedModel:
    """Every quantity of a release (and of the earlier releases it must be audited with).

    ``truth`` holds the true value of each quantity shown in this release (NaN where unknown, e.g.
    a suppressed cell of a published table being audited, or an earlier-only quantity).
    ``ledger_lo``/``ledger_hi`` are what earlier releases already told the world about it.
    """

    keys: np.ndarray
    M: sp.csr_matrix
    truth: np.ndarray
    in_release: np.ndarray
    multiplicity: np.ndarray
    ledger_lo: np.ndarray
    ledger_hi: np.ndarray
    tables: list[Table]
    cell_qids: dict[str, np.ndarray] = field(default_factory=dict)
    earlier_required: np.ndarray | None = None  # width an earlier release promised: its protection width (sensitive), 1 (withheld), else 0
    difference: np.ndarray | None = None  # quantities that are differences between this release and a changed earlier one
    earlier_owner: np.ndarray | None = None  # per quantity, the one agency an earlier release's internal record names, else None
    link_qids: np.ndarray | None = None  # (new, old, d) quantity ids of each link between this release and a changed earlier one

    @property
    def n(self) -> int:
        return len(self.keys)

    @property
    def pinned(self) -> np.ndarray:
        """Quantities an earlier release published exactly: suppressing them now hides nothing."""
        return self.ledger_hi - self.ledger_lo < 0.5

    def table_names(self) -> list[list[str]]:
        names: list[list[str]] = [[] for _ in range(self.n)]
        for t in self.tables:
            for q in np.unique(self.cell_qids[t.name]):
                names[q].append(t.name)
        return names


def build_model(tables: Sequence[Table], earlier: Sequence[EarlierCell] | None = None, *, check_additivity: bool = True) -> LinkedModel:
    """Quantities, additivity constraints and ledger knowledge for ``tables`` (+ ``earlier``)."""
    if not tables:
        raise DisclosureError(INVALID_TABLE, "a release needs at least one table")
    names = [t.name for t in tables]
    if len(set(names)) != len(names):
        raise DisclosureError(INVALID_TABLE, "table names in a release must be unique")
    earlier = list(earlier or [])
    links: list[Link] = []
    if earlier:
        current = current_counts([quantity_keys(t.frame, t.dims, t.measure) for t in tables], [t.frame[VALUE_COLUMN] for t in tables])
        earlier, links = join_history(current, earlier, _earlier_key)
    uniques, cell_qids, earlier_qids = _quantity_ids(tables, earlier, [_DIFFERENCE + k.old for k in links])
    n = len(uniques)
    in_release, multiplicity, truth = _release_values(tables, cell_qids, n)
    entries = [additivity_entries(t.frame, t.dims, cell_qids[t.name]) for t in tables]
    ledger_lo, ledger_hi = _ledger_bounds(earlier, earlier_qids, n)
    earlier_required = _earlier_required(earlier, earlier_qids, n)
    difference = np.zeros(n, dtype=bool)
    earlier_owner = np.full(n, None, dtype=object)
    link_qids = np.zeros((0, 3), dtype=np.int64)
    if earlier:
        for c, q in zip(earlier, earlier_qids, strict=True):
            if c.owner is not None:
                earlier_owner[q] = c.owner
        for c, q in zip(earlier, earlier_qids, strict=True):
            if c.truth is not None and not in_release[q]:
                truth[q] = float(c.truth)
        entries += _earlier_equations(earlier, earlier_qids)
        if links:
            entries.append(_link_equations(links, uniques, ledger_hi, truth, difference))
            index = pd.Index(uniques)
            link_qids = np.column_stack([index.get_indexer(ks) for ks in ([k.new for k in links], [k.old for k in links], [_DIFFERENCE + k.old for k in links])])
            _carry_unchanged(earlier_required, link_qids, truth)
        _check_ledger(ledger_lo, ledger_hi, truth)
    M = _constraint_matrix(entries, n, dedupe=len(tables) > 1 or bool(earlier))
    if check_additivity and M.shape[0]:
        _check_additivity(M, truth)
    return LinkedModel(
        keys=np.asarray(uniques, dtype=object),
        M=M,
        truth=truth,
        in_release=in_release,
        multiplicity=multiplicity,
        ledger_lo=ledger_lo,
        ledger_hi=ledger_hi,
        tables=list(tables),
        cell_qids=cell_qids,
        earlier_required=earlier_required,
        difference=difference,
        earlier_owner=earlier_owner,
        link_qids=link_qids,
    )


_DIFFERENCE = "difference of "


def _earlier_key(c: EarlierCell) -> str:
    return quantity_key(c.measure, c.coords)


def distinct_published(earlier: Sequence[EarlierCell]) -> int:
    """The distinct quantities earlier releases published: a cell two releases both showed is one."""
    return len({_earlier_key(c) for c in earlier if c.value is not None})


def _link_equations(links: list[Link], uniques: np.ndarray, ledger_hi: np.ndarray, truth: np.ndarray, difference: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """``new - old - d = 0`` (or ``old - new - d = 0``) per link, d >= 0 (0 where nothing changed)."""
    index = pd.Index(uniques)
    new = index.get_indexer([k.new for k in links])
    old = index.get_indexer([k.old for k in links])
    d = index.get_indexer([_DIFFERENCE + k.old for k in links])
    up = np.array([k.up for k in links])
    size = np.array([k.truth for k in links], dtype=float)
    truth[d] = size
    ledger_hi[d[size == 0]] = 0.0
    difference[d] = True
    rows = np.repeat(np.arange(len(links)), 3)
    cols = np.column_stack([new, old, d]).ravel()
    sign = np.where(up, 1, -1)
    vals = np.column_stack([sign, -sign, -np.ones(len(links), dtype=int)]).ravel().astype(np.int8)
    return rows, cols, vals, len(links)


def _earlier_required(earlier: list[EarlierCell], earlier_qids: np.ndarray, n: int) -> np.ndarray:
    """Per quantity, the width an earlier release promised it: its protection width where it was
    suppressed as sensitive (or for a reason not on record); where it was suppressed to protect
    others (complementary), not to be pinned (``EXACT_WIDTH``): what a release withheld stays
    withheld, else a later release shows it. 0 where it was published."""
    req = np.zeros(n)
    for c, q in zip(earlier, earlier_qids, strict=True):
        if c.value is None:
            sensitive = c.reason not in ("complementary", "withheld") and c.protection_width > 1
            req[q] = max(req[q], float(c.protection_width) if sensitive else EXACT_WIDTH)
    return req


def _carry_unchanged(earlier_required: np.ndarray, link_qids: np.ndarray, truth: np.ndarray) -> None:
    """A quantity a changed earlier release showed, and whose count has not changed since (its
    difference is 0), is this release's quantity: what was promised of it then holds now."""
    if not len(link_qids):
        return
    new, old, d = link_qids.T
    same = truth[d] == 0
    np.maximum.at(earlier_required, new[same], earlier_required[old[same]])


def _quantity_ids(tables: Sequence[Table], earlier: list[EarlierCell], extra: Sequence[str] = ()) -> tuple[pd.Index, dict[str, np.ndarray], np.ndarray]:
    """Every distinct quantity (by key), each table's cells' quantity ids, each earlier cell's
    (``extra`` keys are quantities of no table, e.g. differences between releases)."""
    key_parts = [quantity_keys(t.frame, t.dims, t.measure) for t in tables]
    earlier_keys = np.array([_earlier_key(c) for c in earlier] + list(extra), dtype=object)
    all_keys = np.concatenate([*key_parts, earlier_keys]) if len(earlier_keys) else np.concatenate(key_parts)
    codes, uniques = pd.factorize(all_keys, sort=False)
    offsets = np.cumsum([0] + [len(k) for k in key_parts])
    cell_qids = {t.name: codes[offsets[i] : offsets[i + 1]].astype(np.int64) for i, t in enumerate(tables)}
    return uniques, cell_qids, codes[offsets[-1] : offsets[-1] + len(earlier)].astype(np.int64)


def _release_values(tables: Sequence[Table], cell_qids: dict[str, np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per quantity: in this release, in how many table cells, and its count (NaN if none shown).

    ``INCONSISTENT_SHARED_CELL`` when tables show one quantity with different counts.
    """
    in_release = np.zeros(n, dtype=bool)
    multiplicity = np.zeros(n, dtype=np.int64)
    truth = np.full(n, np.nan)
    lo_seen = np.full(n, np.inf)
    hi_seen = np.full(n, -np.inf)
    for t in tables:
        q = cell_qids[t.name]
        in_release[q] = True
        np.add.at(multiplicity, q, 1)
        v = t.frame[VALUE_COLUMN].to_numpy(dtype=float, na_value=np.nan)
        ok = ~np.isnan(v)
        np.minimum.at(lo_seen, q[ok], v[ok])
        np.maximum.at(hi_seen, q[ok], v[ok])
    clash = np.isfinite(lo_seen) & (hi_seen - lo_seen > 0)
    if clash.any():
        raise DisclosureError(
            INCONSISTENT_SHARED_CELL,
            f"{int(clash.sum())} quantity(ies) shown in several tables with different values",
            hint="cells with the same measure and non-Total coordinates must hold the same count",
            quantities=int(clash.sum()),
        )
    truth[np.isfinite(lo_seen)] = lo_seen[np.isfinite(lo_seen)]
    return in_release, multiplicity, truth


def _ledger_bounds(earlier: list[EarlierCell], earlier_qids: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per quantity, what earlier releases published (a point, or a rounding interval), else [0, inf)."""
    lo = np.zeros(n)
    hi = np.full(n, np.inf)
    for i, c in enumerate(earlier):
        q = earlier_qids[i]
        if c.value is not None:
            v_lo, v_hi = rounding_interval(np.array([float(c.value)]), int(c.rounding_base))
            lo[q] = max(lo[q], v_lo[0])
            hi[q] = min(hi[q], v_hi[0])
        else:
            lo[q] = max(lo[q], float(c.suppressed_floor))
    return lo, hi


def _earlier_equations(earlier: list[EarlierCell], earlier_qids: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, int]]:
    """The additivity entries of each earlier table, rebuilt from its cells."""
    by_table: dict[str, list[int]] = {}
    for i, c in enumerate(earlier):
        if c.table is not None:
            by_table.setdefault(c.table, []).append(i)
    entries = []
    for idx in by_table.values():
        cells = [earlier[i] for i in idx]
        dims = sorted({d for c in cells for d in c.coords})
        frame = pd.DataFrame({d: [str(c.coords.get(d, TOTAL)) for c in cells] for d in dims})
        keep = ~frame.duplicated(dims).to_numpy() if dims else np.ones(len(cells), dtype=bool)
        entries.append(additivity_entries(frame[keep].reset_index(drop=True), dims, earlier_qids[np.asarray(idx)][keep]))
    return entries


def _check_ledger(ledger_lo: np.ndarray, ledger_hi: np.ndarray, truth: np.ndarray) -> None:
    """``LEDGER_CONFLICT`` when earlier releases contradict each other or this release's counts."""
    if (ledger_lo > ledger_hi + 1e-9).any():
        raise DisclosureError(LEDGER_CONFLICT, f"{int((ledger_lo > ledger_hi + 1e-9).sum())} earlier cell(s) contradict each other")
    known = ~np.isnan(truth)
    conflict = known & ((truth < ledger_lo - 1e-9) | (truth > ledger_hi + 1e-9))
    if conflict.any():
        raise DisclosureError(
            LEDGER_CONFLICT,
            f"{int(conflict.sum())} cell(s) differ from what an earlier release published for the same quantity",
            hint="a revised figure needs a new measure name, or the earlier release withdrawn from the ledger",
            cells=int(conflict.sum()),
        )


def _constraint_matrix(entries: list[tuple[np.ndarray, np.ndarray, np.ndarray, int]], n: int, *, dedupe: bool) -> sp.csr_matrix:
    """``M`` (one row per equation, ``M y = 0``) from additivity entries (rows, cols, values, count)."""
    rows, cols, vals, n_rows = [], [], [], 0
    for r, c, v, k in entries:
        rows.append(r + n_rows), cols.append(c), vals.append(v)
        n_rows += k
    if rows:
        M = sp.coo_matrix(
            (np.concatenate(vals).astype(np.float64), (np.concatenate(rows), np.concatenate(cols))), shape=(n_rows, n)
        ).tocsr()
        M.sum_duplicates()
        M.eliminate_zeros()
    else:
        M = sp.csr_matrix((0, n))
    if dedupe:
        M = _dedupe_rows(M)
    M = M.tocsr()
    M.sort_indices()
    return M


def _check_additivity(M: sp.csr_matrix, truth: np.ndarray) -> None:
    """``INVALID_TABLE`` when a margin whose parts are all known is not their sum."""
    known = ~np.isnan(truth)
    rows_known = np.asarray(M[:, ~known].getnnz(axis=1) == 0).ravel() if (~known).any() else np.ones(M.shape[0], bool)
    resid = np.abs(M[rows_known] @ np.where(known, truth, 0.0))
    if (resid > 0.5).any():
        raise DisclosureError(
            INVALID_TABLE,
            f"{int((resid > 0.5).sum())} margin(s) do not equal the sum of their parts",
            hint="each Total cell must be the sum of the cells it covers (within each table)",
            margins=int((resid > 0.5).sum()),
        )
