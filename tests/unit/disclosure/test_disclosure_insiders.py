"""Insiders (issue 14 point 4): the p % rule, single-member categories, singletons.

Each test builds a small table whose only risk is the insider one, so it fails if that rule is off.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

from dvnet.anonymize.disclosure import TOTAL, get_profile, protect
from dvnet.anonymize.disclosure.audit import DOMINANCE, PRIMARY
from dvnet.anonymize.disclosure.insiders import insiders_short
from dvnet.anonymize.disclosure.protect import prepare

GRID = [[40, 30, 25], [50, 35, 45], [33, 60, 28]]
REGIONS, SERVICES = ["R1", "R2", "R3"], ["shelter", "counselling", "legal"]


def _contributions(grid, special: dict, dims=("region", "service"), rows=REGIONS, cols=SERVICES) -> pd.DataFrame:
    """Every cell shared by three agencies (no dominance), except ``special``: cell -> {agency: count}."""
    out = []
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            v = grid[i][j]
            parts = special.get((r, c)) or {"a1": v // 3, "a2": v // 3, "a3": v - 2 * (v // 3)}
            assert sum(parts.values()) == v
            out += [(r, c, a, n) for a, n in parts.items()]
    return pd.DataFrame(out, columns=[*dims, "agency_id", "value"])


def _reasons(release, name="t") -> pd.DataFrame:
    return release.tables[name].assign(reason=release.reasons[name])


def _cell(frame, **coords):
    m = pd.Series(True, index=frame.index)
    for d, v in coords.items():
        m &= frame[d] == v
    return frame[m].iloc[0]


def test_a_cell_of_two_agencies_is_suppressed_by_the_p_percent_rule(grid_table):
    # R2/legal: 45 = 30 + 15. One agency holds 67 % (under the 80 % share rule), but each of the
    # two, subtracting its own count, would read the other's exactly.
    t = grid_table("t", GRID, REGIONS, SERVICES)
    contrib = _contributions(GRID, {("R2", "legal"): {"a1": 30, "a2": 15}})
    out = _reasons(protect([t], "dv-default", contributions=contrib))
    assert _cell(out, region="R2", service="legal")["reason"] == "dominance"
    assert _cell(out, region="R2", service="legal")["status"] == "suppressed"
    # The same table with the p % rule switched off: the cell goes out.
    off = _reasons(protect([t], get_profile("dv-default", p_percent=None), contributions=contrib))
    assert _cell(off, region="R2", service="legal")["status"] == "published"


def test_the_p_percent_rule_reads_the_rest_beyond_the_two_largest(grid_table):
    # R3/counselling: 60 = 30 + 24 + 6: the rest (6) is 20 % of 30, not below it: not sensitive.
    # R3/shelter: 33 = 20 + 10 + 3: the rest (3) is below 20 % of 20 (4): sensitive.
    t = grid_table("t", GRID, REGIONS, SERVICES)
    contrib = _contributions(GRID, {("R3", "counselling"): {"a1": 30, "a2": 24, "a3": 6}, ("R3", "shelter"): {"a1": 20, "a2": 10, "a3": 3}})
    out = _reasons(protect([t], "dv-default", contributions=contrib))
    assert _cell(out, region="R3", service="counselling")["reason"] != "dominance"
    assert _cell(out, region="R3", service="shelter")["reason"] == "dominance"


def test_a_category_with_one_member_organisation_is_that_organisations_caseload(grid_table):
    # "ministry" has one member in the registry: its cells are its caseload whoever refers to it.
    grid = [[40, 30, 25], [50, 35, 45]]
    types, outcomes = ["ministry", "shelter"], ["accepted", "declined", "pending"]
    t = grid_table("t", grid, types, outcomes, dims=("receiving_org_type", "outcome"), measure="referrals")
    contrib = _contributions(grid, {}, dims=("receiving_org_type", "outcome"), rows=types, cols=outcomes)
    sole = {"receiving_org_type": ["ministry"]}
    out = _reasons(protect([t], "dv-default", contributions=contrib, sole_categories=sole))
    ministry = out[out["receiving_org_type"] == "ministry"]
    assert (ministry["status"] == "suppressed").all(), ascii(ministry[["outcome", "reason"]].to_dict("records"))
    assert (ministry["reason"] == "dominance").all()
    # Without the registry's categories the same table is published whole.
    assert (protect([t], "dv-default", contributions=contrib).tables["t"]["status"] == "published").all()


def _unknown_to(frame: pd.DataFrame, agency_cells: set[tuple[str, str]], dims=("region", "service")) -> list[int]:
    """Per margin equation (a row or column with its Total), how many suppressed cells an agency
    does not know, given it knows the cells in ``agency_cells`` (those it alone contributes)."""
    a, b = dims
    hidden = {(r[a], r[b]) for r in frame.to_dict("records") if r["status"] == "suppressed"}
    counts = []
    for fixed, free in ((a, b), (b, a)):
        for v in frame[fixed].unique():
            cells = [(r[a], r[b]) for r in frame.to_dict("records") if r[fixed] == v]
            if any(c in agency_cells for c in cells if c in hidden):
                counts.append(sum(1 for c in cells if c in hidden and c not in agency_cells))
    return counts


def test_a_singleton_gets_a_further_suppression_so_its_agency_cannot_pin_the_other_cell(grid_table):
    # R1/shelter holds 5 clients of one agency only (a singleton): it knows the cell. With the
    # usual 2x2 rectangle, it would subtract its 5 from R1's total and read R1's other hidden cell.
    grid = [[5, 30, 25], [50, 35, 45], [33, 60, 28]]
    t = grid_table("t", grid, REGIONS, SERVICES)
    contrib = _contributions(grid, {("R1", "shelter"): {"solo": 5}})
    release = protect([t], "dv-default", contributions=contrib)
    out = _reasons(release)
    assert _cell(out, region="R1", service="shelter")["reason"] == "primary"
    counts = _unknown_to(out, {("R1", "shelter")})
    assert counts and all(c != 1 for c in counts), counts  # never exactly one cell left to read
    assert release.audit.passed
    assert release.stats.complementary > 3  # more than the rectangle


def _insider_range(
    frame: pd.DataFrame, own: dict[tuple[str, str], int], cell: tuple[str, str], dims=("region", "service"), floor: float = 0.0
) -> tuple[float, float]:
    """The test's own LP: the range of ``cell`` over the suppressed cells of a 2-D table with
    margins, each at least the agency's ``own`` count in it (its own counts, rolled to the margins)
    and at least ``floor`` (1 where zeros are published: a hidden cell is never 0)."""
    a, b = dims
    value = {(r[a], r[b]): r["value"] for r in frame.to_dict("records")}
    rolled: dict[tuple[str, str], int] = {}
    for (r, c), n in own.items():
        for k in ((r, c), (r, TOTAL), (TOTAL, c), (TOTAL, TOTAL)):
            rolled[k] = rolled.get(k, 0) + n
    hidden = sorted(k for k, v in value.items() if pd.isna(v))
    col = {k: i for i, k in enumerate(hidden)}
    rows_, cols_ = sorted({r for r, _ in value}), sorted({c for _, c in value})
    A, rhs = [], []
    for fixed, members in [((r, TOTAL), [(r, c) for c in cols_ if c != TOTAL]) for r in rows_] + [((TOTAL, c), [(r, c) for r in rows_ if r != TOTAL]) for c in cols_]:
        eq, b_ = np.zeros(len(hidden)), 0.0
        for k, sign in [(fixed, 1.0)] + [(m, -1.0) for m in members]:
            if k in col:
                eq[col[k]] += sign
            else:
                b_ -= sign * float(value[k])
        A.append(eq)
        rhs.append(b_)
    bounds = [(max(rolled.get(k, 0), floor), None) for k in hidden]
    e = np.zeros(len(hidden))
    e[col[cell]] = 1.0
    lo = linprog(e, A_eq=A, b_eq=rhs, bounds=bounds, method="highs")
    hi = linprog(-e, A_eq=A, b_eq=rhs, bounds=bounds, method="highs")
    return lo.fun, -hi.fun


def _rectangle_around_r1_shelter(prep) -> tuple[np.ndarray, int, np.ndarray]:
    """Table "t" with R1/shelter hidden in the rectangle with R1/counselling and R2's two cells:
    the pattern, R1/shelter's quantity, and which rows of the table are hidden."""
    frame = prep.tables[0].frame
    rectangle = {("R1", "shelter"), ("R1", "counselling"), ("R2", "shelter"), ("R2", "counselling")}
    hide = np.array([(r, c) in rectangle for r, c in zip(frame["region"], frame["service"], strict=True)])
    suppressed = np.zeros(prep.model.n, dtype=bool)
    suppressed[prep.model.cell_qids["t"][hide]] = True
    target = int(prep.model.cell_qids["t"][(frame["region"] == "R1").to_numpy() & (frame["service"] == "shelter").to_numpy()][0])
    return suppressed, target, hide


