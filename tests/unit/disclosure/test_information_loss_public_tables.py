"""Information loss beside published suppression patterns (issue 14): on GaussSuppression's and
sdcTable's public example tables, under the rules that produced each published pattern, dvnet suppresses no
more cells and no larger total; where dvnet's stronger default width costs more, the published
pattern fails dvnet's audit at that width (it is not the same protection)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "benchmarks" / "information_loss.py"
spec = importlib.util.spec_from_file_location("information_loss", BENCH)
information_loss = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = information_loss  # its dataclasses look their module up
spec.loader.exec_module(information_loss)


def test_the_transcribed_tables_add_up_to_the_published_totals():
    # The grand totals printed in the manual: a transcription slip would change them.
    totals = {c.name: int(c.frame().query("row == 'Total' and col == 'Total'")["value"].iloc[0]) for c in information_loss.CASES}
    assert totals == {"z1": 596, "df, zeros primary": 72, "df, zeros published": 72, "z, zeros as singletons": 37,
                      "sdcTable 4 x 4, primaries by hand": 3943}


@pytest.fixture(scope="module")
def rows():
    return information_loss.compare()


def test_dvnet_is_no_worse_than_the_published_patterns_under_the_same_rules(rows):
    like_for_like = [r for r in rows if r["width"] == 1]
    assert len(like_for_like) == 2 * len(information_loss.CASES)
    for r in like_for_like:
        assert r["published_under_dvnet_audit"] == "passes", r  # the same protection: comparable
        assert r["dvnet_cells"] <= r["published_cells"] and r["dvnet_total"] <= r["published_total"], r


def test_where_dvnet_hides_more_the_published_pattern_is_narrower_than_dvnet_requires(rows):
    for r in rows:
        if r["dvnet_total"] > r["published_total"]:
            assert r["width"] > 1 and r["published_under_dvnet_audit"] != "passes", r


def _sdctable_case():
    return next(c for c in information_loss.CASES if c.package == "sdcTable")


def _range_of(report, row: str, col: str) -> tuple[float, float]:
    cells = report.cells
    hit = cells[[f"row={row}" in str(c) and f"col={col}" in str(c) for c in cells["coordinates"]]]
    assert len(hit) == 1, cells
    return float(hit["lower"].iloc[0]), float(hit["upper"].iloc[0])


def test_the_sdctable_table_reproduces_the_attack_its_test_states():
    # test-simpleheuristic.R: the nine primaries alone let w|b (47) be worked out exactly (rows w + x
    # minus columns a + c); with x|b suppressed too, its attacker puts w|b in [0, 141]. dvnet's
    # audit, an attacker written apart from sdcTable's, finds the same on the transcribed numbers.
    case = _sdctable_case()
    alone = information_loss.audit_pattern(case, case.marked, 1)
    assert (alone.n_exact, alone.n_narrow) == (1, 0)
    assert _range_of(alone, "w", "b") == (47.0, 47.0)
    published = information_loss.audit_pattern(case, case.published, 1)
    assert published.passed
    assert _range_of(published, "w", "b") == (0.0, 141.0)


def test_cells_marked_primary_are_protected_whatever_their_count():
    # The nine marked cells are all counts of 30 and more, which no threshold suppresses: without
    # the marks nothing is suppressed at all.
    case = _sdctable_case()
    assert information_loss.dvnet_pattern(case, 1, "auto") >= case.marked
    unmarked = information_loss.Case(case.name, case.source, case.rows, case.cols, case.values, case.zeros, case.published)
    assert information_loss.dvnet_pattern(unmarked, 1, "auto") == set()
