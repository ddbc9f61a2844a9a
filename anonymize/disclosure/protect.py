"""The one entry point: protect a release's tables under a profile and prove it with the audit.

Order of work: build the linked model (tables sharing margins, hierarchies, earlier releases);
mark sensitive cells (small counts, then agency dominance); refuse if the profile refuses; round
published counts if the profile rounds; choose complementary cells per independent block (exact
MILP when the block is small enough, the heuristic beyond or when the MILP runs out of time);
audit the result. ``protect`` raises ``AUDIT_FAILED`` rather than return a release that fails.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp

from dvnet.anonymize.disclosure.attack import ComponentMemo, attacker_intervals
from dvnet.anonymize.disclosure.audit import (
    COMPLEMENTARY,
    DIFFERENCE,
    DOMINANCE,
    EARLIER,
    MORE_TIME_HINT,
    PRIMARY,
    PUBLISHED,
    REASONS,
    STATUS_LABELS,
    WITHHELD,
    AttackerView,
    AuditReport,
    attacker_view,
    build_report,
    required_widths,
)
from dvnet.anonymize.disclosure.complementary import Problem, SolveInfo, blocks, information_cost
from dvnet.anonymize.disclosure.complementary_heuristic import heuristic
from dvnet.anonymize.disclosure.complementary_milp import solve_milp
from dvnet.anonymize.disclosure.dominance import Contributors, category_mask, contributors, dominance_mask
from dvnet.anonymize.disclosure.errors import AUDIT_FAILED, AUDIT_INCOMPLETE, INVALID_TABLE, DisclosureError
from dvnet.anonymize.disclosure.insiders import insiders_short, repair_insiders
from dvnet.anonymize.disclosure.intervals import EXACT_WIDTH
from dvnet.anonymize.disclosure.limits import TIME_LIMIT_SECONDS
from dvnet.anonymize.disclosure.primary import refuse_tables, small_count_mask
from dvnet.anonymize.disclosure.profiles import Profile, get_profile
from dvnet.anonymize.disclosure.rounding import round_to_base
from dvnet.anonymize.disclosure.seen_ranges import SeenRanges
from dvnet.anonymize.disclosure.singletons import carry_owners, exposed_rows, protect_singletons
from dvnet.anonymize.disclosure.tables import STATUS_COLUMN, TOTAL, VALUE_COLUMN, EarlierCell, LinkedModel, Table, build_model, distinct_published

METHODS = ("auto", "milp", "heuristic", "none")


@dataclass
class ReleaseStats:
    """What protection cost, counted in table cells (a shared margin counts once per table).

    For the coordinator only: the counts per reason and the totals of the suppressed true values
    (information loss) go to the internal record, never into a release folder; ``public()`` is
    what a release may say."""

    profile: str
    cells: int
    published: int
    primary: int
    dominance: int
    complementary: int
    earlier: int
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

    def public(self) -> dict[str, object]:
        """What the release folder may say: no reason, no statistic of suppressed true values."""
        return {"profile": self.profile, "cells": self.cells, "published": self.published, "suppressed": self.cells - self.published,
                "method": self.method}


@dataclass
class ProtectedRelease:
    """Protected tables (``value`` nullable Int64, NA where suppressed; ``status`` "published" or
    "suppressed"), stats, audit. ``reasons``: per table, each row's reason (``REASONS`` labels);
    ``owners``: per table, the one agency that contributes each row where one alone does (else
    None). Both for the coordinator's internal record only."""

    tables: dict[str, pd.DataFrame]
    profile: Profile
    stats: ReleaseStats
    audit: AuditReport
    sources: list[Table]
    reasons: dict[str, np.ndarray]
    owners: dict[str, list[str | None]] = field(default_factory=dict)

    def table(self, name: str) -> pd.DataFrame:
        return self.tables[name]

    def as_tables(self) -> list[Table]:
        """The protected tables as ``Table`` objects, e.g. to re-run ``audit`` over them."""
        return [Table(t.name, self.tables[t.name], t.dims, t.measure, t.description) for t in self.sources]

    def ledger_cells(self, release_id: str) -> list[EarlierCell]:
        """Every cell of this release as the ledger should keep it (value None where suppressed;
        the reason and the true count for the coordinator's record only)."""
        out = []
        for t in self.sources:
            frame = self.tables[t.name]
            dims = frame[list(t.dims)].astype(str).to_numpy()
            values = frame[VALUE_COLUMN].to_numpy(dtype=object, na_value=None)
            truths = t.frame[VALUE_COLUMN].to_numpy(dtype=object, na_value=None)
            owners = self.owners.get(t.name) or [None] * len(truths)
            for coords, v, why, true, alone in zip(dims, values, self.reasons[t.name], truths, owners, strict=True):
                out.append(
                    EarlierCell(
                        measure=t.measure,
                        coords=dict(zip(t.dims, coords, strict=True)),
                        value=None if v is None else int(v),
                        rounding_base=self.profile.rounding_base,
                        table=f"{release_id}/{t.name}",
                        reason=str(why),
                        suppressed_floor=self.profile.suppressed_floor,
                        protection_width=self.profile.protection_width,
                        truth=None if true is None else int(true),
                        owner=alone,
                    )
                )
        return out