def test_the_insider_check_finds_a_dominated_cell_an_agency_narrows_that_the_outsider_cannot(grid_table):
    # R1/shelter: 80 = 77 (big) + 3 (small), dominated. Hidden in the rectangle with R1/counselling,
    # R2/shelter, R2/counselling (11 each, 7 of them small's), an outsider's range is 20 wide (at
    # least the 16 required), but "small", knowing its 7 in each of the other three, narrows it to
    # 8: less than 20 % of big's 77.
    grid = [[80, 11, 11], [11, 11, 11], [11, 11, 11]]
    parts = {(r, c): {"small": 7, f"x{r}{c}": 2, f"y{r}{c}": 2} for r in REGIONS for c in SERVICES}
    parts[("R1", "shelter")] = {"big": 77, "small": 3}
    contrib = _contributions(grid, parts)
    prep = prepare([grid_table("t", grid, REGIONS, SERVICES)], "dv-default", contributions=contrib)
    suppressed, target, hide = _rectangle_around_r1_shelter(prep)
    frame = prep.tables[0].frame
    assert prep.kinds[target] == DOMINANCE
    outsider = prep.problem.audit(suppressed, targets=np.array([target]))
    # The outsider's range is wide enough (its upper level is the next test's subject).
    assert outsider.upper[0] - outsider.lower[0] >= prep.problem.required[target] - 1e-6, (outsider.lower, outsider.upper)
    shown = frame.assign(value=frame["value"].astype(object).where(~hide, pd.NA))
    own = {k: v["small"] for k, v in parts.items()}
    lo, hi = _insider_range(shown, own, ("R1", "shelter"))
    assert hi - lo < 0.2 * 77  # the test's own LP: "small" narrows it below p %
    check = insiders_short(prep, suppressed, prep.kinds, 400, None)
    short, deficit = check.cells, check.wider()
    assert target in short.tolist(), ascii(short.tolist())
    assert deficit[short.tolist().index(target)] >= 0.2 * 77 - (hi - lo) - 1e-6



