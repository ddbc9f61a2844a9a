"""Cells marked primary by hand (``protect(primary=...)``: tau-ARGUS's a-priori unsafe cells,
sdcTable's status "u"): protected like small counts whatever their count, recorded as primary in
the coordinator's record only, and a marking that cannot be applied is refused, never ignored."""

from __future__ import annotations

import pandas as pd
import pytest

from dvnet.anonymize.disclosure import DisclosureError, protect

GRID = [[40, 35, 52], [61, 44, 38], [29, 57, 66]]


def _flags(table, *cells):
    return [(r, c) in cells for r, c in table.frame[["region", "service"]].itertuples(index=False)]


def test_a_marked_large_count_is_suppressed_protected_and_recorded_as_primary(grid_table):
    table = grid_table("t", GRID, ["r1", "r2", "r3"], ["s1", "s2", "s3"])
    plain = protect([table], "dv-default")
    assert (plain.tables["t"]["status"] == "published").all()  # nothing small: nothing hidden
    release = protect([table], "dv-default", primary={"t": _flags(table, ("r2", "s2"))})
    out = release.tables["t"]
    hidden = out["status"] != "published"
    assert hidden[_flags(table, ("r2", "s2"))].all()
    assert hidden.sum() >= 4  # a cell alone in its row and column would be exact: others hide with it
    assert out.loc[hidden, "value"].isna().all()
    reasons = dict(zip(map(tuple, table.frame[["region", "service"]].itertuples(index=False)), release.reasons["t"], strict=True))
    assert reasons[("r2", "s2")] == "primary"
    assert release.audit.passed
    row = release.audit.cells[release.audit.cells["reason"] == "primary"]
    assert len(row) == 1 and float(row["width"].iloc[0]) >= float(row["required"].iloc[0]) > 1  # the profile's width, not just "not exact"


@pytest.mark.parametrize(
    "primary, says",
    [
        ({"elsewhere": [True]}, "not in the release"),
        ({"t": [True, False]}, "2 primary flag(s) for 16 cells"),
    ],
)
def test_a_marking_that_names_no_cell_of_the_release_is_refused(grid_table, primary, says):
    table = grid_table("t", GRID, ["r1", "r2", "r3"], ["s1", "s2", "s3"])
    with pytest.raises(DisclosureError) as err:
        protect([table], "dv-default", primary=primary)
    assert err.value.reason == "INVALID_TABLE"
    assert says in str(err.value)


def test_a_marked_zero_under_a_profile_that_publishes_zeros_is_refused(grid_table):
    # Under zeros="publish" the attacker knows every suppressed cell is at least 1: a hidden zero
    # would make the published numbers contradict the rules.
    table = grid_table("t", [[0, 35, 52], [61, 44, 38], [29, 57, 66]], ["r1", "r2", "r3"], ["s1", "s2", "s3"])
    with pytest.raises(DisclosureError) as err:
        protect([table], "dv-default", primary={"t": _flags(table, ("r1", "s1"))})
    assert err.value.reason == "INVALID_TABLE"
    assert "hold a zero" in str(err.value)


def test_a_marked_cell_one_agency_dominates_keeps_its_dominance_protection(grid_table):
    # Marking a cell must not weaken it: one agency's whole caseload is a dominance cell (its width,
    # its upper level, the insiders' audit), whether or not it is also marked.
    table = grid_table("t", GRID, ["r1", "r2", "r3"], ["s1", "s2", "s3"])
    rows = []
    for (r, c), v in zip(table.frame[["region", "service"]].itertuples(index=False, name=None), table.frame["value"]):
        if "Total" in (r, c):
            continue
        if (r, c) == ("r2", "s2"):
            rows.append((r, c, "solo", int(v)))
        else:  # three agencies with a third each: neither the share rule nor the p % rule flags it
            rows += [(r, c, f"a{k}", int(v) // 3 + (1 if k < int(v) % 3 else 0)) for k in range(3)]
    contributions = {"t": pd.DataFrame(rows, columns=["region", "service", "agency_id", "value"])}
    marked = protect([table], "dv-default", contributions=contributions, primary={"t": _flags(table, ("r2", "s2"))})
    unmarked = protect([table], "dv-default", contributions=contributions)
    for release in (marked, unmarked):
        reasons = dict(zip(table.frame[["region", "service"]].itertuples(index=False, name=None), release.reasons["t"], strict=True))
        assert reasons[("r2", "s2")] == "dominance"
        assert release.audit.passed
