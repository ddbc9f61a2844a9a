"""Information loss beside published suppression patterns (issue 14): on GaussSuppression's
public example tables, under the rules that produced each published pattern, dvnet suppresses no
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
    assert totals == {"z1": 596, "df, zeros primary": 72, "df, zeros published": 72, "z, zeros as singletons": 37}


@pytest.fixture(scope="module")
def rows():
    return information_loss.compare()


def test_dvnet_is_no_worse_than_the_published_patterns_under_the_same_rules(rows):
    like_for_like = [r for r in rows if r["width"] == 1]
    assert len(like_for_like) == 2 * len(information_loss.CASES)
    for r in like_for_like:
        assert r["gauss_under_dvnet_audit"] == "passes", r  # the same protection: comparable
        assert r["dvnet_cells"] <= r["gauss_cells"] and r["dvnet_total"] <= r["gauss_total"], r


def test_where_dvnet_hides_more_the_published_pattern_is_narrower_than_dvnet_requires(rows):
    for r in rows:
        if r["dvnet_total"] > r["gauss_total"]:
            assert r["width"] > 1 and r["gauss_under_dvnet_audit"] != "passes", r