def test_a_small_count_is_held_to_its_width_against_an_agency_that_knows_its_own_counts_too(grid_table):
    # R1/shelter: 3, all agency b's (a small count). Hidden in the rectangle with R1/counselling,
    # R2/shelter, R2/counselling (11 each: 5 of agency "near", 3 and 3 of two others), an
    # outsider's range is 1..13 (12 wide, at least the 10 required), but "near", knowing its 5 in
    # R1/counselling and in R2/shelter, narrows b's small count to 1..9: 8 wide.
    grid = [[3, 11, 40], [11, 11, 45], [33, 60, 28]]
    parts = {k: {"near": 5, f"x{k[0]}{k[1]}": 3, f"y{k[0]}{k[1]}": 3} for k in [("R1", "counselling"), ("R2", "shelter"), ("R2", "counselling")]}
    parts[("R1", "shelter")] = {"b": 3}
    contrib = _contributions(grid, parts)
    prep = prepare([grid_table("t", grid, REGIONS, SERVICES)], "dv-default", contributions=contrib)
    suppressed, target, hide = _rectangle_around_r1_shelter(prep)
    width = prep.problem.required[target]
    assert prep.kinds[target] == PRIMARY and width == 10
    outsider = prep.problem.audit(suppressed, targets=np.array([target]))
    assert outsider.upper[0] - outsider.lower[0] >= width - 1e-6, (outsider.lower, outsider.upper)
    frame = prep.tables[0].frame
    shown = frame.assign(value=frame["value"].astype(object).where(~hide, pd.NA))
    near = {k: v["near"] for k, v in parts.items() if "near" in v}
    lo, hi = _insider_range(shown, near, ("R1", "shelter"), floor=1.0)
    assert (lo, hi) == (1.0, 9.0)  # the test's own LP
    check = insiders_short(prep, suppressed, prep.kinds, 400, None)
    assert target in check.cells.tolist(), ascii(check.cells.tolist())
    assert check.wider()[check.cells.tolist().index(target)] == pytest.approx(width - (hi - lo))
    # protect holds it: every agency that did not make the cell alone reads at least the width.
    release = protect([grid_table("t", grid, REGIONS, SERVICES)], "dv-default", contributions=contrib)
    out = _reasons(release)
    assert _cell(out, region="R1", service="shelter")["reason"] == "primary"
    for agency in {a for p in parts.values() for a in p} - {"b"}:
        own = {k: v[agency] for k, v in parts.items() if agency in v}
        lo, hi = _insider_range(out, own, ("R1", "shelter"), floor=1.0)
        assert hi - lo >= width - 1e-6, (agency, lo, hi)
    assert release.audit.passed


