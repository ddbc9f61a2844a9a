"""The p % rule and insiders, rates from published counts, and the shape of the protected output."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dvnet.anonymize.disclosure import DisclosureError, Table, get_profile, protect, rates
from dvnet.anonymize.disclosure.complementary import dual_cut
from dvnet.anonymize.disclosure.protect import prepare


def _contributions(rows):
    return pd.DataFrame(rows, columns=["region", "service", "agency_id", "value"])


GRID = [[40, 30, 25], [50, 35, 45], [33, 60, 28]]
REGIONS, SERVICES = ["R1", "R2", "R3"], ["shelter", "counselling", "legal"]


def _contrib_for(grid, split):
    """Each cell split evenly over agencies a1..a4, except ``split`` cells: {cell: [shares]}."""
    rows = []
    for i, r in enumerate(REGIONS):
        for j, s in enumerate(SERVICES):
            v = grid[i][j]
            shares = split.get((r, s), [0.25, 0.25, 0.25, 0.25])
            parts = [round(v * x) for x in shares[:-1]]
            parts.append(v - sum(parts))
            rows += [(r, s, f"{'x' if (r, s) in split else 'a'}{k}", part) for k, part in enumerate(parts) if part]
    return _contributions(rows)


@pytest.mark.parametrize(
    ("shares", "sensitive"),
    [([0.6, 0.4], True), ([1.0], True), ([0.85, 0.1, 0.05], True), ([0.5, 0.3, 0.2], False), ([0.4, 0.3, 0.3], False)],
)
def test_the_p_percent_rule_protects_every_contributor_from_the_next_largest(grid_table, cell, shares, sensitive):
    # Two contributors (or one) always: each subtracts its own part and reads the other's.
    t = grid_table("t", GRID, REGIONS, SERVICES)
    release = protect([t], contributions=_contrib_for(GRID, {("R1", "shelter"): shares}))
    out = release.tables["t"]
    i = out.index[(out["region"] == "R1") & (out["service"] == "shelter")][0]
    assert (release.reasons["t"][i] == "dominance") is sensitive
    if sensitive:
        assert out.loc[i, "status"] == "suppressed"  # the same mark as every other hidden cell
    assert release.audit.passed and release.audit.insiders >= 2


def test_a_margin_dominated_through_its_parts_is_caught(grid_table, cell):
    t = grid_table("t", GRID, REGIONS, SERVICES)
    rows = []
    for i, r in enumerate(REGIONS):
        for j, s in enumerate(SERVICES):
            v = GRID[i][j]
            if r == "R3":  # R3's total is nearly all one agency
                rows += [(r, s, "shelter-east", v)] if j == 0 else [(r, s, "shelter-east", v - 1), (r, s, f"other-{j}", 1)]
            else:
                rows += [(r, s, "a1", v // 3), (r, s, "a2", v // 3), (r, s, "a3", v - 2 * (v // 3))]
    release = protect([t], contributions=_contributions(rows), profile="dv-default")
    reasons = dict(zip(zip(release.tables["t"]["region"], release.tables["t"]["service"]), release.reasons["t"]))
    assert reasons[("R3", "Total")] == "dominance" and reasons[("R3", "shelter")] == "dominance"
    assert release.audit.passed


def test_the_p_percent_rule_is_configurable_and_can_be_switched_off(grid_table):
    t = grid_table("t", GRID, REGIONS, SERVICES)
    contrib = _contrib_for(GRID, {("R1", "shelter"): [0.85, 0.1, 0.05]})
    assert protect([t], "dv-default", contributions=contrib).stats.dominance == 1
    assert protect([t], get_profile("dv-default", dominance_p=0.03), contributions=contrib).stats.dominance == 0
    assert protect([t], get_profile("dv-default", dominance_p=None), contributions=contrib).stats.dominance == 0


def test_a_singletons_insider_cannot_recover_the_other_small_cell_of_its_row():
    # a = 3 is all agency A's; b = 9 is three agencies'. An outsider sees a, b in 1..11; A knows
    # a = 3 and would read b = 12 - 3 exactly, so a third cell must be hidden (sdcTable's singleton).
    frame = pd.DataFrame({"service": ["a", "b", "c", "d", "Total"], "value": [3, 9, 40, 50, 102]})
    t = Table("row", frame, ("service",), "episodes")
    contrib = pd.DataFrame(
        [("a", "A", 3), ("b", "X", 3), ("b", "Y", 3), ("b", "Z", 3), ("c", "X", 15), ("c", "Y", 15), ("c", "Z", 10),
         ("d", "X", 20), ("d", "Y", 15), ("d", "Z", 15)],
        columns=["service", "agency_id", "value"],
    )
    assert protect([t]).stats.complementary == 0
    release = protect([t], contributions=contrib)
    assert release.stats.complementary == 1
    a_view = release.audit.cells[release.audit.cells["attacker"] == "A"].set_index("coordinates")
    assert a_view.loc["service=b", "verdict"] == "protected" and a_view.loc["service=b", "width"] >= 10


def test_an_insider_estimate_within_p_is_a_failure_the_audit_names():
    # Cell 'a' = 30: agency A 25, B 5. Hidden with 'b' (35 = 18 + 17) only, B's upper estimate of
    # A's part is max(a) - 5; it must reach 1.1 x 25.
    frame = pd.DataFrame({"service": ["a", "b", "c", "Total"], "value": [30, 35, 60, 125]})
    t = Table("row", frame, ("service",), "episodes")
    contrib = pd.DataFrame([("a", "A", 25), ("a", "B", 5), ("b", "C", 18), ("b", "D", 17), ("c", "C", 30), ("c", "D", 30)], columns=["service", "agency_id", "value"])
    release = protect([t], contributions=contrib)
    assert release.audit.passed
    assert dict(zip(release.tables["row"]["service"], release.reasons["row"]))["a"] == "dominance"
    b_view = release.audit.cells[(release.audit.cells["attacker"] == "B") & (release.audit.cells["coordinates"] == "service=a")]
    assert (b_view["upper"] - 5 >= 1.1 * 25 - 1e-6).all()


def test_contributions_must_be_interior_cells(grid_table):
    t = grid_table("t", GRID, REGIONS, SERVICES)
    with pytest.raises(DisclosureError) as err:
        protect([t], contributions=_contributions([("R1", "Total", "a1", 95)]))
    assert err.value.reason == "INVALID_CONTRIBUTIONS"


def test_protected_output_marks_every_suppressed_cell_the_same_and_never_shows_a_bare_zero(grid_table):
    t = grid_table("t", [[3, 40, 0], [30, 0, 50], [22, 35, 41]], ["A", "B", "C"], ["x", "y", "z"])
    release = protect([t])
    out = release.tables["t"]
    assert list(out.columns) == ["region", "service", "value", "status"]
    assert str(out["value"].dtype) == "Int64"
    assert set(out["status"]) == {"published", "suppressed"}
    hidden = out["status"] == "suppressed"
    assert out.loc[hidden, "value"].isna().all()
    assert out.loc[~hidden, "value"].notna().all()
    assert (out.loc[~hidden, "value"] == 0).sum() == (t.frame["value"] == 0).sum() - (t.frame.loc[hidden.to_numpy(), "value"] == 0).sum()
    stats = release.stats.to_dict()
    assert stats["cells"] == 16 and stats["primary"] == 1
    assert stats["primary"] + stats["complementary"] + stats["dominance"] + stats["published"] == 16
    assert stats["suppressed_total"] == int(t.frame.loc[hidden.to_numpy(), "value"].sum())  # internal only
    assert release.stats.public() == {"cells": 16, "published": int((~hidden).sum()), "suppressed": int(hidden.sum())}
    assert release.audit.summary.startswith("audit PASSED")


def test_the_history_of_a_release_holds_every_cell_and_its_truth(grid_table):
    release = protect([grid_table("t", [[3, 40, 25], [30, 20, 50], [22, 35, 41]], ["A", "B", "C"], ["x", "y", "z"])])
    h = release.as_history("r1")
    (table,) = h.tables
    assert table.n_cells == 16 and int(table.frame["value"].isna().sum()) == 4
    assert h.truth["t"].tolist() == release.sources[0].frame["value"].astype(float).tolist()
    assert protect(release.sources, history=[h]).audit.passed


def test_rates_with_a_suppressed_denominator_or_numerator_are_suppressed_without_saying_which():
    referrals = pd.DataFrame({"region": ["A", "B", "C", "Total"], "value": [5, 40, 30, 75]})
    accepted = pd.DataFrame({"region": ["A", "B", "C", "Total"], "value": [4, 30, 12, 46]})
    release = protect([Table("referrals", referrals, ("region",), "referrals"), Table("accepted", accepted, ("region",), "accepted")])
    den, num = release.tables["referrals"], release.tables["accepted"]
    assert den.loc[0, "status"] == "suppressed"
    out = rates(num, den, ["region"]).set_index("region")
    assert out.loc["A", "status"] == "suppressed" and pd.isna(out.loc["A", "rate"])
    for region in ("B", "C", "Total"):
        if "suppressed" in (den.set_index("region").loc[region, "status"], num.set_index("region").loc[region, "status"]):
            assert out.loc[region, "status"] == "suppressed"
        else:
            assert out.loc[region, "rate"] == pytest.approx(num.set_index("region").loc[region, "value"] / den.set_index("region").loc[region, "value"])
    assert set(out["status"]) <= {"published", "suppressed"}


def test_rates_known_answers_including_a_zero_denominator_and_the_zero_rule():
    num = pd.DataFrame({"region": ["A", "B", "C", "D", "E", "F"], "value": pd.array([10, pd.NA, 15, 0, 0, 30], dtype="Int64"),
                        "status": ["published", "suppressed", "published", "published", "published", "published"]})
    den = pd.DataFrame({"region": ["A", "B", "C", "D", "E", "F"], "value": pd.array([40, 20, pd.NA, 0, 25, 30], dtype="Int64"),
                        "status": ["published", "published", "suppressed", "published", "published", "published"]})
    out = rates(num, den, ["region"], scale=100).set_index("region")
    assert out.loc["A", "rate"] == 25.0 and out.loc["A", "status"] == "published"
    assert out.loc["B", "status"] == "suppressed" and out.loc["C", "status"] == "suppressed" and pd.isna(out.loc["C", "rate"])
    assert out.loc["D", "status"] == "undefined: zero denominator"
    # One rule for 0 % and 100 %: published with their counts, suppressed where zeros are.
    assert (out.loc["E", "rate"], out.loc["F", "rate"]) == (0.0, 100.0)
    strict = rates(num, den, ["region"], scale=100, zeros="suppress").set_index("region")
    assert strict.loc["E", "status"] == strict.loc["F", "status"] == "suppressed"
    assert strict.loc["A", "status"] == "published"


def test_opensafely_rates_use_rounded_counts():
    referrals = pd.DataFrame({"region": ["A", "B", "Total"], "value": [43, 52, 95]})
    accepted = pd.DataFrame({"region": ["A", "B", "Total"], "value": [21, 38, 59]})
    release = protect([Table("r", referrals, ("region",), "referrals"), Table("a", accepted, ("region",), "accepted")], "opensafely")
    out = rates(release.tables["a"], release.tables["r"], ["region"]).set_index("region")
    assert out.loc["A", "rate"] == pytest.approx(20 / 45)
    assert out.loc["Total", "rate"] == pytest.approx(60 / 95)


def test_a_cut_from_lp_duals_equals_the_attackers_range_at_the_pattern_it_came_from(grid_table):
    # Strong duality: the inequality built from the duals is tight at the pattern it came from.
    t = grid_table("t", [[3, 40, 25], [30, 20, 50], [22, 35, 41]], ["A", "B", "C"], ["x", "y", "z"])
    prep = prepare([t])
    problem = prep.problem
    keys = list(prep.model.keys)
    pattern = problem.sensitive.copy()
    pattern[keys.index("episodes\x1dregion\x1eA\x1fservice\x1ey\x1f")] = True  # a row partner only
    res = problem.audit(pattern, np.nonzero(problem.sensitive)[0], want_duals=True)
    (p,) = res.targets
    assert res.verdict[0] == "exact"  # its column still gives it away
    rows, lam_max, lam_min, frozen = res.duals[int(p)]
    assert len(frozen) == 0  # exact duals over the whole component
    cut = dual_cut(problem, pattern, int(p), rows, lam_max, lam_min)
    assert cut.bound == pytest.approx(res.upper[0] - res.lower[0], abs=1e-6)
    cols, coefs, rhs = cut.inequality(float(problem.required[p]))
    assert rhs > 0 and len(cols) > 0 and np.all(coefs > 0) and np.all(coefs <= rhs)
    # The inequality is violated by the pattern it came from, and satisfied by the protected one.
    x = np.zeros(problem.n)
    x[pattern] = 1
    assert cut.K + float(np.sum(np.where(x[cut.cols] > 0, cut.d, 0.0))) < problem.required[p]
    release = protect([t])
    hidden = release.tables["t"]["status"] == "suppressed"
    protected = np.zeros(problem.n)
    protected[prep.model.cell_qids["t"][hidden.to_numpy()]] = 1
    assert float(np.sum(coefs * protected[cols])) >= rhs - 1e-9


@pytest.mark.parametrize(
    "numerator",
    [pd.DataFrame({"region": ["a"], "count": [3]}), pd.DataFrame({"region": ["a", "a"], "value": [3, 4]})],
    ids=["no value column", "two rows per cell"],
)
def test_rates_refuse_input_they_cannot_read_one_way(numerator):
    denominator = pd.DataFrame({"region": ["a"], "value": [10]})
    with pytest.raises(DisclosureError) as caught:
        rates(numerator, denominator, ["region"])
    assert caught.value.reason == "INVALID_RATE_INPUT"