@dataclass
class Prepared:
    """Everything protection needs, before any complementary cell is chosen."""

    profile: Profile
    tables: list[Table]
    earlier: list[EarlierCell]
    model: LinkedModel
    problem: Problem
    kinds: np.ndarray
    shown: np.ndarray
    view: AttackerView
    owner: np.ndarray  # per quantity, the one agency contributing to it (a singleton), else -1
    by_agency: sp.csr_matrix | None = None  # quantities x agencies: each agency's own count
    agencies: list[str] = field(default_factory=list)  # agency id of each code of ``owner``

    @cached_property
    def by_agency_cols(self) -> sp.csc_matrix | None:
        """``by_agency`` by column: each agency's own counts at hand (``insiders.insider_view``)."""
        return None if self.by_agency is None else self.by_agency.tocsc()

    @property
    def unknown(self) -> np.ndarray:
        """Quantities outside this release that no earlier release published exactly."""
        return ~self.model.in_release & ~self.model.pinned



def prepare(
    tables: Sequence[Table],
    profile: str | Profile = "dv-default",
    *,
    contributions: pd.DataFrame | Mapping[str, pd.DataFrame] | None = None,
    earlier: Sequence[EarlierCell] | None = None,
    sole_categories: Mapping[str, Sequence[str]] | None = None,
    primary: Mapping[str, Sequence[bool]] | None = None,
) -> Prepared:
    """Model, sensitive cells (primary, dominance), published values and the attacker's view.

    ``sole_categories``: per dimension, its categories with a single member organisation (their
    cells are that organisation's caseload: dominance 100 %). ``primary``: per table, one flag per
    row of its frame: cells sensitive whatever their count (cells a policy never publishes;
    tau-ARGUS's a-priori unsafe cells, sdcTable's status "u"), protected like small counts."""
    profile = get_profile(profile)
    tables = list(tables)
    for t in tables:
        if t.frame[VALUE_COLUMN].isna().any():
            raise DisclosureError(INVALID_TABLE, f"table {t.name} has missing counts; protect() needs the true counts", table=t.name)
    earlier = list(earlier or [])
    model = build_model(tables, earlier)
    truth = model.truth
    released = model.in_release
    marked = _marked(model, tables, primary or {})
    if profile.zeros == "publish" and (marked & (np.nan_to_num(truth, nan=1) == 0)).any():
        raise DisclosureError(INVALID_TABLE, f"cells marked primary hold a zero, which profile {profile.name} publishes (every suppressed cell is at least 1)")
    small = released & small_count_mask(np.nan_to_num(truth, nan=-1), profile)
    dom = category_mask(model, tables, sole_categories or {}) & ~small
    owner, by_agency, agencies, who = np.full(model.n, -1, dtype=np.int64), None, [], None
    if contributions is not None:
        who = contributors(model, tables, contributions)
        dom |= dominance_mask(model, who, profile.dominance_share, profile.p_percent) & ~small
        owner, by_agency, agencies = who.owner, who.by_agency, who.agencies
    owner, agencies = carry_owners(owner, agencies, model.earlier_owner, model.link_qids, truth)
    small |= released & marked & ~dom  # a marked cell an agency dominates keeps the dominance width
    refuse_tables(
        {t.name: (int(small[model.cell_qids[t.name]].sum()), int(dom[model.cell_qids[t.name]].sum())) for t in tables}, profile
    )
    kinds = np.full(model.n, PUBLISHED, dtype=np.int64)
    # What earlier releases of the period promised stays promised, whatever this profile says: a
    # cell they suppressed as sensitive is suppressed again, one they withheld to protect others
    # is not pinned now (unless another release already showed it), and a difference between a
    # changed earlier release and this one that is a small count is protected like a small cell.
    withheld = (model.earlier_required > 0) & ~model.pinned
    if profile.zeros == "publish":  # a suppressed cell is never a zero then: a zero is shown
        withheld &= np.nan_to_num(truth, nan=1) > 0
    kinds[withheld] = WITHHELD
    kinds[model.earlier_required > EXACT_WIDTH] = EARLIER
    kinds[model.difference & small_count_mask(np.nan_to_num(truth, nan=-1), profile) & (truth > 0)] = DIFFERENCE
    kinds[small] = PRIMARY
    kinds[dom] = DOMINANCE
    sensitive = kinds != PUBLISHED
    shown = np.where(released, round_to_base(np.nan_to_num(truth, nan=0).astype(np.int64), profile.rounding_base), np.nan)
    view = attacker_view(model, shown, profile)
    # The attacker knows the zero rule: where zeros are published, no zero is ever suppressed.
    nonzero = np.nan_to_num(truth, nan=0) > 0 if profile.zeros == "publish" else np.ones(model.n, dtype=bool)
    problem = Problem(
        M=model.M,
        view=view,
        truth=truth,
        sensitive=sensitive,
        can_suppress=released & ~sensitive & ~model.pinned & nonzero,
        required=np.maximum(required_widths(kinds, truth, profile), np.where(sensitive, model.earlier_required, 0.0)),
        cost=information_cost(truth, model.multiplicity),
        # A small count the p % rule also flags keeps both protections (tau-ARGUS: the larger level).
        top=np.where(np.isin(kinds, (PRIMARY, DOMINANCE)), upper_levels(who, truth, profile.p_percent), -np.inf),
    )
    return Prepared(profile, tables, earlier, model, problem, kinds, shown, view, owner, by_agency, agencies)