def test_a_dominated_cell_s_range_reaches_far_enough_above_its_value_for_every_agency(grid_table):
    # R1/shelter: 39 = 38 (big) + 1 (small), beside R1/counselling = 2 (a small count). Hidden in the
    # rectangle with R2, its range is wide (it can go far down) but reaches only 40 upwards: "small",
    # subtracting its 1, would put big at 39 or less, within 20 % of 38 (the p % rule's upper
    # protection, which a width alone does not give). Every agency's highest estimate of the
    # largest other agency must reach (1 + p/100) x its count.
    grid = [[39, 2, 40], [50, 35, 45], [33, 60, 28]]
    parts = {("R1", "shelter"): {"big": 38, "small": 1}, ("R1", "counselling"): {"c": 1, "d": 1}}
    contrib = _contributions(grid, parts)
    release = protect([grid_table("t", grid, REGIONS, SERVICES)], "dv-default", contributions=contrib)
    out = _reasons(release)
    assert _cell(out, region="R1", service="shelter")["reason"] == "dominance"
    p = release.profile.p_percent / 100.0
    per_agency: dict[str, dict[tuple[str, str], int]] = {}
    for row in contrib.itertuples(index=False):
        per_agency.setdefault(row.agency_id, {})[(row.region, row.service)] = row.value
    dominated = [(r["region"], r["service"]) for r in out.to_dict("records") if r["reason"] == "dominance"]
    checked = 0
    for cell in dominated:
        whose = {a: own.get(cell, 0) for a, own in per_agency.items()} if TOTAL not in cell else None
        if whose is None:
            continue
        for a, own in per_agency.items():
            others = [v for b, v in whose.items() if b != a and v > 0]
            if not others or whose[a] == sum(whose.values()):
                continue
            _, hi = _insider_range(out, own, cell, floor=1.0)
            assert hi - whose[a] >= (1.0 + p) * max(others) - 1e-6, (cell, a, hi)
            checked += 1
    assert checked >= 2
    assert release.audit.passed


def test_the_upper_level_is_what_fails_when_a_wide_range_lies_below_the_value(grid_table):
    # The same cell hidden in the bare rectangle: the width passes, the top does not.
    grid = [[39, 2, 40], [50, 35, 45], [33, 60, 28]]
    parts = {("R1", "shelter"): {"big": 38, "small": 1}, ("R1", "counselling"): {"c": 1, "d": 1}}
    prep = prepare([grid_table("t", grid, REGIONS, SERVICES)], "dv-default", contributions=_contributions(grid, parts))
    suppressed, target, _ = _rectangle_around_r1_shelter(prep)
    assert prep.problem.top[target] == 39 + 0.2 * 38  # p/100 x1 - (total - x1 - x2) above the value
    res = prep.problem.audit(suppressed, targets=np.array([target]))
    assert res.upper[0] - res.lower[0] >= prep.problem.required[target]
    assert res.upper[0] == 40 and res.verdict[0] == "narrow" and res.short_above()[0]


