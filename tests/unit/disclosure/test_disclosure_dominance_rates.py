"""Agency dominance, rates from published counts, and the shape of the protected output."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from dvnet.anonymize.disclosure import DisclosureError, Table, audit, protect, rates
from dvnet.anonymize.disclosure.complementary import dual_cut
from dvnet.anonymize.disclosure.protect import prepare


def _contributions(rows):
    return pd.DataFrame(rows, columns=["region", "service", "agency_id", "value"])


GRID = [[40, 30, 25], [50, 35, 45], [33, 60, 28]]
REGIONS, SERVICES = ["R1", "R2", "R3"], ["shelter", "counselling", "legal"]


def _contrib_for(grid, dominated):
    rows = []
    for i, r in enumerate(REGIONS):
        for j, s in enumerate(SERVICES):
            v = grid[i][j]
            if (r, s) in dominated:
                top = round(v * dominated[(r, s)])  # the rest split over three agencies, so only the share decides
                rest = v - top
                rows += [(r, s, "shelter-north", top), (r, s, "shelter-south", rest // 3), (r, s, "shelter-east", rest // 3),
                         (r, s, "shelter-west", rest - 2 * (rest // 3))]
            else:
                third = v // 3
                rows += [(r, s, "a1", third), (r, s, "a2", third), (r, s, "a3", v - 2 * third)]
    return _contributions(rows)


def _with_reasons(release, name):
    """The published table beside the coordinator's reasons (which no release file holds)."""
    return release.tables[name].assign(reason=release.reasons[name])


def test_one_agency_with_90_percent_of_a_cell_of_40_makes_it_sensitive(grid_table, cell):
    t = grid_table("t", GRID, REGIONS, SERVICES)
    contrib = _contrib_for(GRID, {("R1", "shelter"): 0.9, ("R2", "shelter"): 0.7})
    release = protect([t], contributions=contrib)
    out = _with_reasons(release, "t")
    assert cell(out, region="R1", service="shelter")["reason"] == "dominance"
    assert cell(out, region="R1", service="shelter")["status"] == "suppressed"  # the one public mark
    assert cell(out, region="R2", service="shelter")["reason"] != "dominance"  # 70 % < 80 %
    assert release.stats.dominance == 1 and release.stats.complementary >= 3
    row = release.audit.cells.set_index("coordinates").loc["region=R1; service=shelter"]
    assert row["required"] == 10 and row["width"] >= 10
    assert release.audit.passed


