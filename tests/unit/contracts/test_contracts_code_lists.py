"""A field's code list is read off its model in one place; count dimensions get theirs from it."""

from __future__ import annotations

from dvnet.contracts import codes
from dvnet.contracts.codes import code_list
from dvnet.contracts.registry import get_contract
from dvnet.contracts.standard_tables import BOOLEAN_CODES, NO_CONTACT_YET


def test_a_coded_field_has_its_code_list_and_other_fields_none():
    source = get_contract("service_episode").source.to_schema().columns
    listed = code_list(source["service_type"])
    assert listed.values == codes.SERVICE_TYPES
    assert listed.rule.startswith("isin")  # the name conformance reports the rule under
    assert code_list(source["client_id"]) is None  # a pattern, not a code list
    assert code_list(get_contract("referral").output.to_schema().columns["days_to_first_contact"]) is None  # a number


def test_every_count_dimension_has_its_codes():
    for contract_id in ("referral", "service_episode"):
        contract = get_contract(contract_id)
        dimension_codes = contract.dimension_codes()
        # Organisation ids and regions are the network's (its registry), so the contract has no list of them.
        free_text = {"referring_org", "receiving_org", "region"}
        for table in contract.standard_tables:
            assert set(table.dims) - free_text <= set(dimension_codes), table.name
    episode = get_contract("service_episode").dimension_codes()
    assert episode["safety_plan_completed"] == BOOLEAN_CODES
    assert episode["indicator"] == codes.RISK_INDICATORS
    assert get_contract("referral").dimension_codes()["days_to_first_contact_bucket"] == (*codes.DAYS_TO_CONTACT_BUCKETS, NO_CONTACT_YET)