def _marked(model: LinkedModel, tables: list[Table], primary: Mapping[str, Sequence[bool]]) -> np.ndarray:
    """The quantities of the cells ``primary`` flags (``prepare``)."""
    names = {t.name: t for t in tables}
    out = np.zeros(model.n, dtype=bool)
    for name, flags in primary.items():
        if name not in names:
            raise DisclosureError(INVALID_TABLE, f"cells marked primary in a table not in the release: {name}", table=name)
        flags = np.asarray(flags, dtype=bool)
        if flags.shape != (names[name].n_cells,):
            raise DisclosureError(INVALID_TABLE, f"table {name}: {len(flags)} primary flag(s) for {names[name].n_cells} cells", table=name)
        out[model.cell_qids[name][flags]] = True
    return out


def upper_levels(who: Contributors | None, truth: np.ndarray, p_percent: float | None) -> np.ndarray:
    """The value each cell's range must reach upwards under the p % rule (tau-ARGUS's upper
    protection level, ``p/100 x1 - (total - x1 - x2)`` above the true count): the second-largest
    agency, subtracting its own count from the highest value it can work out, must not come within
    p % above the largest one's. -inf where there is no such level (no contributions, no p)."""
    if who is None or p_percent is None:
        return np.full(len(truth), -np.inf)
    upl = p_percent / 100.0 * who.top1 - (who.total - who.top1 - who.top2)
    return np.where(np.isfinite(upl) & (upl > 0), truth + upl, -np.inf)


