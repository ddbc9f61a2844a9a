"""Earlier releases of the same period: re-published under another profile, or after late records."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from dvnet.anonymize.disclosure import DisclosureError, Table, protect

# shelter 9 is a small count under dv-default (1..10) but not under OpenSAFELY (<= 7 redacted).
ROW = {"shelter": 9, "outreach": 30, "counselling": 20, "legal": 60}


def _row(values: dict[str, int]) -> Table:
    frame = pd.DataFrame({"service": [*values, "Total"], "value": [*values.values(), sum(values.values())]})
    return Table("row", frame, ("service",), "episodes")


def _status(release, service: str) -> tuple[str, str]:
    frame = release.tables["row"].assign(reason=release.reasons["row"]).set_index("service")
    return frame.loc[service, "status"], frame.loc[service, "reason"]


def test_a_cell_an_earlier_release_suppressed_as_small_stays_suppressed_under_another_profile():
    first = protect([_row(ROW)], "dv-default")
    assert _status(first, "shelter") == ("suppressed", "primary")
    alone = protect([_row(ROW)], "opensafely")
    assert _status(alone, "shelter")[0] == "published"  # 9 -> 10 (8..12): fine on its own ...
    again = protect([_row(ROW)], "opensafely", earlier=first.ledger_cells("r1"))
    assert _status(again, "shelter") == ("suppressed", "earlier")  # ... but the first release promised 1..10 stays open
    row = again.audit.cells.set_index("coordinates").loc["service=shelter"]
    assert row["width"] >= 10 and again.audit.passed


def test_late_records_are_audited_not_refused_and_a_small_difference_is_protected():
    first = protect([_row(ROW)], "dv-default")
    later = dict(ROW, outreach=ROW["outreach"] + 3)  # three late episodes in outreach
    release = protect([_row(later)], "dv-default", earlier=first.ledger_cells("r1"))
    # outreach 30 -> 33 and the total +3 were both published before: published again, the
    # difference 3 would be exact. One of them at least is now suppressed, and the audit passed.
    diff = release.audit.cells[release.audit.cells["reason"] == "difference"]
    assert len(diff) >= 1 and (diff["width"] >= 10).all()
    assert _status(release, "outreach")[0] == "suppressed" or _status(release, "Total")[0] == "suppressed"
    assert release.audit.passed


@pytest.mark.parametrize("method", ["milp", "heuristic"])
def test_a_cell_an_earlier_release_withheld_to_protect_another_is_not_shown_by_a_later_one(method):
    """The first release hides counselling (20) to protect the small shelter count. A correction
    then moves 15 episodes from outreach to legal: outreach (15) is now the cheapest cell to hide
    beside shelter, and publishing counselling, unchanged, would show what the first release
    withheld (any reader of both has it exactly). It stays suppressed, as "withheld"."""
    first = protect([_row(ROW)], "dv-default", method=method)
    assert _status(first, "counselling") == ("suppressed", "complementary")
    corrected = dict(ROW, outreach=ROW["outreach"] - 15, legal=ROW["legal"] + 15)
    alone = protect([_row(corrected)], "dv-default", method=method)
    assert _status(alone, "counselling") == ("published", "published")  # on its own the choice moves ...
    again = protect([_row(corrected)], "dv-default", earlier=first.ledger_cells("r1"), method=method)
    assert _status(again, "counselling") == ("suppressed", "withheld")  # ... with its history it does not
    assert again.audit.passed
    kept = again.audit.cells[again.audit.cells["coordinates"] == "service=counselling"]
    assert len(kept) == 2 and (kept["width"] >= 1).all()  # this release's cell, and the first release's (audited too)


def test_an_unchanged_re_publication_links_the_same_cells():
    first = protect([_row(ROW)], "dv-default")
    again = protect([_row(ROW)], "dv-default", earlier=first.ledger_cells("r1"))
    assert not (again.audit.cells["reason"] == "difference").any()
    assert _status(again, "shelter") == ("suppressed", "primary") and again.audit.passed


def test_a_changed_earlier_release_without_its_true_counts_is_refused():
    first = protect([_row(ROW)], "dv-default")
    cells = [dataclasses.replace(c, truth=None) for c in first.ledger_cells("r1")]  # the internal record is gone
    later = dict(ROW, outreach=ROW["outreach"] + 3)
    with pytest.raises(DisclosureError) as err:
        protect([_row(later)], "dv-default", earlier=cells)
    assert err.value.reason == "HISTORY_INCOMPLETE"


@pytest.mark.parametrize("method", ["milp", "heuristic", "auto"])
def test_a_cell_an_earlier_release_published_exactly_cannot_be_hidden_now_and_the_publish_is_refused(method):
    """Published as 9 under a threshold of 5, the shelter count is a small count under dv-default:
    no pattern of the new release can hide what the first one showed. A typed refusal, whichever
    method (it was an IndexError with every target pinned, and a KeyError in the MILP's cuts)."""
    from dvnet.anonymize.disclosure import get_profile

    first = protect([_row(ROW)], get_profile("custom", threshold=5))
    assert _status(first, "shelter") == ("published", "published")
    with pytest.raises(DisclosureError) as err:
        protect([_row(ROW)], "dv-default", earlier=first.ledger_cells("r1"), method=method)
    assert err.value.reason == "AUDIT_FAILED"
