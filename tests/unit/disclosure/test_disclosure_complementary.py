"""Primary + complementary suppression with known answers, checked by the LP audit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dvnet.anonymize.disclosure import DisclosureError, Table, audit, get_profile, protect
from dvnet.anonymize.disclosure.complementary_heuristic import cleanup, heuristic
from dvnet.anonymize.disclosure.complementary_milp import solve_milp
from dvnet.anonymize.disclosure.protect import prepare


def _suppressed(release, name: str, reason: str = "complementary") -> set[tuple[str, ...]]:
    """Cells of table ``name`` suppressed for ``reason`` (the coordinator's record; every one of
    them has the one public mark in the table itself)."""
    frame = release.tables[name]
    dims = [c for c in frame.columns if c not in ("value", "status")]
    why = release.reasons[name]
    assert (frame.loc[why != "published", "status"] == "suppressed").all() and (frame.loc[why == "published", "status"] == "published").all()
    return {tuple(r) for r in frame.loc[why == reason, dims].itertuples(index=False)}


def _assert_clean_reaudit(release, earlier=None):
    again = audit(release.as_tables(), release.profile, earlier=earlier, reasons=release.reasons)
    assert again.n_exact == 0 and again.n_narrow == 0 and again.n_unchecked == 0
    assert again.passed


@pytest.mark.parametrize("method", ["milp", "heuristic"])
def test_a_single_suppression_in_a_row_gets_the_cheapest_sufficient_partner(method):
    frame = pd.DataFrame({"service": ["shelter", "outreach", "counselling", "legal", "Total"], "value": [3, 30, 20, 60, 113]})
    release = protect([Table("row", frame, ("service",), "episodes")], method=method)
    assert _suppressed(release, "row", "primary") == {("shelter",)}
    # 20 is the smallest partner leaving the attacker a range of at least 10 (1..22: a suppressed
    # cell is never a zero, as the attacker knows).
    assert _suppressed(release, "row") == {("counselling",)}
    row = release.audit.cells.set_index("coordinates").loc["service=shelter"]
    assert (row["lower"], row["upper"]) == (1, 22)
    _assert_clean_reaudit(release)


@pytest.mark.parametrize("method", ["milp", "heuristic"])
def test_a_grid_cell_is_protected_by_the_cheapest_rectangle(grid_table, method):
    t = grid_table("t", [[3, 40, 25], [30, 20, 50], [22, 35, 41]], ["A", "B", "C"], ["x", "y", "z"])
    release = protect([t], method=method)
    assert _suppressed(release, "t") == {("A", "z"), ("C", "x"), ("C", "z")}
    assert release.stats.complementary == 3 and release.stats.complementary_total == 25 + 22 + 41
    _assert_clean_reaudit(release)


# A 4x4 table in which every row and every column has (at least) two suppressions, yet one cell is
# exactly recoverable: two suppression rectangles linked by a single "bridge" cell (r1, c3).
BRIDGE_GRID = [[20, 30, 4, 15], [25, 35, 18, 22], [16, 19, 40, 27], [21, 33, 24, 50]]
BRIDGE = {("r1", "c1"), ("r1", "c2"), ("r2", "c1"), ("r2", "c2"), ("r3", "c3"), ("r3", "c4"), ("r4", "c3"), ("r4", "c4"), ("r1", "c3")}
ROWS, COLS = ["r1", "r2", "r3", "r4"], ["c1", "c2", "c3", "c4"]


def _statuses(cells, primary):
    return {c: ("suppressed: primary" if c == primary else "suppressed: complementary") for c in cells}


def test_the_audit_catches_a_bridge_cell_that_two_suppressions_per_line_do_not_protect(grid_table, hand_audit):
    for r in ROWS:
        assert sum(1 for c in BRIDGE if c[0] == r) >= 2
    for col in COLS:
        assert sum(1 for c in BRIDGE if c[1] == col) >= 2
    hand = grid_table("t", BRIDGE_GRID, ROWS, COLS, statuses=_statuses(BRIDGE, ("r1", "c3")))
    report = hand_audit([hand])
    cells = report.cells.set_index("coordinates")
    bridge = cells.loc["region=r1; service=c3"]
    assert bridge["verdict"] == "exact" and bridge["lower"] == bridge["upper"] == 4
    assert not report.passed
    with pytest.raises(DisclosureError) as err:
        report.raise_if_failed()
    assert err.value.reason == "AUDIT_FAILED"
    assert "4" not in err.value.message.replace(str(report.n_exact), "")


def test_exactly_two_suppressions_per_line_can_still_be_pinned_by_non_negativity(grid_table, hand_audit):
    # An 8-cycle (two per row and column) whose moves are blocked by a zero on each side: a rank
    # check sees one degree of freedom, the LP with non-negativity sees every cell exactly. (A
    # profile that suppresses zeros: where zeros are published, a suppressed cell is at least 1.)
    grid = [[3, 25, 12, 30], [14, 20, 0, 17], [26, 13, 0, 22], [18, 27, 31, 16]]
    cycle = {("r1", "c1"), ("r1", "c2"), ("r2", "c2"), ("r2", "c3"), ("r3", "c3"), ("r3", "c4"), ("r4", "c4"), ("r4", "c1")}
    report = hand_audit([grid_table("t", grid, ROWS, COLS, statuses=_statuses(cycle, ("r1", "c1")))], get_profile("dv-default", zeros="suppress"))
    assert report.n_exact == 8
    assert report.cells.set_index("coordinates").loc["region=r1; service=c1", "upper"] == 3


@pytest.mark.parametrize("method", ["milp", "heuristic"])
def test_the_protector_fixes_the_bridge(grid_table, method):
    release = protect([grid_table("t", BRIDGE_GRID, ROWS, COLS)], method=method)
    bridge = release.audit.cells.set_index("coordinates").loc["region=r1; service=c3"]
    assert bridge["width"] >= 10
    _assert_clean_reaudit(release)


def test_the_heuristic_repairs_the_bridge_pattern_it_is_given(grid_table):
    prep = prepare([grid_table("t", BRIDGE_GRID, ROWS, COLS)])
    model = prep.model
    keys = list(model.keys)
    seed = np.zeros(model.n, dtype=bool)
    for r, c in BRIDGE:
        seed[keys.index(f"episodes\x1dregion\x1e{r}\x1fservice\x1e{c}\x1f")] = True
    before = prep.problem.audit(seed)
    assert (before.verdict == "exact").any()
    repaired, info = heuristic(prep.problem, suppressed=seed)
    after = prep.problem.audit(repaired, targets=np.nonzero(repaired)[0])
    assert (after.verdict == "protected").all()
    assert info.iterations >= 1


def test_two_tables_sharing_a_margin_are_protected_jointly(grid_table, hand_audit):
    service = [[4, 5], [20, 30], [33, 27]]
    risk = [[3, 6], [15, 35], [25, 35]]
    regions = ["R1", "R2", "R3"]
    A = {(r, c) for r in ("R1", "R2") for c in ("s1", "s2", "Total")}
    B = {(r, c) for r in ("R1", "R3") for c in ("h", "l", "Total")}
    prim_a = {("R1", "s1"), ("R1", "s2"), ("R1", "Total")}
    prim_b = {("R1", "h"), ("R1", "l"), ("R1", "Total")}
    hand_a = grid_table("a", service, regions, ["s1", "s2"], statuses={c: "suppressed: primary" if c in prim_a else "suppressed: complementary" for c in A})
    hand_b = grid_table("b", risk, regions, ["h", "l"], dims=("region", "risk"), statuses={c: "suppressed: primary" if c in prim_b else "suppressed: complementary" for c in B})
    # Each hand-made pattern protects its own table ...
    assert hand_audit([hand_a]).passed and hand_audit([hand_b]).passed
    # ... but together A publishes R3's total and B publishes R2's: R1's total = 119 - 50 - 60.
    joint = hand_audit([hand_a, hand_b])
    r1 = joint.cells.set_index("coordinates").loc["region=R1"]
    assert r1["verdict"] == "exact" and r1["lower"] == 9
    release = protect([grid_table("a", service, regions, ["s1", "s2"]), grid_table("b", risk, regions, ["h", "l"], dims=("region", "risk"))])
    a, b = release.tables["a"], release.tables["b"]
    for region in [*regions, "Total"]:
        sa = a[(a["region"] == region) & (a["service"] == "Total")]["status"].item()
        sb = b[(b["region"] == region) & (b["risk"] == "Total")]["status"].item()
        assert sa == sb
    _assert_clean_reaudit(release)


@pytest.mark.parametrize("method", ["milp", "heuristic"])
def test_a_small_region_is_protected_inside_its_province(cube_table, method):
    t = cube_table(
        "h",
        {("P1", "R1"): 4, ("P1", "R2"): 30, ("P1", "R3"): 25, ("P2", "R4"): 40, ("P2", "R5"): 50},
        ("province", "region"),
        nested={"region": "province"},
    )
    release = protect([t], method=method)
    assert _suppressed(release, "h") == {("P1", "R3")}
    _assert_clean_reaudit(release)


@pytest.mark.parametrize("method", ["milp", "heuristic"])
def test_a_small_province_is_protected_at_the_province_level(cube_table, method):
    t = cube_table(
        "h",
        {("P1", "R1"): 14, ("P1", "R2"): 30, ("P1", "R3"): 25, ("P2", "R4"): 4, ("P2", "R5"): 5},
        ("province", "region"),
        nested={"region": "province"},
    )
    release = protect([t], method=method)
    assert _suppressed(release, "h", "primary") == {("P2", "Total"), ("P2", "R4"), ("P2", "R5")}
    # One cell suffices: the grand total (the province total of P1 would need a region too).
    assert _suppressed(release, "h") == {("Total", "Total")}
    _assert_clean_reaudit(release)


def test_a_three_dimensional_hierarchical_table_passes_the_audit(cube_table):
    rng = np.random.default_rng(7)
    geo = {"R1": "P1", "R2": "P1", "R3": "P1", "R4": "P2", "R5": "P2"}
    values = {(geo[r], r, s): int(rng.choice([0, 2, 5, 9, 14, 30, 55])) for r in geo for s in ("shelter", "outreach", "legal")}
    t = cube_table("cube", values, ("province", "region", "service"), nested={"region": "province"})
    release = protect([t])
    assert release.stats.primary > 0
    _assert_clean_reaudit(release)


def _quarters(q2_a: int):
    release1 = pd.DataFrame({"quarter": ["Q1", "Q1", "Q1"], "region": ["A", "B", "Total"], "value": [50, 60, 110]})
    values = {("Q1", "A"): 50, ("Q1", "B"): 60, ("Q2", "A"): q2_a, ("Q2", "B"): 40}
    rows = []
    for q in ("Q1", "Q2", "Total"):
        for r in ("A", "B", "Total"):
            v = sum(val for (qq, rr), val in values.items() if q in (qq, "Total") and r in (rr, "Total"))
            rows.append({"quarter": q, "region": r, "value": v})
    return Table("ytd", release1, ("quarter", "region"), "episodes"), Table("ytd", pd.DataFrame(rows), ("quarter", "region"), "episodes")


def test_a_second_release_is_refused_when_differencing_with_the_first_exposes_a_cell():
    first, second = _quarters(q2_a=3)
    ledger = protect([first]).ledger_cells("2026-Q1")
    alone = protect([second], method="milp")
    # Without the ledger the cheapest protection hides Q1's cells ...
    assert _suppressed(alone, "ytd") == {("Q1", "A"), ("Q1", "B"), ("Q2", "B")}
    # ... which the first release published: Q2/A = Total/A - Q1/A.
    report = audit(alone.as_tables(), earlier=ledger)
    q2a = report.cells.set_index("coordinates").loc["quarter=Q2; region=A"]
    assert q2a["verdict"] == "exact" and q2a["upper"] == 3
    with pytest.raises(DisclosureError) as err:
        report.raise_if_failed()
    assert err.value.reason == "AUDIT_FAILED"
    # Protected with the ledger, the complements avoid what was already published.
    for method in ("milp", "heuristic"):
        release = protect([second], earlier=ledger, method=method)
        assert _suppressed(release, "ytd") == {("Q2", "B"), ("Total", "A"), ("Total", "B")}
        _assert_clean_reaudit(release, earlier=ledger)


def test_cms_requires_a_wider_range_than_the_dv_default():
    frame = pd.DataFrame({"service": ["a", "b", "c", "d", "Total"], "value": [3, 9, 50, 60, 122]})
    t = Table("row", frame, ("service",), "episodes")
    assert protect([t], "dv-default").stats.complementary == 0  # 3 + 9 = 12, each at least 1: a range 1..11, width 10
    cms = protect([t], "cms-11")
    assert _suppressed(cms, "row") == {("c",)}  # width 10 would show "at most 10"
    assert cms.audit.cells["width"].min() >= 11


def _random_grid(seed):
    rng = np.random.default_rng(seed)
    return (rng.choice([0, 1, 3, 6, 9, 12, 18, 25, 40, 70], size=(5, 6), p=[0.08, 0.08, 0.1, 0.1, 0.1, 0.1, 0.12, 0.12, 0.1, 0.1]),)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_milp_and_heuristic_both_pass_and_the_milp_suppresses_no_more(grid_table, seed):
    (grid,) = _random_grid(seed)
    t = grid_table("t", grid, [f"r{i}" for i in range(5)], [f"c{j}" for j in range(6)])
    prep = prepare([t])
    costs = {}
    for method in ("milp", "heuristic"):
        release = protect([t], method=method)
        assert release.audit.passed
        _assert_clean_reaudit(release)
        hidden = release.tables["t"]["status"] != "published"
        costs[method] = (int(hidden.sum()), int(release.stats.suppressed_total))
    assert costs["milp"][0] <= costs["heuristic"][0]
    assert costs["milp"] <= costs["heuristic"]  # lexicographic: cells, then total
    pattern, info = solve_milp(prep.problem)
    assert info.optimal and pattern is not None


def test_a_milp_out_of_rounds_hands_its_last_pattern_to_the_heuristic(grid_table, monkeypatch):
    import importlib

    from dvnet.anonymize.disclosure import complementary_milp

    protect_module = importlib.import_module("dvnet.anonymize.disclosure.protect")  # the package exports the function under that name

    (grid,) = _random_grid(4)  # its MILP needs more than two rounds of cuts (the first has no cuts to meet)
    t = grid_table("t", grid, [f"r{i}" for i in range(5)], [f"c{j}" for j in range(6)])
    problem = prepare([t]).problem
    pattern, info = solve_milp(problem, rounds=2)
    assert pattern is None and info.note == "rounds" and info.iterations == 2
    seed = info.pattern
    assert (seed >= problem.sensitive).all() and (seed & ~problem.sensitive).any()  # the MILP's complementary cells
    assert problem.audit(seed).failed().any()  # short of protecting: that is why it is a seed
    done, _ = heuristic(problem, suppressed=seed)
    assert (done >= seed).all() and not problem.audit(done).failed().any()  # kept, completed

    seeds = []
    real = protect_module.heuristic

    def spy(sub, **kw):
        seeds.append(kw.get("suppressed"))
        return real(sub, **kw)

    monkeypatch.setattr(protect_module, "heuristic", spy)
    monkeypatch.setattr(complementary_milp, "MILP_ROUNDS", 2)
    monkeypatch.setattr(complementary_milp, "MILP_CELL_ROUNDS", 1)
    release = protect([t])
    assert release.audit.passed and release.stats.heuristic_blocks >= 1
    assert seeds and seeds[0] is not None and np.array_equal(seeds[0], seed)  # protect seeds the heuristic with the MILP's pattern


def test_small_blocks_get_more_rounds_of_cuts_than_large_ones():
    from dvnet.anonymize.disclosure.complementary_milp import MILP_ROUNDS, milp_rounds

    assert milp_rounds(42) > 100 and milp_rounds(849) == milp_rounds(5_000) == MILP_ROUNDS


def test_primary_only_is_reported_as_failing_and_protect_refuses_it(grid_table):
    t = grid_table("t", [[3, 40, 25], [30, 20, 50], [22, 35, 41]], ["A", "B", "C"], ["x", "y", "z"])
    with pytest.raises(DisclosureError) as err:
        protect([t], method="none")
    assert err.value.reason == "AUDIT_FAILED"
    release = protect([t], method="none", check=False)
    assert release.audit.n_exact == 1 and not release.audit.passed


def _cleanup_by_full_audits(problem, suppressed):
    """The clean-up as first written: after each drop, audit every suppressed cell."""
    supp = suppressed.copy()
    comp = supp & ~problem.sensitive & problem.view.in_release
    res = problem.audit(supp, targets=np.nonzero(comp)[0])
    supp[res.targets[res.verdict == "exact"]] = False
    order = np.nonzero(supp & ~problem.sensitive & problem.view.in_release)[0]
    for q in order[np.argsort(-problem.cost[order], kind="stable")]:
        supp[q] = False
        if not (problem.audit(supp, targets=np.nonzero(supp & problem.view.in_release)[0]).verdict == "protected").all():
            supp[q] = True
    return supp


@pytest.mark.parametrize("seed", range(1, 11))
def test_the_clean_up_drops_what_a_full_audit_after_each_drop_would_drop(grid_table, cube_table, seed):
    """The clean-up audits only the cells a drop can reach (its component), neighbours first, and
    stops at the first failure; the pattern it leaves is the one full audits would leave
    (2-D grids, and 3-D cubes where a drop also reaches cells it shares no equation with)."""
    if seed <= 5:
        (grid,) = _random_grid(seed)
        table = grid_table("t", grid, [f"r{i}" for i in range(5)], [f"c{j}" for j in range(6)])
    else:
        cells = np.random.default_rng(seed).choice([0, 1, 2, 5, 9, 14, 30], size=(3, 3, 4))
        table = cube_table("t", {(f"a{i}", f"b{j}", f"c{k}"): int(v) for (i, j, k), v in np.ndenumerate(cells)}, ("a", "b", "c"))
    prep = prepare([table])
    problem = prep.problem
    rng = np.random.default_rng(seed)
    pattern, _ = heuristic(problem, cleanup_seconds=0.0)
    padded = pattern | (problem.can_suppress & (rng.random(problem.n) < 0.4))  # more than needed: still protecting
    for _ in range(10):  # less any added cell left exact (it hides nothing, and would fail every drop)
        res = problem.audit(padded, targets=np.nonzero(padded & problem.view.in_release)[0])
        padded[res.targets[res.verdict == "exact"]] = False
    assert (problem.audit(padded, targets=np.nonzero(padded & problem.view.in_release)[0]).verdict == "protected").all()
    kept = cleanup(problem, padded, deadline=None)
    assert kept.tolist() == _cleanup_by_full_audits(problem, padded).tolist()
    assert kept.sum() < padded.sum()


def test_a_drop_reaches_its_whole_component_and_nothing_else(grid_table):
    """Two suppressed rectangles: publishing a corner of one can expose the corner opposite
    (which shares no equation with it), never a cell of the other rectangle."""
    from dvnet.anonymize.disclosure.complementary_heuristic import _affected

    grid = [[20, 21, 22, 23], [24, 25, 26, 27], [28, 29, 30, 31], [32, 33, 34, 35]]
    rows, cols = [f"r{i}" for i in range(4)], [f"c{j}" for j in range(4)]
    prep = prepare([grid_table("t", grid, rows, cols)])
    keys = list(prep.model.keys)

    def q(r, c):
        return keys.index(f"episodes\x1dregion\x1er{r}\x1fservice\x1ec{c}\x1f")

    supp = np.zeros(prep.problem.n, dtype=bool)
    for r, c in [(0, 0), (0, 1), (1, 0), (1, 1), (2, 2), (2, 3), (3, 2), (3, 3)]:
        supp[q(r, c)] = True
    reached = _affected(prep.problem, supp, q(0, 0)).tolist()
    assert sorted(reached) == sorted([q(0, 1), q(1, 0), q(1, 1)])
    assert reached[-1] == q(1, 1)  # the cells sharing an equation with the drop come first
