"""Fail closed on time (issue 14): protection that runs out of its time limit publishes nothing,
and says that time (not the data) is what stopped it, with what to do next."""

from __future__ import annotations

import importlib

import pytest

from dvnet.anonymize.disclosure import DisclosureError, protect

GRID = [[3, 35, 52], [61, 44, 38], [29, 57, 66]]  # one small count: it needs complementary cells


def _no_complementary_cells(monkeypatch):
    """The complementary methods stand still: the pattern stays the sensitive cells alone (exposed)."""
    protect_module = importlib.import_module("dvnet.anonymize.disclosure.protect")  # the package exports the function under that name
    monkeypatch.setattr(protect_module, "solve_milp", lambda sub, **kw: (None, protect_module.SolveInfo("milp")))
    monkeypatch.setattr(protect_module, "heuristic", lambda sub, suppressed=None, **kw: ((sub.sensitive if suppressed is None else suppressed | sub.sensitive).copy(), None))


def test_a_pattern_still_exposed_when_the_time_runs_out_is_refused_as_incomplete(grid_table, monkeypatch):
    table = grid_table("t", GRID, ["r1", "r2", "r3"], ["s1", "s2", "s3"])
    _no_complementary_cells(monkeypatch)
    with pytest.raises(DisclosureError) as err:
        protect([table], "dv-default", time_limit=1e-9, audit_time_limit=None)
    assert err.value.reason == "AUDIT_INCOMPLETE"
    assert "did not finish in the time allowed" in str(err.value) and "--time-limit" in (err.value.hint or "")


def test_the_same_exposed_pattern_with_time_to_spare_is_refused_as_failed(grid_table, monkeypatch):
    table = grid_table("t", GRID, ["r1", "r2", "r3"], ["s1", "s2", "s3"])
    _no_complementary_cells(monkeypatch)
    with pytest.raises(DisclosureError) as err:
        protect([table], "dv-default")
    assert err.value.reason == "AUDIT_FAILED"


def test_an_audit_cut_short_leaves_cells_unchecked_and_refuses(grid_table):
    table = grid_table("t", GRID, ["r1", "r2", "r3"], ["s1", "s2", "s3"])
    release = protect([table], "dv-default", audit_time_limit=1e-9, check=False)
    assert release.audit.n_unchecked > 0 and not release.audit.passed
    with pytest.raises(DisclosureError) as err:
        protect([table], "dv-default", audit_time_limit=1e-9)
    assert err.value.reason == "AUDIT_INCOMPLETE"