def test_an_agency_knows_the_earlier_cells_it_alone_contributed_and_no_other():
    from dvnet.anonymize.disclosure.singletons import carry_owners

    # Quantities: (new, old, d) three times. Agency "a" alone contributes each new cell now.
    #   link 1: "a" alone contributed the old cell too -> it knows old and the difference;
    #   link 2: "b" alone contributed the old cell -> "b" knows old, nobody the difference;
    #   link 3: the old cell was empty (0) -> "a" knows the difference (all of it is its own).
    owner = np.array([0, -1, -1, 0, -1, -1, 0, -1, -1])
    earlier_owner = np.array([None, "a", None, None, "b", None, None, None, None], dtype=object)
    truth = np.array([7, 5, 2, 6, 4, 2, 3, 0, 3], dtype=float)
    links = np.array([[0, 1, 2], [3, 4, 5], [6, 7, 8]])
    got, names = carry_owners(owner, ["a"], earlier_owner, links, truth)
    assert names == ["a", "b"]
    assert got.tolist() == [0, 0, 0, 0, 1, -1, 0, -1, 0]


def test_a_late_release_keeps_the_singleton_rule_without_crediting_an_agency_with_others_cells(grid_table):
    # R1/shelter is one agency's alone in both releases; a late record lands in R3/legal. The
    # agency knows its R1/shelter count then and now: that is no disclosure, so the late release
    # is published (audited with the first), and still no margin leaves it one cell to read.
    from dvnet.anonymize.disclosure.errors import DisclosureError

    grid = [[5, 30, 25], [50, 35, 45], [33, 60, 28]]
    solo = {("R1", "shelter"): {"solo": 5}}
    first = protect([grid_table("t", grid, REGIONS, SERVICES)], "dv-default", contributions=_contributions(grid, solo))
    earlier = first.ledger_cells("r1")
    assert {c.owner for c in earlier if c.coords == {"region": "R1", "service": "shelter"}} == {"solo"}
    late = [[5, 30, 25], [50, 35, 45], [33, 60, 29]]
    t = grid_table("t", late, REGIONS, SERVICES)
    again = protect([t], "dv-default", contributions=_contributions(late, solo), earlier=earlier)
    assert again.audit.passed and again.audit.earlier_cells
    out = _reasons(again)
    assert _cell(out, region="R1", service="shelter")["status"] == "suppressed"
    counts = _unknown_to(out, {("R1", "shelter")})
    assert counts and all(c != 1 for c in counts), counts
    # Without the record of who contributed then, the agency is credited with nothing earlier: the
    # rule is read strictly (refused, or protected further), never looser.
    import dataclasses

    blind = [dataclasses.replace(c, owner=None) for c in earlier]
    try:
        strict = protect([t], "dv-default", contributions=_contributions(late, solo), earlier=blind)
    except DisclosureError as err:
        assert err.reason == "AUDIT_FAILED"
    else:
        assert strict.stats.complementary >= again.stats.complementary


