"""The one entry point: protect a release's tables under a profile and prove it with the audit.

Order of work: build the linked model (tables sharing margins, hierarchies) and join every earlier
release of the same periods (``history.py``); mark sensitive cells (small counts, dominance by the
p % rule, and cells an earlier release hid: once hidden, a cell whose count has not changed stays
hidden); refuse if the profile refuses; round published counts if the profile rounds; choose
complementary cells per independent block (exact MILP when the block is small enough, the
heuristic beyond or when the MILP runs out of time); audit the result as an outsider and as every
insider. ``protect`` raises ``AUDIT_FAILED`` (naming the cells) rather than return a release that
fails, and ``AUDIT_INCOMPLETE`` when the audit cannot finish.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from dvnet.anonymize.disclosure.audit import (
    COMPLEMENTARY,
    DOMINANCE,
    EARLIER,
    PRIMARY,
    PUBLISHED,
    REASONS,
    AttackerView,
    AuditReport,
    attacker_view,
    audit_targets,
    build_report,
    requirements,
)
from dvnet.anonymize.disclosure.attack import attacker_intervals
from dvnet.anonymize.disclosure.complementary import Problem, SolveInfo, blocks, information_cost
from dvnet.anonymize.disclosure.complementary_heuristic import heuristic
from dvnet.anonymize.disclosure.complementary_milp import solve_milp
from dvnet.anonymize.disclosure.dominance import contributions_of, dominance_mask
from dvnet.anonymize.disclosure.errors import INVALID_TABLE, DisclosureError
from dvnet.anonymize.disclosure.history import PublishedRelease, with_history
from dvnet.anonymize.disclosure.insiders import insiders_of, outsider_reach
from dvnet.anonymize.disclosure.intervals import IntervalResult
from dvnet.anonymize.disclosure.primary import refuse_tables, small_count_mask
from dvnet.anonymize.disclosure.profiles import Profile, get_profile
from dvnet.anonymize.disclosure.rounding import round_to_base
from dvnet.anonymize.disclosure.tables import PUBLISHED as PUBLISHED_MARK
from dvnet.anonymize.disclosure.tables import STATUS_COLUMN, SUPPRESSED, TOTAL, VALUE_COLUMN, LinkedModel, Table, build_model

METHODS = ("auto", "milp", "heuristic", "none")


@dataclass
class ReleaseStats:
    """What protection cost, counted in table cells (a shared margin counts once per table).

    Internal: the reasons and the true totals of hidden cells (information loss) are for the
    coordinator's record; ``public()`` is all an evaluator may see.
    """

    profile: str
    cells: int
    published: int
    suppressed: int
    primary: int
    dominance: int
    earlier: int
    complementary: int
    suppressed_total: int
    complementary_total: int
    method: str
    blocks: int
    milp_blocks: int
    heuristic_blocks: int
    solve_seconds: float
    audit_seconds: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def public(self) -> dict[str, int]:
        """What the release folder may say: how many cells, how many shown, how many hidden."""
        return {"cells": self.cells, "published": self.published, "suppressed": self.suppressed}


@dataclass
class ProtectedRelease:
    """Protected tables (``value`` nullable Int64, NA where suppressed; ``status`` one public mark),
    stats, audit; ``reasons`` (why each cell is hidden) and the true counts stay internal."""

    tables: dict[str, pd.DataFrame]
    profile: Profile
    stats: ReleaseStats
    audit: AuditReport
    sources: list[Table]
    reasons: dict[str, np.ndarray]

    def table(self, name: str) -> pd.DataFrame:
        return self.tables[name]

    def as_tables(self) -> list[Table]:
        """The protected tables as ``Table`` objects, e.g. to re-run ``audit`` over them."""
        return [Table(t.name, self.tables[t.name], t.dims, t.measure, t.description) for t in self.sources]

    def as_history(self, release_id: str) -> PublishedRelease:
        """This release as a later one must be audited with: what it published, and its truth."""
        truth = {t.name: t.frame[VALUE_COLUMN].to_numpy(dtype=float) for t in self.sources}
        return PublishedRelease(release_id, self.profile, tuple(self.as_tables()), truth)

    def record(self) -> dict[str, pd.DataFrame]:
        """The coordinator's record of each table: coordinates, true count, published value, reason."""
        out = {}
        for t in self.sources:
            frame = self.tables[t.name][list(t.dims)].copy()
            frame["true_value"] = t.frame[VALUE_COLUMN].to_numpy()
            frame["published_value"] = self.tables[t.name][VALUE_COLUMN].to_numpy()
            frame["reason"] = self.reasons[t.name]
            out[t.name] = frame
        return out


@dataclass
class Prepared:
    """Everything protection needs, before any complementary cell is chosen."""

    profile: Profile
    tables: list[Table]
    history: list[PublishedRelease]
    model: LinkedModel
    problem: Problem
    kinds: np.ndarray
    shown: np.ndarray
    view: AttackerView


