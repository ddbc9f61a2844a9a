"""An attacker independent of the suppression code, against every release of one population.

It shares no code with ``dvnet.anonymize.disclosure``: it reads the release folders as an
evaluator gets them (Parquet tables, manifest), writes its own linear programmes (margins equal the
sum of their listed parts; a published count stands for the counts the profile would publish as
it; a listed hidden cell is at least 1; counts are non-negative), joins every release of the same
period (a cell whose true count did not change between two releases is one unknown, a changed one
is linked by a difference whose sign the attacker knows), and plays each contributing agency in
turn (its own part of every cell is a lower bound; a cell it alone contributes to is known to it).
It solves them with HiGHS and checks every range contains the true count (from the warehouse).

Scenarios: the release with everything in its folder; the same period re-published under every
profile; re-publication after 1, 2, 3 and 5 late records in one small group, with the warehouse
ledger and without it (history rebuilt from the folders); a correction; two-contributor cells
(the insiders). Headline:
``T tables, S suppressed, R releases: 0 exact, 0 narrow, 0 small differences, 0 insider estimates within p``.
"""

from __future__ import annotations

import json
import os
from itertools import combinations
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import highspy
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from dvnet.anonymize.counts import counts_sql
from dvnet.assets.releases.lib.release import build_release
from dvnet.assets.warehouse.lib.cubes import RELEASE_TABLES, contributions_frame, load_organisations, release_frame
from dvnet.common.network import NetworkPaths, load_network
from dvnet.contracts.errors import DvnetError
from dvnet.contracts.registry import get_contract

PERIOD = "2026-Q3"
TOTAL = "Total"


# ----------------------------------------------------------------------------------------------
# What the attacker reads, and the truth the test keeps beside it
# ----------------------------------------------------------------------------------------------


@dataclass
class Seen:
    """One release as published, with the true counts of each table at the time it was made."""

    release_id: str
    profile: dict
    tables: dict[str, tuple[list[str], str, pd.DataFrame]]  # name -> (dims, measure, frame with truth)
    contributions: dict[str, pd.DataFrame] = field(default_factory=dict)


def _truth(root: Path) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    con = duckdb.connect(str(NetworkPaths(root).warehouse), read_only=True)
    try:
        load_organisations(con, load_network(root))
        frames = {s.name: release_frame(con, s, [PERIOD]) for s in RELEASE_TABLES}
        contrib = {s.name: contributions_frame(con, s, [PERIOD]) for s in RELEASE_TABLES}
    finally:
        con.close()
    return frames, contrib


def _read(folder: Path, truth: dict[str, pd.DataFrame], contrib: dict[str, pd.DataFrame]) -> Seen:
    manifest = json.loads((folder / "manifest.json").read_text())
    tables = {}
    for name, info in manifest["tables"].items():
        if info["kind"] != "count" or name not in truth:
            continue
        frame = pd.read_parquet(folder / "parquet" / f"{name}.parquet")
        dims = [c for c in frame.columns if c not in ("value", "status")]
        t = truth[name].astype({d: str for d in dims}).rename(columns={"value": "truth"})
        frame = frame.astype({d: str for d in dims}).merge(t, on=dims, how="left", validate="one_to_one")
        assert frame["truth"].notna().all(), f"{name}: the attacker's truth does not cover the release"
        tables[name] = (dims, info["measure"], frame)
    return Seen(manifest["release_id"], manifest["profile"], tables, contrib)