def protect(
    tables: Sequence[Table],
    profile: str | Profile = "dv-default",
    *,
    contributions: pd.DataFrame | Mapping[str, pd.DataFrame] | None = None,
    earlier: Sequence[EarlierCell] | None = None,
    sole_categories: Mapping[str, Sequence[str]] | None = None,
    primary: Mapping[str, Sequence[bool]] | None = None,
    method: str = "auto",
    milp_max_cells: int = 1500,
    milp_time_limit: float = 20.0,
    time_limit: float = TIME_LIMIT_SECONDS,
    audit_time_limit: float | None = TIME_LIMIT_SECONDS,
    exact_limit: int = 400,
    check: bool = True,
) -> ProtectedRelease:
    """Protect ``tables`` (true counts) under ``profile``; the result has passed the LP audit.

    ``contributions``: per-agency counts of interior cells for the dominance rule (a frame with a
    ``table`` column, or a mapping by table name). ``earlier``: the ledger's cells of earlier
    releases. ``sole_categories``: per dimension, the categories with one member organisation.
    ``primary``: per table, one flag per row: cells protected as primary whatever their count.
    ``method``: "auto" (MILP for blocks of at most ``milp_max_cells`` cells, heuristic
    beyond; a block whose MILP has not converged in its rounds of cuts (``milp_rounds``) is completed by
    the heuristic from the MILP's last pattern), "milp" (rounds until converged or
    ``time_limit``), "heuristic", or "none" (primary suppression only, for
    comparison; it is then only published if it happens to pass). ``check=False`` returns a
    failing release instead of raising ``AUDIT_FAILED`` (benchmarks, diagnostics).
    """
    if method not in METHODS:
        raise DisclosureError(INVALID_TABLE, f"unknown protection method; choose one of {', '.join(METHODS)}")
    t_start = time.perf_counter()
    prep = prepare(tables, profile, contributions=contributions, earlier=earlier, sole_categories=sole_categories, primary=primary)
    profile, model, problem, kinds = prep.profile, prep.model, prep.problem, prep.kinds
    seen = SeenRanges.nothing(model.M, model.n)
    suppressed, used = _complementary_cells(problem, method, t_start, milp_max_cells, milp_time_limit, time_limit, exact_limit, seen)
    if method != "none":
        suppressed = _protect_singletons(prep, suppressed, used, t_start + time_limit, exact_limit)
    solve_seconds = time.perf_counter() - t_start
    report, suppressed, insiders = _audit_until_passed(prep, suppressed, kinds, method, audit_time_limit, exact_limit, used, t_start + time_limit, seen)
    out_of_time = method != "none" and time.perf_counter() > t_start + time_limit
    kinds[suppressed & (kinds == PUBLISHED)] = COMPLEMENTARY

    out_tables, counts, supp_total, comp_total = _published_tables(prep.tables, model, kinds, prep.shown)
    stats = ReleaseStats(
        profile=profile.name,
        cells=sum(t.n_cells for t in prep.tables),
        published=counts[PUBLISHED],
        primary=counts[PRIMARY],
        dominance=counts[DOMINANCE],
        complementary=counts[COMPLEMENTARY],
        earlier=counts[EARLIER] + counts[WITHHELD],
        suppressed_total=supp_total,
        complementary_total=comp_total,
        method=_method_label(method, used),
        blocks=len(used),
        milp_blocks=used.count("milp"),
        heuristic_blocks=used.count("heuristic"),
        solve_seconds=round(solve_seconds, 3),
        audit_seconds=round(report.seconds, 3),
    )
    reasons = {t.name: np.array([REASONS[int(k)] for k in kinds[model.cell_qids[t.name]]], dtype=object) for t in prep.tables}
    owners = {t.name: [prep.agencies[o] if o >= 0 else None for o in prep.owner[model.cell_qids[t.name]]] for t in prep.tables}
    release = ProtectedRelease(out_tables, profile, stats, report, prep.tables, reasons, owners)
    if check:
        if out_of_time and not report.passed:  # still failing when the time ran out: time is what to change
            unproven = report.n_exact + report.n_narrow + report.n_unchecked
            raise DisclosureError(
                AUDIT_INCOMPLETE, f"protection did not finish in the time allowed: {unproven} suppressed cell(s) not yet proven safe", hint=MORE_TIME_HINT,
                unproven=unproven,
            )
        report.raise_if_failed()
        _refuse_exposed_singletons(model.M, suppressed, prep.owner, prep.unknown)
        if insiders:
            raise DisclosureError(
                AUDIT_FAILED,
                f"{insiders} suppressed cell(s) an agency, knowing its own counts, could narrow below their protection "
                "(a small count's width, or p % of another agency's count)",
                hint="publish coarser categories, or fewer tables sharing these margins",
                insider_cells=insiders,
            )
    return release