def prepare(
    tables: Sequence[Table],
    profile: str | Profile = "dv-default",
    *,
    contributions: pd.DataFrame | Mapping[str, pd.DataFrame] | None = None,
    history: Sequence[PublishedRelease] | None = None,
) -> Prepared:
    """Model (with history), sensitive cells, published values, insiders and the attacker's view."""
    profile = get_profile(profile)
    tables = list(tables)
    for t in tables:
        if t.frame[VALUE_COLUMN].isna().any():
            raise DisclosureError(INVALID_TABLE, f"table {t.name} has missing counts; protect() needs the true counts", table=t.name)
    history = list(history or [])
    model = with_history(build_model(tables), history, profile)
    truth = model.truth
    released = model.in_release
    small = released & small_count_mask(np.nan_to_num(truth, nan=-1), profile)
    contrib = contributions_of(model, tables, contributions) if contributions is not None else None
    dom = dominance_mask(model, contrib, profile.dominance_p) & ~small if contrib is not None else np.zeros(model.n, dtype=bool)
    refuse_tables(
        {t.name: (int(small[model.cell_qids[t.name]].sum()), int(dom[model.cell_qids[t.name]].sum())) for t in tables}, profile
    )
    earlier = released & model.hidden_before & ~small & ~dom
    kinds = np.full(model.n, PUBLISHED, dtype=np.int64)
    kinds[small] = PRIMARY
    kinds[dom] = DOMINANCE
    kinds[earlier] = EARLIER
    sensitive = small | dom | earlier
    shown = np.where(released, round_to_base(np.nan_to_num(truth, nan=0).astype(np.int64), profile.rounding_base), np.nan)
    view = attacker_view(model, shown, profile)
    reqs = requirements(model, profile)
    reqs.up = outsider_reach(contrib, truth, profile.dominance_p)
    problem = Problem(
        M=model.M,
        view=view,
        truth=truth,
        sensitive=sensitive,
        can_suppress=released & ~sensitive & ~model.pinned,
        required=reqs.width,
        cost=information_cost(truth, model.multiplicity),
        reqs=reqs,
        extra_targets=(model.hidden_before & ~released) | (model.band > 0),
        insiders=insiders_of(contrib, truth, small, model.n, profile.dominance_p),
    )
    return Prepared(profile, tables, history, model, problem, kinds, shown, view)


def protect(
    tables: Sequence[Table],
    profile: str | Profile = "dv-default",
    *,
    contributions: pd.DataFrame | Mapping[str, pd.DataFrame] | None = None,
    history: Sequence[PublishedRelease] | None = None,
    method: str = "auto",
    milp_max_cells: int = 1500,
    milp_time_limit: float = 20.0,
    time_limit: float = 600.0,
    audit_time_limit: float | None = 600.0,
    exact_limit: int = 400,
    check: bool = True,
) -> ProtectedRelease:
    """Protect ``tables`` (true counts) under ``profile``; the result has passed the LP audit.

    ``contributions``: per-party counts of interior cells for the p % rule and the insiders (a
    frame with a ``table`` column, or a mapping by table name). ``history``: every earlier release
    (``PublishedRelease``); those sharing cells with this one are audited jointly with it.
    ``method``: "auto" (MILP for blocks of at most ``milp_max_cells`` cells, heuristic beyond or on
    MILP time-out), "milp", "heuristic", or "none" (sensitive cells only, for comparison; it is then
    only published if it happens to pass). ``check=False`` returns a failing release instead of
    raising ``AUDIT_FAILED`` / ``AUDIT_INCOMPLETE`` (benchmarks, diagnostics).
    """
    if method not in METHODS:
        raise DisclosureError(INVALID_TABLE, f"unknown protection method; choose one of {', '.join(METHODS)}")
    t_start = time.perf_counter()
    prep = prepare(tables, profile, contributions=contributions, history=history)
    profile, model, problem, kinds = prep.profile, prep.model, prep.problem, prep.kinds
    suppressed, used = _complementary_cells(problem, method, t_start, milp_max_cells, milp_time_limit, time_limit, exact_limit)
    kinds[suppressed & (kinds == PUBLISHED)] = COMPLEMENTARY
    solve_seconds = time.perf_counter() - t_start

    report = final_audit(prep, suppressed, time_limit=audit_time_limit, exact_limit=exact_limit)
    out_tables, reasons, counts, supp_total, comp_total = _published_tables(prep.tables, model, kinds, prep.shown)
    stats = ReleaseStats(
        profile=profile.name,
        cells=sum(t.n_cells for t in prep.tables),
        published=counts[PUBLISHED],
        suppressed=sum(v for k, v in counts.items() if k != PUBLISHED),
        primary=counts[PRIMARY],
        dominance=counts[DOMINANCE],
        earlier=counts[EARLIER],
        complementary=counts[COMPLEMENTARY],
        suppressed_total=supp_total,
        complementary_total=comp_total,
        method=_method_label(method, used),
        blocks=len(used),
        milp_blocks=used.count("milp"),
        heuristic_blocks=used.count("heuristic"),
        solve_seconds=round(solve_seconds, 3),
        audit_seconds=round(report.seconds, 3),
    )
    release = ProtectedRelease(out_tables, profile, stats, report, prep.tables, reasons)
    if check:
        report.raise_if_failed()
    return release


