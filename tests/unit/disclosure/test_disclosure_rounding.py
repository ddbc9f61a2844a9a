"""OpenSAFELY: redact <= 7, then round every count to the nearest 5; the audit reads intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dvnet.anonymize.disclosure import Table, audit, protect, round_to_base, rounding_interval
from dvnet.anonymize.disclosure.profiles import opensafely


def ehrql_apply_sdc(value: int) -> int:
    """ehrQL's ``measures/disclosure_control.apply_sdc``, restated for comparison."""
    value = 0 if value <= opensafely.SUPPRESSION_THRESHOLD else value
    return int(opensafely.ROUNDING_MULTIPLE * round(value / opensafely.ROUNDING_MULTIPLE, ndigits=0))


# Worked examples: true count -> what dvnet publishes (None = NA marked "suppressed").
WORKED = [(0, 0), (1, None), (3, None), (7, None), (8, 10), (12, 10), (13, 15), (17, 15), (18, 20), (22, 20), (23, 25), (1234, 1235)]


def test_worked_examples_redact_then_round():
    values = [v for v, _ in WORKED]
    frame = pd.DataFrame({"region": [f"r{i}" for i in range(len(values))] + ["Total"], "value": [*values, sum(values)]})
    release = protect([Table("t", frame, ("region",), "episodes")], "opensafely")
    out = release.tables["t"]
    for i, (_, expected) in enumerate(WORKED):
        if expected is None:
            assert pd.isna(out.loc[i, "value"]) and out.loc[i, "status"] == "suppressed"
        else:
            assert out.loc[i, "value"] == expected and out.loc[i, "status"] == "published"
    # The margin is rounded from its own true value (1358 -> 1360), not summed from rounded parts.
    assert sum(values) == 1358 and out.loc[len(values), "value"] == 1360
    assert release.stats.complementary == 0
    assert release.audit.passed


def test_dvnet_agrees_with_ehrql_wherever_ehrql_publishes_a_count():
    values = np.arange(0, 3000)
    ours = round_to_base(values, opensafely.ROUNDING_MULTIPLE)
    for v, o in zip(values, ours, strict=True):
        if v > opensafely.SUPPRESSION_THRESHOLD or v == 0:
            assert o == ehrql_apply_sdc(int(v))
        else:
            assert ehrql_apply_sdc(int(v)) == 0  # ehrQL's bare 0; dvnet marks these instead


@pytest.mark.parametrize(("published", "base", "lo", "hi"), [(10, 5, 8, 12), (0, 5, 0, 2), (20, 10, 15, 24), (7, 1, 7, 7)])
def test_a_rounded_value_is_read_as_the_counts_that_round_to_it(published, base, lo, hi):
    low, high = rounding_interval(np.array([published]), base)
    assert (low[0], high[0]) == (lo, hi)
    assert all(round_to_base(np.array([v]), base)[0] == published for v in range(lo, hi + 1))


def test_the_audit_treats_rounded_values_as_intervals_and_knows_the_rules():
    # a = 3 (redacted), b = 8 (shown 10, i.e. 8..12), total 11 (shown 10, i.e. 8..12): a in [0, 4]
    # from the numbers; an attacker who knows the rules also knows a redacted cell is not a zero
    # (zeros are published): a in [1, 4], narrower than the width 4 of a rounded value.
    frame = pd.DataFrame({"service": ["a", "b", "Total"], "value": [3, 8, 11]})
    t = Table("t", frame, ("service",), "episodes")
    primary_only = protect([t], "opensafely", method="none", check=False)
    row = primary_only.audit.cells.iloc[0]
    assert (row["lower"], row["upper"], row["verdict"]) == (1, 4, "narrow")
    release = protect([t], "opensafely")
    assert release.stats.complementary == 1 and release.audit.passed


def test_rounding_alone_can_leave_a_redacted_cell_too_narrow_and_a_complement_fixes_it(grid_table):
    # Row a: 3 + 10 = 13 (shown 15) says a is 1..9; column x: 3 + 9 = 12 (shown 10) says 0..4.
    t = grid_table("g", [[3, 10], [9, 20]], ["a", "b"], ["x", "y"])
    primary_only = protect([t], "opensafely", method="none", check=False)
    cell = primary_only.audit.cells.iloc[0]
    assert cell["verdict"] == "narrow" and (cell["lower"], cell["upper"]) == (1, 4)
    release = protect([t], "opensafely")
    assert release.stats.complementary == 1
    again = audit(release.as_tables(), "opensafely")
    assert again.passed and again.n_narrow == 0
