"""The tier policy: what an agency at each participation tier may send, and in which mode."""

from __future__ import annotations

import pytest

from dvnet.contracts.errors import ContractError
from dvnet.contracts.registry import all_contracts, get_contract
from dvnet.contracts.tiers import AGGREGATE, MODES, RECORD, TIERS, allowed, check_allowed, contracts_for_tier, default_mode

REFERRAL = ("referral", 1)
EPISODE = ("service_episode", 1)
RESEARCH = ("research_extract", 1)

#: tier -> every (contract, mode) it may send; anything else is refused.
POLICY = {
    1: set(),
    2: {(REFERRAL, AGGREGATE), (REFERRAL, RECORD)},
    3: {(REFERRAL, AGGREGATE), (REFERRAL, RECORD), (EPISODE, AGGREGATE), (EPISODE, RECORD)},
    4: {(REFERRAL, AGGREGATE), (REFERRAL, RECORD), (EPISODE, AGGREGATE), (EPISODE, RECORD), (RESEARCH, RECORD)},
}
CASES = [(t, key, mode) for t in TIERS for key in (REFERRAL, EPISODE, RESEARCH) for mode in MODES]


def test_there_are_four_tiers():
    assert sorted(TIERS) == [1, 2, 3, 4]


@pytest.mark.parametrize(("tier", "key", "mode"), CASES, ids=[f"tier{t}-{k[0]}-{m}" for t, k, m in CASES])
def test_allowed_matches_the_policy(tier, key, mode):
    assert allowed(tier, get_contract(*key), mode) is ((key, mode) in POLICY[tier])


@pytest.mark.parametrize(("tier", "key", "mode"), CASES, ids=[f"tier{t}-{k[0]}-{m}" for t, k, m in CASES])
def test_check_allowed_refuses_exactly_what_the_policy_refuses(tier, key, mode):
    contract = get_contract(*key)
    if (key, mode) in POLICY[tier]:
        check_allowed(tier, contract, mode)
        return
    with pytest.raises(ContractError) as exc:
        check_allowed(tier, contract, mode)
    # research_extract is record-only whatever the tier; every other refusal is the tier's.
    expected = "MODE_NOT_ALLOWED" if mode not in contract.modes else "TIER_VIOLATION"
    assert exc.value.reason == expected


@pytest.mark.parametrize("tier", [1, 2, 3])
def test_research_extract_below_tier_4_is_a_tier_violation(tier):
    with pytest.raises(ContractError) as exc:
        check_allowed(tier, get_contract("research_extract"), RECORD)
    assert exc.value.reason == "TIER_VIOLATION"


def test_tier_1_may_send_nothing():
    for contract in all_contracts():
        for mode in MODES:
            assert not allowed(1, contract, mode)
    assert contracts_for_tier(1, all_contracts()) == []


def test_contracts_for_tier_grow_with_the_tier():
    ids = {t: {c.id for c in contracts_for_tier(t, all_contracts())} for t in TIERS}
    assert ids == {1: set(), 2: {"referral"}, 3: {"referral", "service_episode"}, 4: {"referral", "service_episode", "research_extract"}}


def test_unknown_mode_is_refused():
    with pytest.raises(ContractError) as exc:
        check_allowed(4, get_contract("referral"), "rows")
    assert exc.value.reason == "MODE_UNKNOWN"


@pytest.mark.parametrize(("contract_id", "mode"), [("referral", AGGREGATE), ("service_episode", AGGREGATE), ("research_extract", RECORD)])
def test_default_mode_is_aggregate_where_the_contract_allows_it(contract_id, mode):
    assert default_mode(get_contract(contract_id)) == mode