@pytest.mark.parametrize("big, small", [(77, 7), (60, 5), (90, 3), (40, 9)])
def test_the_insiders_shortfalls_are_those_of_exact_ranges(grid_table, big, small):
    """The insider check settles cells the points seen show protected without exact LPs; what a
    short cell lacks (wider, higher) must be what exact ranges for every cell give. The first
    test's set-up (an agency narrows a dominated cell in a rectangle), with other counts, in the
    rectangle and in the pattern the heuristic protects it with (that the fast path's short
    ranges are exact on larger releases: test_disclosure_certified_by_points)."""
    from dvnet.anonymize.disclosure.complementary_heuristic import heuristic

    grid = [[big + 3, 11, 11], [11, 11, 11], [11, 11, 11]]
    parts = {(r, c): {"small": small, f"x{r}{c}": (11 - small) // 2, f"y{r}{c}": 11 - small - (11 - small) // 2} for r in REGIONS for c in SERVICES}
    parts[("R1", "shelter")] = {"big": big, "small": 3}
    prep = prepare([grid_table("t", grid, REGIONS, SERVICES)], "dv-default", contributions=_contributions(grid, parts))
    rectangle, _, _ = _rectangle_around_r1_shelter(prep)
    found = 0
    for hidden in (rectangle, heuristic(prep.problem, suppressed=rectangle, cleanup_seconds=0.0)[0]):
        fast = insiders_short(prep, hidden, prep.kinds, 400, None)
        exact = insiders_short(prep, hidden, prep.kinds, 400, None, report_exact=True)
        assert fast.cells.tolist() == exact.cells.tolist()
        assert np.allclose(fast.wider(), exact.wider()) and np.allclose(fast.higher(), exact.higher())
        found += len(fast.cells)
    assert found  # something an insider narrows, so the comparison is of numbers


# R1/shelter: 80 = 77 (big) + 3 (small), in the rectangle with R1/counselling and R2's 20 and 11. An
# outsider's range is [69, 100]; small, with 7 of R2/shelter and 10 of R2/counselling, reads [79, 93]:
# 14 wide, less than 20 % of 77.
WIDE_SHORT = (
    [[80, 20, 11], [20, 11, 11], [11, 11, 11]],
    {("R1", "shelter"): {"big": 77, "small": 3}, ("R2", "counselling"): {"small": 10, "z": 1}},
    "wider",
)
# R1/shelter: 39 = 38 (big) + 1 (small); small holds 7 of R1/counselling's 12. An outsider's highest
# value is 51 (R1's total less legal's 40), past the p % level 46.6; small's is 51 - 7 = 44.
HIGH_SHORT = ([[39, 12, 40], [50, 35, 45], [33, 60, 28]], {("R1", "shelter"): {"big": 38, "small": 1}, ("R1", "counselling"): {"small": 7, "c": 5}}, "higher")


@pytest.mark.parametrize("grid, special, lacks", [WIDE_SHORT, HIGH_SHORT], ids=["too narrow", "too low"])
def test_an_insiders_shortfall_is_closed_in_its_own_programme_in_one_repair(grid_table, grid, special, lacks):
    """The repair reads the short agency's own dual cuts (its counts as bounds), so one repair
    closes what the outsider's audit cannot even see: the outsider's range of the cell passes,
    the agency's does not, and after ``repair_insiders`` the agency's range (the test's own LP)
    is wide and high enough."""
    from dvnet.anonymize.disclosure.insiders import repair_insiders

    parts = {(r, c): {"small": 7, f"x{r}{c}": 2, f"y{r}{c}": v - 9} for (r, c), v in _cells(grid).items() if v >= 11}
    parts.update(special)
    contrib = _contributions(grid, parts)
    prep = prepare([grid_table("t", grid, REGIONS, SERVICES)], "dv-default", contributions=contrib)
    suppressed, target, _ = _rectangle_around_r1_shelter(prep)
    assert prep.kinds[target] == DOMINANCE
    assert prep.problem.audit(suppressed, targets=np.array([target])).verdict[0] == "protected"  # the outsider sees nothing wrong
    check = insiders_short(prep, suppressed, prep.kinds, 400, None)
    assert target in check.cells.tolist()
    assert getattr(check, lacks)()[check.cells.tolist().index(target)] > 0
    before = suppressed.copy()
    added = repair_insiders(prep, suppressed, check, 400, None)
    assert added == int((suppressed & ~before).sum()) > 0
    assert not len(insiders_short(prep, suppressed, prep.kinds, 400, None).cells)
    # The test's own LP, as "small" (its counts in every cell as lower bounds), agrees.
    frame = prep.tables[0].frame
    hide = np.isin(prep.model.cell_qids["t"], np.nonzero(suppressed)[0])
    shown = frame.assign(value=frame["value"].astype(object).where(~hide, pd.NA))
    own = {k: v["small"] for k, v in parts.items() if "small" in v}
    lo, hi = _insider_range(shown, own, ("R1", "shelter"))
    big = special[("R1", "shelter")]["big"]
    assert hi - lo >= 0.2 * big - 1e-6
    assert hi - own[("R1", "shelter")] >= 1.2 * big - 1e-6


def _cells(grid) -> dict[tuple[str, str], int]:
    return {(r, c): grid[i][j] for i, r in enumerate(REGIONS) for j, c in enumerate(SERVICES)}
