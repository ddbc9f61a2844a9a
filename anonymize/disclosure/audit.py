"""The LP interval audit: what an attacker can work out about every suppressed cell.

The attacker has every file of every release of the population (``history.py``), so he knows
every published number, which combinations are listed (a listed cell holds at least one count),
every additivity equation between cells (``tables.py``), that counts are non-negative, and the
profile's rules: a published count stands for the counts the profile would publish as it
(``rounding.published_bounds``). Every suppressed cell carries the same mark, so he does not know
why a cell is hidden. For a hidden quantity his knowledge is the interval [min, max] of the linear
programme "min/max x subject to all of that" (the tau-ARGUS / sdcTable ``attack`` model); an
insider (``insiders.py``) also knows his own contribution to every cell.

A hidden cell fails when its range is narrower than its release's protection width (*exact* when
narrower than one count), a difference between releases when it is a small count or pinned
narrow, an insider's estimate when it comes within p % of another's contribution. Publication is
refused on any failure, and on any cell the audit could not check (fail closed).

How the ranges are computed at scale (components, bound propagation, feasible points, exact
LPs) is in ``attack.py``; every row of the report says which method settled it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dvnet.anonymize.disclosure.attack import attacker_intervals
from dvnet.anonymize.disclosure.errors import AUDIT_FAILED, AUDIT_INCOMPLETE, DisclosureError
from dvnet.anonymize.disclosure.intervals import IntervalResult, Requirements
from dvnet.anonymize.disclosure.profiles import Profile, get_profile
from dvnet.anonymize.disclosure.rounding import published_bounds
from dvnet.anonymize.disclosure.tables import STATUS_COLUMN, SUPPRESSED, TOTAL, VALUE_COLUMN, LinkedModel, Table, build_model, parse_key

# Why a quantity is shown or hidden (shared by protect/complementary). Internal: the public mark
# of every hidden cell is the same (``tables.SUPPRESSED``); the reason goes to the coordinator's record.
PUBLISHED, PRIMARY, DOMINANCE, COMPLEMENTARY, EARLIER = 0, 1, 2, 3, 4
REASONS = {PUBLISHED: "published", PRIMARY: "primary", DOMINANCE: "dominance", COMPLEMENTARY: "complementary", EARLIER: "hidden in an earlier release"}


# --------------------------------------------------------------------------------------------
# What the attacker knows about each quantity
# --------------------------------------------------------------------------------------------


@dataclass
class AttackerView:
    """Per-quantity bounds an attacker has when a quantity is published vs. suppressed.

    ``pub_lo/pub_hi``: a published value (a point, or its rounding interval), intersected with the
    ledger. ``sup_lo/sup_hi``: a suppressed or not-released quantity: the ledger, else [0, inf).
    """

    pub_lo: np.ndarray
    pub_hi: np.ndarray
    sup_lo: np.ndarray
    sup_hi: np.ndarray
    in_release: np.ndarray

    def bounds(self, suppressed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        hidden = suppressed | ~self.in_release
        return np.where(hidden, self.sup_lo, self.pub_lo), np.where(hidden, self.sup_hi, self.pub_hi)


def attacker_view(model: LinkedModel, published_values: np.ndarray, profile: Profile, floor: np.ndarray | None = None) -> AttackerView:
    """Bounds from this release's published values (NaN where not shown) and its history.

    A listed cell holds at least one count (tables list only non-empty combinations), so a hidden
    one is at least ``floor``: 1, or its true count when that is 0 (a table that lists zeros).
    """
    lo, hi = published_bounds(np.nan_to_num(published_values, nan=0.0), profile)
    unknown = np.isnan(published_values)
    if floor is None:
        floor = np.where(model.in_release | model.hidden_before, np.fmin(1.0, np.nan_to_num(model.truth, nan=1.0)), 0.0)
    floor = np.where(model.band > 0, -np.inf, floor)
    sup_lo = np.maximum(model.hist_lo, floor)
    sup_hi = model.hist_hi.copy()
    pub_lo = np.where(unknown, sup_lo, np.maximum(lo, sup_lo))
    pub_hi = np.where(unknown, sup_hi, np.minimum(hi, sup_hi))
    return AttackerView(pub_lo, pub_hi, sup_lo, sup_hi, model.in_release.copy())


def requirements(model: LinkedModel, profile: Profile) -> Requirements:
    """Per quantity, what its range must reach when hidden: this release's protection width for
    its cells, the promised width for cells hidden earlier, the small band for differences."""
    width = np.maximum(np.where(model.in_release, float(profile.protection_width), 0.0), model.hidden_width)
    return Requirements(width, np.zeros(model.n), model.truth.copy(), model.band.copy())


def audit_targets(model: LinkedModel, suppressed: np.ndarray) -> np.ndarray:
    """Quantities the audit checks: hidden cells of this release, cells hidden earlier, differences."""
    return np.nonzero((suppressed & model.in_release) | (model.hidden_before & ~model.in_release) | (model.band > 0))[0]


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------


FAILURES = ("exact", "narrow", "small difference", "insider")


@dataclass
class AuditReport:
    """The attacker's view of every hidden quantity, and whether the release may be published.

    ``cells`` has one row per hidden quantity and attacker ("outsider", or an insider's id):
    measure, coordinates, release ("" for this one, else the earlier release or the difference),
    tables, reason, attacker, lower, upper, width, required, verdict (protected / exact / narrow /
    small difference / insider / unchecked) and method (how the range was settled: "lp" exact,
    "propagation" or "relaxation" an outer range, "feasible points" an inner range, "bounds",
    "published value"). It names agencies and reasons: it is the coordinator's, never published.
    """

    cells: pd.DataFrame
    n_suppressed: int
    verdicts: dict[str, int]
    n_components: int
    largest_component: int
    n_lp: int
    seconds: float
    rounding_base: int = 1
    earlier_releases: int = 0
    insiders: int = 0

    @property
    def n_exact(self) -> int:
        return self.verdicts.get("exact", 0)

    @property
    def n_narrow(self) -> int:
        return self.verdicts.get("narrow", 0)

    @property
    def n_failing(self) -> int:
        return sum(self.verdicts.get(v, 0) for v in FAILURES)

    @property
    def n_unchecked(self) -> int:
        return self.verdicts.get("unchecked", 0)

    @property
    def passed(self) -> bool:
        return self.n_failing == 0 and self.n_unchecked == 0

    @property
    def summary(self) -> str:
        verdict = "PASSED" if self.passed else ("INCOMPLETE" if self.n_failing == 0 else "FAILED")
        history = f", with {self.earlier_releases} earlier release(s) of the same periods" if self.earlier_releases else ""
        insiders = f", {self.insiders} insiders" if self.insiders else ""
        rounding = f", published values read as rounding intervals (base {self.rounding_base})" if self.rounding_base > 1 else ""
        v = self.verdicts
        return (
            f"audit {verdict}: {self.n_suppressed} suppressed cells in {self.n_components} components "
            f"(largest {self.largest_component}){history}{insiders}{rounding}; {v.get('exact', 0)} exact, "
            f"{v.get('narrow', 0)} narrower than required, {v.get('small difference', 0)} small differences, "
            f"{v.get('insider', 0)} insider estimates within p, {self.n_unchecked} unchecked; "
            f"{self.n_lp} LPs in {self.seconds:.1f} s"
        )

    def methods(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.cells["method"].value_counts().items()} if len(self.cells) else {}

    def to_dict(self) -> dict[str, object]:
        return {
            "passed": self.passed,
            "summary": self.summary,
            "suppressed": self.n_suppressed,
            "verdicts": dict(self.verdicts),
            "components": self.n_components,
            "largest_component": self.largest_component,
            "earlier_releases": self.earlier_releases,
            "insiders": self.insiders,
            "lp_solves": self.n_lp,
            "seconds": round(self.seconds, 3),
        }

    def failing_cells(self, limit: int = 5) -> str:
        """Up to ``limit`` failing cells by name and why (coordinates only, never a count)."""
        bad = self.cells[self.cells["verdict"].isin(FAILURES)]
        named = [f"{r.measure} [{r.coordinates}]{' in ' + r.release if r.release else ''}: {r.verdict}" for r in bad.head(limit).itertuples()]
        more = f" and {len(bad) - limit} more" if len(bad) > limit else ""
        return "; ".join(named) + more

    def raise_if_failed(self) -> None:
        """Refuse publication: ``AUDIT_FAILED`` on any failing cell, ``AUDIT_INCOMPLETE`` if any is unchecked."""
        if self.n_failing:
            v = self.verdicts
            raise DisclosureError(
                AUDIT_FAILED,
                f"{v.get('exact', 0)} suppressed cell(s) can be recalculated exactly, {v.get('narrow', 0)} to a range narrower "
                f"than the protection level, {v.get('small difference', 0)} difference(s) from an earlier release are small "
                f"counts, {v.get('insider', 0)} contribution(s) can be estimated by another contributor within p %: "
                + self.failing_cells(),
                hint="suppress further (publish through protect(), with every earlier release of these periods), or publish "
                "coarser tables or another profile",
                exact=v.get("exact", 0),
                narrow=v.get("narrow", 0),
            )
        if self.n_unchecked:
            raise DisclosureError(
                AUDIT_INCOMPLETE,
                f"{self.n_unchecked} suppressed cell(s) could not be checked in the time allowed; nothing was published",
                hint="publish fewer or smaller tables (fewer periods or dimensions, coarser categories), or another profile, "
                "or raise the audit time limit",
                unchecked=self.n_unchecked,
            )


def build_report(
    model: LinkedModel,
    reasons: np.ndarray,
    runs: list[tuple[str, IntervalResult]],
    rounding_base: int,
    earlier_releases: int,
) -> AuditReport:
    """The report over the outsider's and each insider's results (``reasons``: per quantity)."""
    names = model.table_names()
    frames = []
    n_lp = 0
    seconds = 0.0
    n_components = largest = 0
    for who, result in runs:
        t = result.targets
        parsed = [parse_key(k) for k in model.keys[t]]
        frames.append(
            pd.DataFrame(
                {
                    "measure": [p[0] for p in parsed],
                    "coordinates": ["; ".join(f"{d}={v}" for d, v in p[1].items()) or TOTAL for p in parsed],
                    "release": model.origin[t],
                    "tables": [", ".join(names[q]) for q in t],
                    "reason": [_reason(model, q, reasons) for q in t],
                    "attacker": who,
                    "lower": result.lower,
                    "upper": result.upper,
                    "width": result.upper - result.lower,
                    "verdict": result.verdict,
                    "method": result.method,
                }
            )
        )
        n_lp += result.n_lp
        seconds += result.seconds
        if who == "outsider":
            n_components, largest = result.n_components, result.largest_component
    cells = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    counts = {str(k): int(v) for k, v in cells["verdict"].value_counts().items()} if len(cells) else {}
    return AuditReport(
        cells=cells,
        n_suppressed=len(runs[0][1].targets) if runs else 0,
        verdicts=counts,
        n_components=n_components,
        largest_component=largest,
        n_lp=n_lp,
        seconds=seconds,
        rounding_base=rounding_base,
        earlier_releases=earlier_releases,
        insiders=max(len(runs) - 1, 0),
    )


def _reason(model: LinkedModel, q: int, reasons: np.ndarray) -> str:
    if model.in_release[q]:
        return REASONS.get(int(reasons[q]), "")
    return "difference" if model.band[q] > 0 else "hidden in an earlier release"


def audit(
    tables: list[Table],
    profile: str | Profile = "dv-default",
    *,
    time_limit: float | None = 300.0,
    exact_limit: int = 400,
    listed_floor: bool = True,
) -> AuditReport:
    """Audit one release's published tables (``value`` NA and ``status`` "suppressed" where hidden).

    Uses only what an evaluator sees in the release's files, so it cannot join earlier releases
    (that needs their true counts) nor take an insider's view: ``protect`` does both before
    anything is published. ``listed_floor``: the tables list only non-empty combinations (dvnet's
    do), so a hidden cell is at least 1 unless its table shows a zero; False for tables that list
    empty combinations too.
    """
    profile = get_profile(profile)
    model = build_model(tables, check_additivity=not profile.rounded)
    shown = np.full(model.n, np.nan)
    hidden = np.zeros(model.n, dtype=bool)
    for t in tables:
        q = model.cell_qids[t.name]
        v = t.frame[VALUE_COLUMN].to_numpy(dtype=float, na_value=np.nan)
        status = t.frame[STATUS_COLUMN].astype(str).to_numpy() if STATUS_COLUMN in t.frame.columns else np.full(len(q), "published")
        sup = status == SUPPRESSED
        hidden[q[sup]] = True
        ok = ~sup & ~np.isnan(v)
        shown[q[ok]] = v[ok]
    # Without the true counts, a hidden cell is at least 1 only in tables that list no zero.
    floor = np.full(model.n, 1.0 if listed_floor else 0.0)
    for t in tables:
        if (t.frame[VALUE_COLUMN] == 0).any():
            floor[model.cell_qids[t.name]] = 0.0
    view = attacker_view(model, shown, profile, floor)
    L, U = view.bounds(hidden & np.isnan(shown))
    targets = np.nonzero(hidden)[0]
    req = requirements(model, profile).take(targets)
    result = attacker_intervals(model.M, L, U, targets, req, exact_limit=exact_limit, time_limit=time_limit)
    return build_report(model, np.full(model.n, -1), [("outsider", result)], profile.rounding_base, 0)