def _refuse_exposed_singletons(M, suppressed: np.ndarray, owner: np.ndarray, unknown: np.ndarray) -> None:
    """``AUDIT_FAILED`` when an agency could still recalculate a suppressed cell from one it alone
    contributes (no cell was left to add in that equation)."""
    rows = exposed_rows(M, suppressed, owner, unknown)
    if len(rows):
        raise DisclosureError(
            AUDIT_FAILED,
            f"{len(rows)} margin equation(s) let an agency recalculate a suppressed cell by subtracting a cell it alone contributes",
            hint="publish coarser categories, or fewer tables sharing these margins",
            singleton_equations=len(rows),
        )


#: Rounds of repair after the final audit. An insider's shortfall closes in one (its own dual cuts,
#: ``insiders.repair_insiders``: 34, 0 short cells on the demo period); cells added there can leave a
#: complementary cell exact, or a singleton exposed, for the next round. A round costs an audit and an
#: insider check, and only a pattern that needs it pays for it.
REPAIR_ROUNDS = 6


def _audit_until_passed(
    prep: Prepared, suppressed: np.ndarray, kinds: np.ndarray, method: str, audit_time_limit: float | None, exact_limit: int, used: list[str],
    deadline: float, seen: SeenRanges | None = None,
) -> tuple[AuditReport, np.ndarray, int]:
    """The final audit of the pattern, repaired until it passes its own audit (or rounds run out).
    Also how many suppressed cells an insider still narrows (``insiders.insiders_short``).

    The pattern must pass the very audit that gates publication: a complementary cell the
    attacker can pin exactly hides nothing, so it is published (what it shows is known anyway);
    a sensitive cell left exact or narrow gets further complementary cells (the heuristic, seeded
    with the pattern). If it still fails, ``protect`` refuses (``AUDIT_FAILED``).

    ``seen``: values the heuristic's audits saw in feasible points; they settle cells here only
    where every bound of this audit contains the bounds they were found under (``seen_ranges.py``)."""
    model, problem = prep.model, prep.problem
    suppressed = suppressed.copy()
    memo = ComponentMemo()  # an agency's components the last repair did not touch are not solved again
    for attempt in range(REPAIR_ROUNDS + 1):
        current = kinds.copy()
        current[suppressed & (current == PUBLISHED)] = COMPLEMENTARY
        targets = np.nonzero((suppressed & model.in_release) | (problem.sensitive & ~model.in_release))[0]
        L, U = prep.view.bounds(suppressed)
        required = problem.required[targets]
        result = attacker_intervals(
            model.M, L, U, targets, required, truth=model.truth, report_exact=True, exact_limit=exact_limit, time_limit=audit_time_limit, seen=seen,
            top=problem.top[targets],
        )
        report = build_report(model, current[targets], result, required, prep.profile.rounding_base, distinct_published(prep.earlier))
        failing = result.failed()
        insiders = insiders_short(prep, suppressed, kinds, exact_limit, audit_time_limit, memo=memo)
        short = len(insiders.cells)
        if (not failing.any() and not short) or attempt == REPAIR_ROUNDS or method == "none" or time.perf_counter() > deadline:
            return report, suppressed, short  # repairs share protect's time limit: past it, the failing report refuses
        exact_comp = targets[(result.verdict == "exact") & ~problem.sensitive[targets]]
        suppressed[exact_comp] = False
        # An agency's shortfall is closed in its own programme (its dual cuts), not guessed from the outsider's.
        if short:
            repair_insiders(prep, suppressed, insiders, exact_limit, audit_time_limit)
        exposed = targets[failing & problem.sensitive[targets]]
        if len(exposed):
            block = np.unique(np.concatenate([b for b in blocks(problem) if np.isin(exposed, b).any()]))
            sub = problem.restrict(block)
            more, _ = heuristic(sub, suppressed=suppressed[block], time_limit=max(deadline - time.perf_counter(), 1.0), exact_limit=exact_limit)
            suppressed[block] = more
            used.append("heuristic")
        suppressed = _protect_singletons(prep, suppressed, used, deadline, exact_limit)
    return report, suppressed, 0


