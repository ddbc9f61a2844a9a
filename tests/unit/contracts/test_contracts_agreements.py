"""A data-sharing agreement's terms: each bad term is named, and nothing flows outside its dates."""

from __future__ import annotations

import datetime as dt

import pytest

from dvnet.contracts.agreements import parse_agreement
from dvnet.contracts.errors import RegistryError


def _refused(terms: dict) -> RegistryError:
    with pytest.raises(RegistryError) as exc:
        parse_agreement(terms)
    assert exc.value.reason == "AGREEMENT_INVALID"
    return exc.value


BAD_TERMS = [
    ("id", "DSA 1"),
    ("purpose", "  "),
    ("parties", []),
    ("parties", ["valley-health", "valley-health"]),
    ("contracts", ["service_episode/v1"]),  # counts and episodes are not research contracts
    ("contracts", ["research_extract/v9"]),
    ("fields", ["client_name"]),  # a linkage input never leaves the agency
    ("fields", "linkage_token"),
    ("periods", ["2026-13"]),
    ("start", "2026-02-30"),
    ("end", "20271231"),
    ("ethics_approval", ""),
    ("ethics_expires", "when renewed"),
    ("researchers", []),
    ("min_cell_size", 2),
    ("min_cell_size", "10"),
    ("min_cell_size", True),
    ("retention_end", "soon"),
]


@pytest.mark.parametrize(("term", "value"), BAD_TERMS, ids=[f"{t}={v!r}" for t, v in BAD_TERMS])
def test_a_bad_term_is_named(dsa_terms, term, value):
    assert _refused({**dsa_terms, term: value}).context["field"] == term


@pytest.mark.parametrize("term", ["id", "purpose", "parties", "contracts", "fields", "periods", "start", "end", "ethics_approval", "ethics_expires", "researchers", "min_cell_size", "retention_end"])
def test_a_missing_term_is_named(dsa_terms, term):
    del dsa_terms[term]
    assert _refused(dsa_terms).context["field"] == term


def test_an_unknown_term_is_named(dsa_terms):
    assert _refused({**dsa_terms, "budget": 100}).context["field"] == "budget"


def test_dates_must_run_forward_and_data_be_destroyed_after_the_end(dsa_terms):
    assert _refused({**dsa_terms, "start": "2028-01-01"}).context["field"] == "end"
    assert _refused({**dsa_terms, "retention_end": "2027-12-30"}).context["field"] == "retention_end"


def test_nothing_flows_beyond_the_ethics_approval(dsa_terms):
    """The end lies within the ethics approval: an agreement whose approval lapses first is refused,
    so no day it is in force is a day without ethics approval."""
    assert _refused({**dsa_terms, "ethics_expires": "2027-12-30"}).context["field"] == "ethics_expires"
    assert parse_agreement({**dsa_terms, "ethics_expires": "2029-06-30"}).ethics_expires == "2029-06-30"


def test_yaml_dates_are_read_as_dates(dsa_terms):
    agreement = parse_agreement({**dsa_terms, "start": dt.date(2026, 1, 1)})
    assert agreement.start == "2026-01-01"


def test_it_is_in_force_from_the_start_dates_first_second_to_the_end_dates_last(dsa_terms):
    agreement = parse_agreement(dsa_terms)  # 2026-01-01 .. 2027-12-31
    last_second = dt.datetime(2027, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
    assert agreement.in_force(dt.datetime(2026, 1, 1, tzinfo=dt.UTC)) and agreement.in_force(last_second)
    assert not agreement.in_force(last_second + dt.timedelta(seconds=1)), "end date + 1 s"
    assert not agreement.in_force(dt.datetime(2025, 12, 31, 23, 59, 59, tzinfo=dt.UTC))
    revoked = parse_agreement(dsa_terms, version=2, status="revoked", note="ethics approval withdrawn")
    assert not revoked.in_force(dt.datetime(2026, 6, 1, tzinfo=dt.UTC))


def test_its_standing_on_a_day_is_what_list_and_show_say(dsa_terms):
    agreement = parse_agreement(dsa_terms)  # 2026-01-01 .. 2027-12-31
    at = lambda *ymd: dt.datetime(*ymd, tzinfo=dt.UTC)  # noqa: E731
    assert agreement.standing(at(2025, 12, 31, 23, 59, 59)) == "not started"
    assert agreement.standing(at(2027, 12, 31, 23, 59, 59)) == "in force"
    assert agreement.standing(at(2028, 1, 1)) == "ended", "an active version past its end is not in force"
    assert parse_agreement(dsa_terms, version=2, status="revoked", note="r").standing(at(2026, 6, 1)) == "revoked"
    # past the retention end (2028-12-31), revoked or not, its data is due for destruction until closed
    for status in ("active", "revoked"):
        assert parse_agreement(dsa_terms, version=2, status=status, note="r").standing(at(2029, 1, 1)) == "ended, close due"
    assert agreement.standing(at(2028, 12, 31, 23, 59, 59)) == "ended", "the retention end's last second"
    assert parse_agreement(dsa_terms, version=3, status="closed", note="r").standing(at(2029, 1, 1)) == "closed"


def test_it_covers_only_its_parties_contracts_and_periods(dsa_terms):
    agreement = parse_agreement(dsa_terms)
    assert agreement.covers("valley-health", "research_extract/v1", "2026-Q3")
    assert not agreement.covers("shelter-north", "research_extract/v1", "2026-Q3")
    assert not agreement.covers("valley-health", "research_extract/v1", "2026-Q4")
    assert not agreement.covers("valley-health", "service_episode/v1", "2026-Q3")