def final_audit(prep: Prepared, suppressed: np.ndarray, *, time_limit: float | None, exact_limit: int = 400) -> AuditReport:
    """The gate: every hidden quantity as the outsider sees it, then as each insider does."""
    model, problem = prep.model, prep.problem
    t0 = time.perf_counter()
    runs = []
    for who in problem.attackers():
        remaining = None if time_limit is None else max(time_limit - (time.perf_counter() - t0), 0.0)
        targets = who.targets(suppressed)
        L, U = who.view.bounds(suppressed)
        if remaining is not None and remaining <= 0:
            result = IntervalResult.unchecked(targets)
        else:
            result = attacker_intervals(
                model.M, L, U, targets, who.reqs.take(targets), truth=model.truth, report_exact=True, exact_limit=exact_limit, time_limit=remaining
            )
        runs.append(("outsider" if who.attacker is None else who.attacker.party, result))
    return build_report(model, prep.kinds, runs, prep.profile.rounding_base, len(model.joined))


def _complementary_cells(
    problem: Problem, method: str, t_start: float, milp_max_cells: int, milp_time_limit: float, time_limit: float, exact_limit: int
) -> tuple[np.ndarray, list[str]]:
    """The suppressed mask (sensitive + complementary) and, per block, the method that solved it.

    A MILP pattern protects the sensitive cells from the outsider; when a complementary cell it
    chose is itself pinned, or an insider sees too much, the heuristic continues from it.
    """
    suppressed = problem.sensitive.copy()
    used: list[str] = []
    if method == "none":
        return suppressed, used
    for block in blocks(problem):
        sub = problem.restrict(block)
        remaining = max(time_limit - (time.perf_counter() - t_start), 1.0)
        result = None
        if method == "milp" or (method == "auto" and int(sub.view.in_release.sum()) <= milp_max_cells):
            result, _ = solve_milp(sub, time_limit=min(milp_time_limit, remaining) if method == "auto" else remaining)
            if result is not None and _passes(sub, result, exact_limit):
                used.append("milp")
            elif result is not None:
                result, _ = heuristic(sub, suppressed=result, time_limit=max(time_limit - (time.perf_counter() - t_start), 1.0), exact_limit=exact_limit)
                used.append("milp+heuristic")
        if result is None:
            result, _ = heuristic(sub, time_limit=max(time_limit - (time.perf_counter() - t_start), 1.0), exact_limit=exact_limit)
            used.append("heuristic")
        suppressed[block] = result
    return suppressed, used


def _passes(problem: Problem, suppressed: np.ndarray, exact_limit: int) -> bool:
    return all(not who.audit(suppressed, exact_limit=exact_limit).failing.any() for who in problem.attackers())


def _published_tables(
    tables: list[Table], model: LinkedModel, kinds: np.ndarray, shown: np.ndarray
) -> tuple[dict[str, pd.DataFrame], dict[str, np.ndarray], dict[int, int], int, int]:
    """Each table as published (value NA and the one mark where suppressed), each cell's reason
    (internal), cells per reason, and the true totals of the suppressed and of the complementary
    cells (internal: information loss)."""
    out_tables: dict[str, pd.DataFrame] = {}
    reasons: dict[str, np.ndarray] = {}
    counts = dict.fromkeys(REASONS, 0)
    supp_total = comp_total = 0
    for t in tables:
        q = model.cell_qids[t.name]
        k = kinds[q]
        frame = t.frame[list(t.dims)].copy()
        values = pd.array(shown[q].astype(np.int64), dtype="Int64")
        values[k != PUBLISHED] = pd.NA
        frame[VALUE_COLUMN] = values
        frame[STATUS_COLUMN] = np.where(k == PUBLISHED, PUBLISHED_MARK, SUPPRESSED)
        out_tables[t.name] = frame
        reasons[t.name] = np.array([REASONS[int(c)] for c in k], dtype=object)
        for code in counts:
            counts[code] += int((k == code).sum())
        supp_total += int(np.nansum(model.truth[q][k != PUBLISHED]))
        comp_total += int(np.nansum(model.truth[q][k == COMPLEMENTARY]))
    return out_tables, reasons, counts, supp_total, comp_total


def _method_label(method: str, used: list[str]) -> str:
    if method == "none":
        return "primary only"
    if not used:
        return "none needed"
    return "+".join(sorted(set(used)))


def table_from_counts(name: str, frame: pd.DataFrame, dims: Sequence[str], measure: str, description: str = "") -> Table:
    """Convenience: a ``Table`` from a tidy frame with ``Total`` margins and ``value``."""
    return Table(name, frame, tuple(dims), measure, description)


__all__ = ["METHODS", "ProtectedRelease", "ReleaseStats", "TOTAL", "protect", "table_from_counts", "SolveInfo"]
