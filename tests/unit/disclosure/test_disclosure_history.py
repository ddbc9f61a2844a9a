"""Earlier releases joined to a new one: unchanged cells are one quantity, changed ones are linked
by their difference, and a history that cannot be joined is refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dvnet.anonymize.disclosure import DisclosureError, PublishedRelease, Table, get_profile, protect
from dvnet.anonymize.disclosure.history import with_history
from dvnet.anonymize.disclosure.protect import final_audit, prepare
from dvnet.anonymize.disclosure.tables import build_model


def _row(values, name="row"):
    frame = pd.DataFrame({"service": [*"abcd"[: len(values)], "Total"], "value": [*values, sum(values)]})
    return Table(name, frame, ("service",), "episodes")


def test_unchanged_cells_are_one_quantity_and_a_changed_one_gets_a_signed_difference():
    first = protect([_row([3, 30, 20, 60])]).as_history("r1")
    model = with_history(build_model([_row([3, 30, 20, 63])]), [first], get_profile("dv-default"))
    keys = list(model.keys)
    # 'a', 'b', 'c' unchanged: no new quantity; 'd' and Total changed: an earlier version each,
    # and a difference each, known to be >= 0 (records were added).
    assert model.n == 5 + 4
    diffs = np.nonzero(model.band > 0)[0]
    assert len(diffs) == 2 and (model.hist_lo[diffs] == 0).all() and np.isinf(model.hist_hi[diffs]).all()
    assert (model.truth[diffs] == 3).all() and keys.count(keys[diffs[0]]) == 3
    assert model.joined == ("r1",)


def test_a_small_difference_between_two_releases_is_caught_and_protect_hides_it():
    first = protect([_row([3, 30, 20, 60])]).as_history("r1")
    second = [_row([3, 30, 20, 63])]
    prep = prepare(second, history=[first])
    # Publishing 'd' and the total again would show 3 late records: the difference is exact.
    pattern = prep.problem.sensitive.copy()
    report = final_audit(prep, pattern, time_limit=None)
    assert report.verdicts.get("small difference", 0) >= 1
    assert "small difference" in report.failing_cells()
    release = protect(second, history=[first])
    assert release.audit.passed
    hidden = set(release.tables["row"].loc[release.tables["row"]["status"] == "suppressed", "service"])
    assert {"d", "Total"} <= hidden  # the changed cells, whose differences are small
    assert release.reasons["row"][2] == "hidden in an earlier release"  # c stays hidden, though 20 is not small


def test_republishing_the_same_counts_under_another_profile_keeps_every_hidden_cell_hidden():
    first = protect([_row([3, 9, 50, 60])]).as_history("r1")
    # OpenSAFELY would publish 9 as 10 (8..12): the first release's hidden 9 would be pinned.
    release = protect([_row([3, 9, 50, 60])], "opensafely", history=[first])
    assert release.audit.passed
    assert release.tables["row"].loc[1, "status"] == "suppressed"


def test_a_history_without_its_true_counts_is_refused():
    first = protect([_row([3, 30, 20, 60])]).as_history("r1")
    blind = PublishedRelease("r1", first.profile, first.tables, None)
    with pytest.raises(DisclosureError) as err:
        protect([_row([3, 30, 20, 63])], history=[blind])
    assert err.value.reason == "HISTORY_INCOMPLETE" and err.value.context["releases"] == ["r1"]


def test_a_record_that_contradicts_its_release_is_refused():
    first = protect([_row([3, 30, 20, 60])]).as_history("r1")
    wrong = PublishedRelease("r1", first.profile, first.tables, {"row": np.array([3, 31, 20, 60, 114], dtype=float)})
    with pytest.raises(DisclosureError) as err:
        protect([_row([3, 30, 20, 60])], history=[wrong])
    assert err.value.reason == "HISTORY_INCOMPLETE"


def test_releases_of_other_periods_are_not_joined():
    other = protect([_row([3, 30, 20, 60], name="row")]).as_history("r0")
    other_tables = tuple(Table(t.name, t.frame.assign(service=t.frame["service"] + "-other"), t.dims, t.measure) for t in other.tables)
    unrelated = PublishedRelease("r0", other.profile, other_tables, None)  # no record needed
    release = protect([_row([3, 30, 20, 60])], history=[unrelated])
    assert release.audit.earlier_releases == 0


def test_a_correction_is_audited_by_every_insider_with_a_negative_difference():
    # One record moved from 'c' to 'd': c's difference is negative. An insider's own part raises
    # the lower bounds of this release's cells only, never of a difference (which would make the
    # programme infeasible and the correction unpublishable).
    contrib = lambda values: pd.DataFrame(  # noqa: E731
        [(s, agency, v // 2 if agency == "a1" else v - v // 2) for s, v in zip("abcd", values, strict=True) for agency in ("a1", "a2")],
        columns=["service", "agency_id", "value"],
    )
    before, after = [3, 30, 21, 60], [3, 30, 20, 61]
    first = protect([_row(before)], contributions=contrib(before)).as_history("r1")
    release = protect([_row(after)], contributions=contrib(after), history=[first])
    assert release.audit.passed and release.audit.insiders == 2
    prep = prepare([_row(after)], contributions=contrib(after), history=[first])
    c_diff = [q for q in np.nonzero(prep.model.band > 0)[0] if prep.model.truth[q] < 0]
    assert c_diff
    for who in prep.problem.attackers():
        L, U = who.view.bounds(np.ones(prep.model.n, dtype=bool))
        assert (L[c_diff] < 0).all(), "a negative difference stays possible for every attacker"
