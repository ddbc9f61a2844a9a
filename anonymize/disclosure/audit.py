"""The LP interval audit: what an attacker can work out about every suppressed cell.

The attacker knows every published number of this release, what earlier releases published (the
ledger), every additivity equation between cells (``tables.py``), that counts are non-negative,
and the profile's rules (``attacker_view``): a published rounded v stands for the counts that
round to v and that the threshold let through, and a suppressed cell is never a zero when zeros
are published. It does not know why a cell is suppressed: every suppressed cell has one mark.
For a suppressed cell the attacker's knowledge is the interval [min, max] of the linear programme
"min/max x_cell subject to all of that" (the tau-ARGUS / sdcTable ``attack`` model).

A suppressed cell fails when its range is *exact* (narrower than 1: counts are integers, so at
most one count fits) or, for a sensitive cell, narrower than its required protection width.
Publication is refused on any failure, and on any cell the audit could not check.

How the ranges are computed at scale (components, bound propagation, feasible points, exact
LPs) is in ``attack.py``; every row of the report says which method settled it. Cells left when
the time budget runs out are reported ``unchecked`` and fail the audit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dvnet.anonymize.disclosure.attack import attacker_intervals
from dvnet.anonymize.disclosure.errors import AUDIT_FAILED, AUDIT_INCOMPLETE, DisclosureError
from dvnet.anonymize.disclosure.intervals import EXACT_WIDTH, TOL, IntervalResult
from dvnet.anonymize.disclosure.profiles import Profile, get_profile
from dvnet.anonymize.disclosure.rounding import rounding_interval
from dvnet.anonymize.disclosure.tables import STATUS_COLUMN, TOTAL, VALUE_COLUMN, EarlierCell, LinkedModel, Table, build_model, distinct_published, parse_key

# Status codes of a quantity (shared by protect/complementary).
PUBLISHED, PRIMARY, DOMINANCE, COMPLEMENTARY, DIFFERENCE, EARLIER, WITHHELD = 0, 1, 2, 3, 4, 5, 6
# The one public mark of every suppressed cell, whatever the reason: a reason tells the attacker a
# range (a "primary" cell lies in 1..t-1), so it stays in the coordinator's internal record.
PUBLISHED_MARK = "published"
SUPPRESSED_MARK = "suppressed"
STATUS_LABELS = {PUBLISHED: PUBLISHED_MARK, PRIMARY: SUPPRESSED_MARK, DOMINANCE: SUPPRESSED_MARK, COMPLEMENTARY: SUPPRESSED_MARK, EARLIER: SUPPRESSED_MARK,
                 WITHHELD: SUPPRESSED_MARK}
# The reasons, for the coordinator's internal record only (never in a release folder).
# "earlier": sensitive in an earlier release of the period; "withheld": suppressed (not sensitive)
# by an earlier release of the period, so kept from being pinned: publishing it now would show
# what that release withheld; "difference": a small count between a changed earlier release and
# this one (a quantity of no table).
REASONS = {PUBLISHED: "published", PRIMARY: "primary", DOMINANCE: "dominance", COMPLEMENTARY: "complementary", DIFFERENCE: "difference", EARLIER: "earlier",
           WITHHELD: "withheld"}
REASON_CODES = {v: k for k, v in REASONS.items()}
#: What to do when protection or its audit did not finish in the time allowed.
MORE_TIME_HINT = "nothing was published; publish smaller tables or coarser categories, choose another profile, or allow more time (dvnet publish --time-limit)"


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


def attacker_view(model: LinkedModel, published_values: np.ndarray, profile: Profile) -> AttackerView:
    """Bounds from published values (``published_values``: what the table shows, NaN if hidden).

    The attacker knows the profile's rules, so beyond the numbers themselves:
    - a published rounded value v is a count in v's rounding interval that the profile let through:
      0 stays 0 (counts 1..t-1 are suppressed, not rounded to 0), any other v is at least t;
    - under ``zeros == "publish"`` a suppressed cell of this release is at least 1 (a zero is
      published, never suppressed, not even as a complementary cell);
    - nothing about *why* a cell is suppressed: every suppressed cell carries the same mark.
    """
    lo, hi = rounding_interval(np.nan_to_num(published_values, nan=0.0), profile.rounding_base)
    if profile.rounded:
        zero = published_values == 0
        hi = np.where(zero, 0.0, hi)
        lo = np.where(zero, lo, np.maximum(lo, float(profile.threshold)))
    pub_lo = np.maximum(lo, model.ledger_lo)
    pub_hi = np.minimum(hi, model.ledger_hi)
    unknown = np.isnan(published_values)
    pub_lo = np.where(unknown, model.ledger_lo, pub_lo)
    pub_hi = np.where(unknown, model.ledger_hi, pub_hi)
    floor = 1.0 if profile.zeros == "publish" else 0.0
    sup_lo = np.where(model.in_release, np.maximum(model.ledger_lo, floor), model.ledger_lo)
    return AttackerView(pub_lo, pub_hi, sup_lo, model.ledger_hi.copy(), model.in_release.copy())


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------


@dataclass
class AuditReport:
    """The attacker's view of every suppressed cell, and whether the release may be published.

    ``cells`` has one row per suppressed quantity (a cell shared by several tables is one row):
    measure, coordinates, tables, status, lower, upper, width, required, top (the value the range
    must reach upwards, NaN where only the width counts; narrow also when it stops below), verdict
    (protected / exact / narrow / unchecked) and method (how the range was settled: "lp" exact,
    "propagation" an outer range, "feasible points" an inner range, "bounds", "published value").
    """

    cells: pd.DataFrame
    n_suppressed: int
    n_exact: int
    n_narrow: int
    n_unchecked: int
    n_components: int
    largest_component: int
    n_lp: int
    seconds: float
    rounding_base: int = 1
    earlier_cells: int = 0  # distinct quantities earlier releases published (``tables.distinct_published``)

    @property
    def passed(self) -> bool:
        return self.n_exact == 0 and self.n_narrow == 0 and self.n_unchecked == 0

    @property
    def summary(self) -> str:
        verdict = "PASSED" if self.passed else ("INCOMPLETE" if self.n_exact + self.n_narrow == 0 else "FAILED")
        ledger = f", with {self.earlier_cells} earlier published cells" if self.earlier_cells else ""
        rounding = f", published values read as rounding intervals (base {self.rounding_base})" if self.rounding_base > 1 else ""
        return (
            f"audit {verdict}: {self.n_suppressed} distinct suppressed values in {self.n_components} components "
            f"(largest {self.largest_component}){ledger}{rounding}; {self.n_exact} exact, "
            f"{self.n_narrow} narrower than required, {self.n_unchecked} unchecked; "
            f"{self.n_lp} LPs in {self.seconds:.1f} s"
        )

    def methods(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.cells["method"].value_counts().items()} if len(self.cells) else {}

    def to_dict(self) -> dict[str, object]:
        return {
            "passed": self.passed,
            "summary": self.summary,
            "suppressed": self.n_suppressed,
            "exact": self.n_exact,
            "narrow": self.n_narrow,
            "unchecked": self.n_unchecked,
            "components": self.n_components,
            "largest_component": self.largest_component,
            "lp_solves": self.n_lp,
            "seconds": round(self.seconds, 3),
            "settled_by": self.methods(),
        }

    def raise_if_failed(self) -> None:
        """Refuse publication: ``AUDIT_FAILED`` on any exact/narrow range, ``AUDIT_INCOMPLETE`` if unchecked."""
        if self.n_exact or self.n_narrow:
            raise DisclosureError(
                AUDIT_FAILED,
                f"{self.n_exact} suppressed cell(s) can be recalculated exactly and {self.n_narrow} "
                "to a range narrower than the protection level",
                hint="run protect() over the release (with the earlier releases from the ledger)",
                exact=self.n_exact,
                narrow=self.n_narrow,
            )
        if self.n_unchecked:
            raise DisclosureError(
                AUDIT_INCOMPLETE,
                f"{self.n_unchecked} suppressed cell(s) could not be checked in the time allowed",
                hint=MORE_TIME_HINT,
                unchecked=self.n_unchecked,
            )


def build_report(
    model: LinkedModel, kinds: np.ndarray, result: IntervalResult, required: np.ndarray, rounding_base: int, earlier_cells: int
) -> AuditReport:
    """The report over ``result`` (targets are quantity ids; ``kinds`` their status codes)."""
    t = result.targets
    parsed = [parse_key(k) for k in model.keys[t]]
    names = model.table_names()
    width = result.upper - result.lower
    cells = pd.DataFrame(
        {
            "measure": [p[0] for p in parsed],
            "coordinates": ["; ".join(f"{d}={v}" for d, v in p[1].items()) or TOTAL for p in parsed],
            "tables": [", ".join(names[q]) for q in t],
            "reason": [REASONS.get(int(s), "unknown") for s in kinds],
            "lower": result.lower,
            "upper": result.upper,
            "width": width,
            "required": required,
            "top": np.where(np.isfinite(result.top), result.top, np.nan),
            "verdict": result.verdict,
            "method": result.method,
        }
    )
    v = result.verdict
    return AuditReport(
        cells=cells,
        n_suppressed=len(t),
        n_exact=int((v == "exact").sum()),
        n_narrow=int((v == "narrow").sum()),
        n_unchecked=int((v == "unchecked").sum()),
        n_components=result.n_components,
        largest_component=result.largest_component,
        n_lp=result.n_lp,
        seconds=result.seconds,
        rounding_base=rounding_base,
        earlier_cells=earlier_cells,
    )


def required_widths(kinds: np.ndarray, values: np.ndarray | None, profile: Profile) -> np.ndarray:
    """Width each suppressed quantity's range must reach, by why it is suppressed.

    Sensitive cells (primary, dominance, earlier, difference): ``profile.protection_width``; a dominance cell also
    ``dominance_protection`` x its value when the value is known. Complementary and withheld cells
    only need not be exact (width 1).
    """
    req = np.where(np.isin(kinds, (PRIMARY, DOMINANCE, DIFFERENCE, EARLIER)), float(profile.protection_width), EXACT_WIDTH)
    if values is not None:
        rel = np.ceil(profile.dominance_protection * np.nan_to_num(values, nan=0.0))
        req = np.where(kinds == DOMINANCE, np.maximum(req, rel), req)
    return req


def audit(
    tables: list[Table],
    profile: str | Profile = "dv-default",
    *,
    earlier: list[EarlierCell] | None = None,
    reasons: Mapping[str, Sequence[str]] | None = None,
    time_limit: float | None = 300.0,
    exact_limit: int = 400,
) -> AuditReport:
    """Audit published tables (``value`` NA and ``status`` "suppressed" where suppressed).

    Uses only what an evaluator sees, plus the earlier releases. ``reasons`` (the coordinator's
    internal record: per table, one reason per row, see ``REASONS``) says which suppressed cells
    are sensitive; without it no reason is known, so every suppressed cell must not be exact, and
    a cell whose whole range lies below the threshold (so it can only be a small count) must span
    the protection width. A dominance cell is held to the absolute protection width only (its true
    value is not known here).
    """
    profile = get_profile(profile)
    model = build_model(tables, earlier, check_additivity=not profile.rounded)
    n = model.n
    kinds = np.full(n, -1, dtype=np.int64)
    shown = np.full(n, np.nan)
    hidden = np.zeros(n, dtype=bool)
    for t in tables:
        q = model.cell_qids[t.name]
        v = t.frame[VALUE_COLUMN].to_numpy(dtype=float, na_value=np.nan)
        status = t.frame[STATUS_COLUMN].astype(str).to_numpy() if STATUS_COLUMN in t.frame.columns else np.full(len(q), PUBLISHED_MARK)
        sup = status != PUBLISHED_MARK
        hidden[q[sup]] = True
        if reasons is not None and t.name in reasons:
            code = np.array([REASON_CODES.get(str(r), COMPLEMENTARY) for r in reasons[t.name]], dtype=np.int64)
            np.maximum.at(kinds, q, np.where(code == COMPLEMENTARY, 0, code))
        ok = ~sup & ~np.isnan(v)
        shown[q[ok]] = v[ok]
    known = kinds >= 0
    kinds = np.where(hidden & (kinds <= 0), COMPLEMENTARY, kinds)
    view = attacker_view(model, shown, profile)
    suppressed = hidden & np.isnan(shown)
    L, U = view.bounds(suppressed)
    targets = np.nonzero(hidden)[0]
    req = required_widths(kinds[targets], None, profile)
    result = attacker_intervals(model.M, L, U, targets, req, exact_limit=exact_limit, time_limit=time_limit)
    if reasons is None:
        _exact_where_small(result, model.M, L, U, req, profile, time_limit)
        _small_by_range(result, profile)
    unknown = hidden[targets] & ~known[targets]
    report_kinds = np.where(unknown, -1, kinds[targets])
    return build_report(model, report_kinds, result, req, profile.rounding_base, distinct_published(earlier or []))


def _exact_where_small(result: IntervalResult, M, L: np.ndarray, U: np.ndarray, req: np.ndarray, profile: Profile, time_limit: float | None) -> None:
    """Exact ranges (two LPs each) for the cells that feasible points showed wide enough to not be
    exact but that could still lie wholly below the threshold and narrower than the protection
    width: ``_small_by_range`` judges only exact ranges, so an inner range must not let such a
    cell pass."""
    maybe = (result.method == "feasible points") & (result.upper < profile.threshold - TOL) & (result.upper - result.lower < profile.protection_width - TOL)
    if not maybe.any():
        return
    k = np.nonzero(maybe)[0]
    # First held to the protection width: points that far apart pass whatever the level, and a
    # cell they do not settle gets its exact range ("lp"). Any other answer (an outer range): two LPs.
    wide = attacker_intervals(
        M, L, U, result.targets[k], np.maximum(req[k], float(profile.protection_width)), report_exact=False, exact_limit=0, time_limit=time_limit
    )
    settled = np.isin(wide.method, ("feasible points", "lp", "bounds"))
    rest = k[~settled]
    k = k[settled]
    result.settle(k, wide.lower[settled], wide.upper[settled], wide.method[settled], req)
    result.n_lp += wide.n_lp
    result.seconds += wide.seconds
    if len(rest):
        exact = attacker_intervals(M, L, U, result.targets[rest], req[rest], report_exact=True, exact_limit=M.shape[1] + 1, time_limit=time_limit)
        result.lower[rest], result.upper[rest], result.method[rest], result.verdict[rest] = exact.lower, exact.upper, exact.method, exact.verdict
        result.n_lp += exact.n_lp
        result.seconds += exact.seconds


def _small_by_range(result: IntervalResult, profile: Profile) -> None:
    """Without reasons: a cell whose range lies wholly below the threshold is a small count for
    sure, so it is judged as one (the protection width)."""
    settled = (result.verdict == "protected") & np.isin(result.method, ("lp", "bounds"))  # exact ranges only
    small = settled & (result.upper < profile.threshold - TOL) & (result.upper - result.lower < profile.protection_width - TOL)
    result.verdict[small] = "narrow"