def _published_bounds(v: np.ndarray, profile: dict) -> tuple[np.ndarray, np.ndarray]:
    """The counts the profile publishes as v (its own derivation: rounding, small band, zeros)."""
    base, t = int(profile["rounding_base"]), int(profile["threshold"])
    lo = np.maximum(v - base // 2, 0) if base > 1 else v.copy()
    hi = v + (base + 1) // 2 - 1 if base > 1 else v.copy()
    candidates_lo = np.where((lo >= 1) & (lo < t), t, lo)
    if profile["zeros"] == "suppress":
        candidates_lo = np.where(candidates_lo == 0, np.maximum(t, 1), candidates_lo)
    candidates_hi = np.where((hi >= 1) & (hi < t), np.where(candidates_lo == 0, 0, hi), hi)
    return candidates_lo.astype(float), candidates_hi.astype(float)


# ----------------------------------------------------------------------------------------------
# The attacker's programme
# ----------------------------------------------------------------------------------------------


@dataclass
class Programme:
    n: int = 0
    rows: list = field(default_factory=list)  # equations: list of (cols, coefs)
    lo: list = field(default_factory=list)
    hi: list = field(default_factory=list)
    truth: list = field(default_factory=list)
    width: list = field(default_factory=list)  # > 0: hidden, with its release's protection width
    band: list = field(default_factory=list)  # > 0: a difference between releases
    label: list = field(default_factory=list)

    def var(self, truth: float, lo: float, hi: float, label: str) -> int:
        self.lo.append(lo), self.hi.append(hi), self.truth.append(truth)
        self.width.append(0.0), self.band.append(0.0), self.label.append(label)
        self.n += 1
        return self.n - 1


def _key(measure: str, dims: list[str], row) -> str:
    return measure + "|" + "|".join(f"{d}={row[d]}" for d in sorted(dims) if row[d] != TOTAL)


def build(releases: list[Seen]) -> tuple[Programme, dict]:
    P = Programme()
    latest: dict[str, tuple[int, float]] = {}
    cell_var: dict[tuple[str, str], int] = {}
    for rel in releases:
        seen_here: dict[str, int] = {}
        for name, (dims, measure, frame) in rel.tables.items():
            keys = [_key(measure, dims, r) for r in frame.to_dict("records")]
            shown = frame["value"].to_numpy(dtype=float, na_value=np.nan)
            lo, hi = _published_bounds(np.nan_to_num(shown), rel.profile)
            qids = []
            for k, tv, s, a, b in zip(keys, frame["truth"].to_numpy(float), shown, lo, hi, strict=True):
                if k in seen_here:
                    q = seen_here[k]
                elif k in latest and latest[k][1] == tv:
                    q = latest[k][0]
                else:
                    q = P.var(tv, 1.0, np.inf, f"{rel.release_id}:{k}")
                    if k in latest:
                        old, old_t = latest[k]
                        d = P.var(tv - old_t, 0.0 if tv > old_t else -np.inf, np.inf if tv > old_t else 0.0, f"difference {rel.release_id}:{k}")
                        P.band[d] = float(rel.profile["threshold"]) - 1
                        P.width[d] = float(rel.profile["protection_width"])
                        P.rows.append(([q, old, d], [1.0, -1.0, -1.0]))
                seen_here[k] = q
                if np.isnan(s):
                    P.width[q] = max(P.width[q], float(rel.profile["protection_width"]))
                else:
                    P.lo[q], P.hi[q] = max(P.lo[q], a), min(P.hi[q], b)
                qids.append(q)
                cell_var[(rel.release_id, f"{name}|{k}")] = q
            _equations(P, frame, dims, np.asarray(qids))
        for k, q in seen_here.items():
            latest[k] = (q, P.truth[q])
    return P, cell_var


def _equations(P: Programme, frame: pd.DataFrame, dims: list[str], qids: np.ndarray) -> None:
    """Each Total cell equals the sum of the listed cells that differ from it in that dimension only."""
    for d in dims:
        others = [o for o in dims if o != d]
        key = frame[others].astype(str).agg("\x1f".join, axis=1) if others else pd.Series("", index=frame.index)
        is_total = (frame[d] == TOTAL).to_numpy()
        margins = dict(zip(key[is_total], qids[is_total], strict=True))
        parts: dict[str, list[int]] = {}
        for k, q in zip(key[~is_total], qids[~is_total], strict=True):
            parts.setdefault(k, []).append(int(q))
        for k, m in margins.items():
            if k in parts:
                P.rows.append(([int(m), *parts[k]], [1.0] + [-1.0] * len(parts[k])))


class Solver:
    """min / max of one variable at a time over ``A y = 0``, [L, U], per connected component."""

    def __init__(self, P: Programme, L: np.ndarray, U: np.ndarray):
        rows, cols, vals = [], [], []
        for r, (c, v) in enumerate(P.rows):
            rows += [r] * len(c)
            cols += c
            vals += v
        self.A = sp.csr_matrix((vals, (rows, cols)), shape=(len(P.rows), P.n))
        self.L, self.U = L, U
        free = U - L > 1e-9
        sub = self.A[:, free]
        graph = sp.bmat([[None, sub], [sub.T, None]], format="csr")
        _, labels = connected_components(graph, directed=False)
        self.comp = np.full(P.n, -1)
        self.comp[np.nonzero(free)[0]] = labels[self.A.shape[0] :]
        self.free = free
        self.cache: dict[int, tuple[highspy.Highs, np.ndarray]] = {}

    def _model(self, c: int) -> tuple[highspy.Highs, np.ndarray]:
        if c not in self.cache:
            cols = np.nonzero(self.comp == c)[0]
            fixed = ~self.free
            rows = np.unique(self.A[:, cols].tocoo().row)
            A = self.A[rows]
            rhs = -(A[:, fixed] @ self.L[fixed])
            Ac = A[:, cols].tocsc()
            h = highspy.Highs()
            h.silent()
            lp = highspy.HighsLp()
            lp.num_col_, lp.num_row_ = len(cols), len(rows)
            lp.col_cost_ = np.zeros(len(cols))
            lp.col_lower_ = self.L[cols]
            lp.col_upper_ = np.where(np.isinf(self.U[cols]), highspy.kHighsInf, self.U[cols])
            lp.col_lower_ = np.where(np.isinf(self.L[cols]), -highspy.kHighsInf, self.L[cols])
            lp.row_lower_ = lp.row_upper_ = rhs
            lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
            lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = Ac.indptr, Ac.indices, Ac.data
            lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = len(cols), len(rows)
            h.passModel(lp)
            self.cache[c] = (h, cols)
        return self.cache[c]

    def range(self, q: int) -> tuple[float, float]:
        if not self.free[q]:
            return self.L[q], self.U[q]
        h, cols = self._model(self.comp[q])
        j = int(np.searchsorted(cols, q))
        out = []
        for sense in (highspy.ObjSense.kMinimize, highspy.ObjSense.kMaximize):
            h.changeObjectiveSense(sense)
            h.changeColsCost(len(cols), np.arange(len(cols), dtype=np.int32), np.zeros(len(cols)))
            h.changeColCost(j, 1.0)
            h.run()
            status = h.getModelStatus()
            if status == highspy.HighsModelStatus.kOptimal:
                out.append(h.getInfo().objective_function_value)
            elif status in (highspy.HighsModelStatus.kUnbounded, highspy.HighsModelStatus.kUnboundedOrInfeasible):
                out.append(-np.inf if sense == highspy.ObjSense.kMinimize else np.inf)
            else:
                raise AssertionError(f"the attacker's programme is {h.modelStatusToString(status)}")
        return out[0], out[1]


# ----------------------------------------------------------------------------------------------
# The attack
# ----------------------------------------------------------------------------------------------


@dataclass
class Findings:
    tables: int = 0
    suppressed: int = 0
    releases: int = 0
    exact: int = 0
    narrow: int = 0
    small_differences: int = 0
    insider: int = 0
    examples: list = field(default_factory=list)

    def line(self) -> str:
        return (
            f"{self.tables} tables, {self.suppressed} suppressed, {self.releases} releases: {self.exact} exact, "
            f"{self.narrow} narrow, {self.small_differences} small differences, {self.insider} insider estimates within p"
        )


def attack(releases: list[Seen], p: float = 0.1) -> Findings:
    P, cell_var = build(releases)
    L, U = np.asarray(P.lo, float), np.asarray(P.hi, float)
    T = np.asarray(P.truth, float)
    width, band = np.asarray(P.width), np.asarray(P.band)
    f = Findings(tables=sum(len(r.tables) for r in releases), releases=len(releases))
    f.suppressed = sum(int(fr["value"].isna().sum()) for r in releases for _, _, fr in r.tables.values())
    solver = Solver(P, L, U)
    for q in np.nonzero((width > 0) | (band > 0))[0]:
        lo, hi = solver.range(q)
        assert lo - 1e-6 <= T[q] <= hi + 1e-6, f"{P.label[q]}: the attacker's range misses the true count"
        w = hi - lo
        if band[q] > 0:
            meets = (hi >= 1 and lo <= band[q]) or (lo <= -1 and hi >= -band[q])
            if w < width[q] - 1e-6 and meets:
                f.small_differences += 1
                f.examples.append(("small difference", P.label[q]))
        elif w < 1 - 1e-6:
            f.exact += 1
            f.examples.append(("exact", P.label[q]))
        elif w < width[q] - 1e-6:
            f.narrow += 1
            f.examples.append(("narrow", P.label[q]))
    f.insider = _insiders(releases[-1], P, cell_var, L, U, T, p, f)
    return f


def _insiders(rel: Seen, P: Programme, cell_var: dict, L: np.ndarray, U: np.ndarray, T: np.ndarray, p: float, f: Findings) -> int:
    """Each agency (and each receiving organisation) attacks the newest release with its own parts."""
    parts = []  # (variable, party, partition, part)
    for name, (dims, measure, frame) in rel.tables.items():
        c = rel.contributions.get(name)
        if c is None or c.empty:
            continue
        c = c.astype({d: str for d in dims})
        for r in range(len(dims) + 1):
            for rolled in combinations(dims, r):
                kept = [d for d in dims if d not in rolled]
                g = c.groupby([*kept, "agency_id", "partition"], observed=True)["value"].sum().reset_index()
                for d in rolled:
                    g[d] = TOTAL
                for row in g.to_dict("records"):
                    q = cell_var.get((rel.release_id, f"{name}|{_key(measure, dims, row)}"))
                    if q is not None and row["value"] > 0:
                        parts.append((q, row["agency_id"], row["partition"], float(row["value"])))
    frame = pd.DataFrame(parts, columns=["q", "party", "partition", "value"]).drop_duplicates(["q", "party", "partition"])
    hidden = {cell_var[k] for k in cell_var if k[0] == rel.release_id} & set(np.nonzero(np.asarray(P.width) > 0)[0])
    failures = _outsider_estimates(frame, hidden, Solver(P, L, U), T, P.label, p, f)
    by_cell = {q: g for q, g in frame[frame["q"].isin(hidden)].groupby("q")}
    for party, mine in frame.groupby("party"):
        own = np.zeros(P.n)
        sole = np.zeros(P.n, dtype=bool)
        for q, v in mine.groupby("q")["value"].max().items():
            own[q] = v
            sole[q] = abs(v - T[q]) < 1e-9
        Lj, Uj = np.where(own > 0, np.maximum(L, own), L), U.copy()  # a difference may be negative
        Lj[sole], Uj[sole] = T[sole], T[sole]
        solver = None
        for q, cell in sorted(by_cell.items()):
            if sole[q]:
                continue
            for part_name, g in cell.groupby("partition"):
                # The largest other part of the same partition: its upper estimate is max minus this
                # party's part of that partition (a part of another partition may overlap it: the
                # referrals an agency sent are among those the receiving organisation got). Only a
                # cell where the count itself would tell within p % can fail.
                others = g[g["party"] != party]
                if others.empty:
                    continue
                xc = others["value"].max()
                mine_here = g[g["party"] == party]["value"].sum()
                if T[q] - mine_here >= (1 + p) * xc:
                    continue
                solver = solver or Solver(P, Lj, Uj)
                lo, hi = solver.range(q)
                assert lo - 1e-6 <= T[q] <= hi + 1e-6, f"insider {party}: range misses the true count of {P.label[q]}"
                if hi - mine_here < (1 + p) * xc - 1e-6:
                    failures += 1
                    f.examples.append(("insider", f"{party} on {P.label[q]} ({part_name})"))
    return failures


def _outsider_estimates(frame: pd.DataFrame, hidden: set, solver: Solver, T: np.ndarray, labels: list, p: float, f: Findings) -> int:
    """Someone with no part in a hidden cell estimates its largest part by the cell's max: a cell of
    one contributor (or nearly) must stay p % above it."""
    failures = 0
    for (q, part_name), g in frame[frame["q"].isin(hidden)].groupby(["q", "partition"]):
        x1 = g["value"].max()
        if T[q] - x1 >= p * x1:
            continue
        lo, hi = solver.range(q)
        if hi < (1 + p) * x1 - 1e-6:
            failures += 1
            f.examples.append(("outsider", f"{labels[q]} ({part_name})"))
    return failures


# ----------------------------------------------------------------------------------------------
# Scenarios
# ----------------------------------------------------------------------------------------------


def _publish(root: Path, profile: str, seen: list[Seen], release_id: str) -> None:
    truth, contrib = _truth(root)
    try:
        r = build_release(root, profile, [PERIOD], release_id=release_id)
    except DvnetError as err:  # refused: nothing published, nothing to attack
        assert err.reason in ("AUDIT_FAILED", "AUDIT_INCOMPLETE", "TABLE_REFUSED"), err.reason
        return
    seen.append(_read(r.folder, truth, contrib))


def _add_records(root: Path, k: int, *, change: bool = False) -> None:
    """k more copies of one staged record of a small group (late records), or, with ``change``, one
    record moved to another risk level (a correction); the bundle's counts recomputed."""
    con = duckdb.connect(str(NetworkPaths(root).warehouse))
    try:
        bundle = con.execute("SELECT bundle_id FROM ledger WHERE mode = 'record' AND contract_id = 'service_episode' ORDER BY bundle_id LIMIT 1").fetchone()[0]
        staged = "staged_service_episode"
        row = con.execute(
            f"SELECT rowid FROM {staged} s WHERE bundle_id = ? ORDER BY (SELECT count(*) FROM {staged} t WHERE t.region = s.region AND t.service_type = s.service_type), rowid LIMIT 1",
            [bundle],
        ).fetchone()[0]
        if change:
            con.execute(f"UPDATE {staged} SET risk_level = CASE WHEN risk_level = 'high' THEN 'low' ELSE 'high' END WHERE rowid = ?", [row])
        else:
            for _ in range(k):
                con.execute(f"INSERT INTO {staged} SELECT * FROM {staged} WHERE rowid = ?", [row])
        contract = get_contract("service_episode")
        keys = con.execute("SELECT bundle_id, agency_id, period, contract_id FROM contribution_counts WHERE bundle_id = ? LIMIT 1", [bundle]).fetchone()
        con.execute("DELETE FROM contribution_counts WHERE bundle_id = ?", [bundle])
        con.execute(f"CREATE TEMP VIEW _b AS SELECT * FROM {staged} WHERE bundle_id = '{bundle}'")
        con.execute(
            f"INSERT INTO contribution_counts BY NAME SELECT ?::VARCHAR AS bundle_id, ?::VARCHAR AS agency_id, ?::VARCHAR AS period, ?::VARCHAR AS contract_id, * FROM ({counts_sql(contract, '_b')})",
            list(keys),
        )
    finally:
        con.close()


def _without_ledger(root: Path) -> None:
    con = duckdb.connect(str(NetworkPaths(root).warehouse))
    try:
        con.execute("DELETE FROM release_cells")
        con.execute("DELETE FROM releases")
    finally:
        con.close()


def _assert_clean(f: Findings) -> None:
    assert (f.exact, f.narrow, f.small_differences, f.insider) == (0, 0, 0, 0), f.examples[:10]


FULL = os.environ.get("DVNET_ADVERSARIAL_FULL") == "1"


@pytest.mark.parametrize("ledger", ["with ledger", "without ledger"] if FULL else ["without ledger"])
def test_no_release_of_the_population_gives_anything_away(attack_network, headline, ledger):
    """Every publish is dvnet's own (audited) one; refused ones publish nothing. The short run
    (``make test``) re-publishes under one more profile and after 3 late records; the full run
    (DVNET_ADVERSARIAL_FULL=1) under every profile and after 1, 2, 3 and 5, with and without the ledger."""
    root = attack_network
    seen: list[Seen] = []
    _publish(root, "dv-default", seen, "r1-dv-default")
    assert seen, "the first release is published"
    for profile in ("opensafely", "cms-11", "datashield-3") if FULL else ("opensafely",):
        _publish(root, profile, seen, f"r-{profile}")
    for k in (1, 2, 3, 5) if FULL else (3,):
        _add_records(root, k)
        if ledger == "without ledger":
            _without_ledger(root)
        _publish(root, "dv-default", seen, f"r-late-{k}")
    _add_records(root, 0, change=True)
    _publish(root, "dv-default", seen, "r-correction")
    findings = attack(seen)
    headline("disclosure attack", f"{findings.line()} ({ledger})")
    _assert_clean(findings)