def _protect_singletons(prep: Prepared, suppressed: np.ndarray, used: list[str], deadline: float, exact_limit: int) -> np.ndarray:
    """The singleton rule (``singletons.py``): the cells it adds must themselves not be exact, so
    they join the sensitive cells (width 1) and the heuristic protects them, seeded with the pattern."""
    problem = prep.problem
    for _ in range(REPAIR_ROUNDS):
        added = protect_singletons(problem.M, suppressed, prep.owner, problem.can_suppress, problem.cost, prep.unknown) & ~suppressed
        if not added.any():
            break
        problem.sensitive[added] = True
        problem.can_suppress[added] = False
        problem.required[added] = np.maximum(problem.required[added], EXACT_WIDTH)
        suppressed = suppressed | added
        block = np.unique(np.concatenate([b for b in blocks(problem) if added[b].any()]))
        more, _ = heuristic(problem.restrict(block), suppressed=suppressed[block], time_limit=max(deadline - time.perf_counter(), 1.0), exact_limit=exact_limit)
        suppressed[block] = more
        used.append("heuristic")
    return suppressed


def _complementary_cells(
    problem: Problem, method: str, t_start: float, milp_max_cells: int, milp_time_limit: float, time_limit: float, exact_limit: int,
    seen: SeenRanges | None = None,
) -> tuple[np.ndarray, list[str]]:
    """The suppressed mask (sensitive + complementary) and, per block, the method that solved it.
    ``seen`` takes in what the heuristic's audits saw, block by block."""
    suppressed = problem.sensitive.copy()
    used: list[str] = []
    if method == "none":
        return suppressed, used
    for block in blocks(problem):
        sub = problem.restrict(block)
        remaining = max(time_limit - (time.perf_counter() - t_start), 1.0)
        result = seed = None
        if method == "milp" or (method == "auto" and int(sub.view.in_release.sum()) <= milp_max_cells):
            auto = method == "auto"  # "milp" rounds until converged, within protect's whole time limit
            result, info = solve_milp(sub, time_limit=min(milp_time_limit, remaining) if auto else remaining, rounds=None if auto else sys.maxsize)
            if result is not None:
                used.append("milp")
            elif info.note in ("rounds", "time limit"):
                seed = info.pattern  # the cheapest pattern meeting every cut so far: the heuristic completes it
        if result is None:
            part = SeenRanges()
            result, _ = heuristic(sub, suppressed=seed, time_limit=max(time_limit - (time.perf_counter() - t_start), 1.0), exact_limit=exact_limit, seen=part)
            if seen is not None:
                seen.absorb(part, block)
            used.append("heuristic")
        suppressed[block] = result
    return suppressed, used


def _published_tables(
    tables: list[Table], model: LinkedModel, kinds: np.ndarray, shown: np.ndarray
) -> tuple[dict[str, pd.DataFrame], dict[int, int], int, int]:
    """Each table as published (value NA where suppressed, status), cells per status code, and the
    true totals of the suppressed and of the complementary cells."""
    out_tables: dict[str, pd.DataFrame] = {}
    counts = dict.fromkeys((PUBLISHED, PRIMARY, DOMINANCE, COMPLEMENTARY, EARLIER, WITHHELD), 0)
    supp_total = comp_total = 0
    for t in tables:
        q = model.cell_qids[t.name]
        k = kinds[q]
        frame = t.frame[list(t.dims)].copy()
        values = pd.array(shown[q].astype(np.int64), dtype="Int64")
        values[k != PUBLISHED] = pd.NA
        frame[VALUE_COLUMN] = values
        frame[STATUS_COLUMN] = pd.Series([STATUS_LABELS[int(s)] for s in k], index=frame.index, dtype=object)
        out_tables[t.name] = frame
        for code in counts:
            counts[code] += int((k == code).sum())
        supp_total += int(np.nansum(model.truth[q][k != PUBLISHED]))
        comp_total += int(np.nansum(model.truth[q][k == COMPLEMENTARY]))
    return out_tables, counts, supp_total, comp_total


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
