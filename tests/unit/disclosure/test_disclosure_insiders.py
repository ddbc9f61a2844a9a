"""Insiders (issue 14 point 4): the p % rule, single-member categories, singletons.

Each test builds a small table whose only risk is the insider one, so it fails if that rule is off.
"""

from __future__ import annotations

import pandas as pd

from dvnet.anonymize.disclosure import TOTAL, get_profile, protect

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