def test_a_margin_dominated_through_its_parts_is_caught(grid_table, cell):
    t = grid_table("t", GRID, REGIONS, SERVICES)
    rows = []
    for i, r in enumerate(REGIONS):
        for j, s in enumerate(SERVICES):
            v = GRID[i][j]
            if r == "R3":  # R3's total is all one agency, though no single cell exceeds 80 %
                rows += [(r, s, "shelter-east", v)] if j == 0 else [(r, s, "shelter-east", v - 5), (r, s, f"other-{j}", 5)]
            else:
                rows += [(r, s, "a1", v // 2), (r, s, "a2", v - v // 2)]
    release = protect([t], contributions=_contributions(rows), profile="dv-default")
    out = _with_reasons(release, "t")
    assert cell(out, region="R3", service="Total")["reason"] == "dominance"
    assert cell(out, region="R3", service="shelter")["reason"] == "dominance"
    assert release.audit.passed


def test_dominance_share_is_configurable(grid_table, cell):
    t = grid_table("t", GRID, REGIONS, SERVICES)
    contrib = _contrib_for(GRID, {("R1", "shelter"): 0.9})
    release = protect([t], "dv-default", contributions=contrib)
    assert release.stats.dominance == 1
    relaxed = protect([t], __import__("dvnet.anonymize.disclosure", fromlist=["get_profile"]).get_profile("dv-default", dominance_share=0.95, p_percent=None), contributions=contrib)
    assert relaxed.stats.dominance == 0


def test_contributions_must_be_interior_cells(grid_table):
    t = grid_table("t", GRID, REGIONS, SERVICES)
    with pytest.raises(DisclosureError) as err:
        protect([t], contributions=_contributions([("R1", "Total", "a1", 95)]))
    assert err.value.reason == "INVALID_CONTRIBUTIONS"


def test_protected_output_marks_every_suppressed_cell_and_never_shows_a_bare_zero(grid_table):
    t = grid_table("t", [[3, 40, 0], [30, 0, 50], [22, 35, 41]], ["A", "B", "C"], ["x", "y", "z"])
    release = protect([t])
    out = release.tables["t"]
    assert list(out.columns) == ["region", "service", "value", "status"]
    assert str(out["value"].dtype) == "Int64"
    assert set(out["status"]) <= {"published", "suppressed"}
    hidden = out["status"] != "published"
    assert out.loc[hidden, "value"].isna().all()
    assert out.loc[~hidden, "value"].notna().all()
    assert (out.loc[~hidden, "value"] == 0).sum() == (t.frame["value"] == 0).sum() - (t.frame.loc[hidden.to_numpy(), "value"] == 0).sum()
    stats = release.stats.to_dict()
    assert stats["cells"] == 16 and stats["primary"] == 1
    assert stats["primary"] + stats["complementary"] + stats["dominance"] + stats["published"] == 16
    assert stats["suppressed_total"] == int(t.frame.loc[hidden.to_numpy(), "value"].sum())  # the coordinator's figure
    public = release.stats.public()
    assert public["suppressed"] == int(hidden.sum()) and not {"primary", "dominance", "complementary", "suppressed_total", "complementary_total"} & set(public)
    assert release.audit.summary.startswith("audit PASSED")


def test_the_ledger_records_every_cell_with_none_for_suppressed(grid_table):
    release = protect([grid_table("t", [[3, 40, 25], [30, 20, 50], [22, 35, 41]], ["A", "B", "C"], ["x", "y", "z"])])
    cells = release.ledger_cells("r1")
    assert len(cells) == 16
    assert sum(c.value is None for c in cells) == 4
    assert all(c.table == "r1/t" for c in cells)
    assert audit(release.as_tables(), earlier=cells).passed


def test_rates_with_a_suppressed_denominator_or_numerator_are_suppressed():
    referrals = pd.DataFrame({"region": ["A", "B", "C", "Total"], "value": [5, 40, 30, 75]})
    accepted = pd.DataFrame({"region": ["A", "B", "C", "Total"], "value": [4, 30, 12, 46]})
    release = protect([Table("referrals", referrals, ("region",), "referrals"), Table("accepted", accepted, ("region",), "accepted")])
    den, num = release.tables["referrals"], release.tables["accepted"]
    assert den.loc[0, "status"] == "suppressed" and release.reasons["referrals"][0] == "primary"
    out = rates(num, den, ["region"]).set_index("region")
    assert out.loc["A", "status"] == "suppressed" and pd.isna(out.loc["A", "rate"])
    for region in ("B", "C", "Total"):
        if den.set_index("region").loc[region, "status"] != "published" or num.set_index("region").loc[region, "status"] != "published":
            assert out.loc[region, "status"] == "suppressed" and pd.isna(out.loc[region, "rate"])
        else:
            assert out.loc[region, "rate"] == pytest.approx(num.set_index("region").loc[region, "value"] / den.set_index("region").loc[region, "value"])
    assert (out["status"] != "published").sum() >= 2


def test_rates_known_answers_including_a_zero_denominator():
    num = pd.DataFrame({"region": ["A", "B", "C", "D"], "value": pd.array([10, pd.NA, 15, 0], dtype="Int64"),
                        "status": ["published", "suppressed", "published", "published"]})
    den = pd.DataFrame({"region": ["A", "B", "C", "D"], "value": pd.array([40, 20, pd.NA, 0], dtype="Int64"),
                        "status": ["published", "published", "suppressed", "published"]})
    out = rates(num, den, ["region"], scale=100).set_index("region")
    assert out.loc["A", "rate"] == 25.0 and out.loc["A", "status"] == "published"
    # One mark whichever part is hidden: the status never says which count was small.
    assert out.loc["B", "status"] == "suppressed" and pd.isna(out.loc["B", "rate"])
    assert out.loc["C", "status"] == "suppressed" and pd.isna(out.loc["C", "rate"])
    assert out.loc["D", "status"] == "undefined: zero denominator"


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
    res = problem.audit(pattern, want_duals=True)
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
    hidden = release.tables["t"]["status"] != "published"
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


def test_zero_and_hundred_percent_rates_follow_the_one_rule():
    # Published exactly when both counts are published, whatever the rate; never a hint at which
    # count was hidden otherwise.
    num = pd.DataFrame({"region": ["A", "B", "C", "D"], "value": pd.array([0, 40, pd.NA, 0], dtype="Int64"),
                        "status": ["published", "published", "suppressed", "published"]})
    den = pd.DataFrame({"region": ["A", "B", "C", "D"], "value": pd.array([40, 40, 40, pd.NA], dtype="Int64"),
                        "status": ["published", "published", "published", "suppressed"]})
    out = rates(num, den, ["region"]).set_index("region")
    assert out.loc["A", "rate"] == 0.0 and out.loc["A", "status"] == "published"
    assert out.loc["B", "rate"] == 1.0 and out.loc["B", "status"] == "published"
    assert out.loc["C", "status"] == out.loc["D", "status"] == "suppressed"
    assert pd.isna(out.loc["C", "rate"]) and pd.isna(out.loc["D", "rate"])


def _contributors_by_hand(model, tables, contributions):
    """The reference: for every quantity of the model, its contributions summed per agency by
    filtering the rows its coordinates cover, one quantity at a time."""
    from dvnet.anonymize.disclosure.tables import TOTAL, quantity_keys

    out = {}
    for t in tables:
        for key, row in zip(quantity_keys(t.frame, t.dims, t.measure), t.frame.to_dict("records"), strict=True):
            rows = contributions
            for d in t.dims:
                if row[d] != TOTAL:
                    rows = rows[rows[d].astype(str) == str(row[d])]
            per = rows.groupby("agency_id")["value"].sum()
            out[key] = per[per > 0].sort_values(ascending=False)
    return out


@pytest.mark.parametrize("seed", range(6))
def test_what_each_cells_agencies_add_up_to_matches_a_hand_count(cube_table, seed):
    """top1, top2, total, the sole agency and each agency's count, per quantity (margins
    included, zeros and agencies absent from some cells among them), as counted by hand."""
    from dvnet.anonymize.disclosure.dominance import contributors
    from dvnet.anonymize.disclosure.tables import build_model

    rng = np.random.default_rng(seed)
    dims = ("region", "service", "risk")[: 1 + seed % 3]
    levels = {d: [f"{d[0]}{i}" for i in range(rng.integers(1, 4))] for d in dims}
    agencies = [f"agency-{i}" for i in range(rng.integers(1, 5))]
    rows = [(*coords, a, int(rng.choice([0, 0, 1, 2, 7, 30])))
            for coords in itertools.product(*levels.values()) for a in agencies if rng.random() < 0.7]
    contributions = pd.DataFrame(rows, columns=[*dims, "agency_id", "value"])
    interior = contributions.groupby(list(dims))["value"].sum().to_dict()
    t = cube_table("t", {(k if isinstance(k, tuple) else (k,)): v for k, v in interior.items()}, dims)
    model = build_model([t])
    who = contributors(model, [t], {"t": contributions})
    expected = _contributors_by_hand(model, [t], contributions)
    index = {k: q for q, k in enumerate(model.keys)}
    by_agency = who.by_agency.toarray()
    for key, per in expected.items():
        q = index[key]
        if per.empty:
            assert np.isnan(who.total[q]) and who.owner[q] == -1, key
            continue
        assert who.top1[q] == per.iloc[0] and who.total[q] == per.sum(), key
        assert who.top2[q] == (per.iloc[1] if len(per) > 1 else 0.0), key
        assert who.owner[q] == (who.agencies.index(per.index[0]) if len(per) == 1 else -1), key
        assert {who.agencies[a]: v for a, v in enumerate(by_agency[q]) if v > 0} == per.to_dict(), key
