"""Every field of every contract says what it is and how it leaves, and no identifier leaves as itself."""

from __future__ import annotations

import pandas as pd
import pytest
from pandera.typing import Series

from dvnet.contracts.registry import all_contracts
from dvnet.contracts.roles import ALLOWED_TRANSFORMS, Role, Transform, field

CONTRACTS = all_contracts()
IDS = [c.ref for c in CONTRACTS]
IDENTIFIER_TRANSFORMS = {Transform.DROP, Transform.PSEUDONYM, Transform.LINKAGE_INPUT}


def _columns(model):
    return list(model.to_schema().columns.items())


def _all_model_fields():
    for c in CONTRACTS:
        for side, model in (("source", c.source), ("output", c.output)):
            for name, col in _columns(model):
                yield pytest.param(col, id=f"{c.ref}:{side}:{name}")


@pytest.mark.parametrize("col", _all_model_fields())
def test_every_field_has_a_known_role_and_a_description(col):
    role = (col.metadata or {}).get("role")
    assert role in {r.value for r in Role}, f"{col.name} has no valid role"
    assert (col.description or "").strip(), f"{col.name} has no description"


@pytest.mark.parametrize("contract", CONTRACTS, ids=IDS)
def test_source_fields_have_a_transform_allowed_for_their_role(contract):
    for name, col in _columns(contract.source):
        meta = col.metadata or {}
        role, transform = Role(meta["role"]), Transform(meta["transform"])
        assert transform in ALLOWED_TRANSFORMS[role], f"{contract.ref}.{name}: {transform} not allowed for {role}"


@pytest.mark.parametrize("contract", CONTRACTS, ids=IDS)
def test_direct_identifiers_are_only_dropped_pseudonymised_or_linkage_inputs(contract):
    direct = [f for f in contract.fields() if f.role is Role.DIRECT_IDENTIFIER]
    assert direct, f"{contract.ref} declares no direct identifier (client_id at least is one)"
    for f in direct:
        assert f.transform in IDENTIFIER_TRANSFORMS, f"{contract.ref}.{f.name} leaves by {f.transform}"


@pytest.mark.parametrize("contract", CONTRACTS, ids=IDS)
def test_no_direct_identifier_name_appears_among_output_columns(contract):
    outputs = set(contract.output_columns())
    leaked = [f.name for f in contract.fields() if f.role is Role.DIRECT_IDENTIFIER and f.name in outputs]
    assert leaked == []
    # nor under the name a non-pseudonym transform would give it
    for f in contract.fields():
        if f.role is Role.DIRECT_IDENTIFIER and f.transform is not Transform.PSEUDONYM:
            assert f.output is None or f.output not in outputs


@pytest.mark.parametrize("contract", CONTRACTS, ids=IDS)
def test_output_models_carry_no_direct_identifier(contract):
    roles = {name: (col.metadata or {}).get("role") for name, col in _columns(contract.output)}
    assert Role.DIRECT_IDENTIFIER.value not in roles.values()


@pytest.mark.parametrize("contract", CONTRACTS, ids=IDS)
def test_every_named_transform_output_is_an_output_column(contract):
    outputs = set(contract.output_columns())
    for f in contract.fields():
        if f.output is not None:
            assert f.output in outputs, f"{contract.ref}.{f.name} -> {f.output} is not an output column"
        if f.transform is Transform.AGE_BAND:
            assert f.at in {x.name for x in contract.fields()}, f"{contract.ref}.{f.name}: age band at unknown column"


@pytest.mark.parametrize("contract", CONTRACTS, ids=IDS)
def test_dropped_and_consent_fields_do_not_leave(contract):
    outputs = set(contract.output_columns())
    for f in contract.fields():
        if f.transform in (Transform.DROP, Transform.CONSENT, Transform.LINKAGE_INPUT):
            assert f.name not in outputs, f"{contract.ref}.{f.name} is {f.transform} but is an output column"


@pytest.mark.parametrize("contract", CONTRACTS, ids=IDS)
def test_key_event_and_quarter_columns_exist(contract):
    outputs = set(contract.output_columns())
    assert contract.key_column in outputs
    assert contract.quarter_column in outputs
    assert contract.event_date in {f.name for f in contract.fields()}
    for name in contract.linkage_inputs:
        assert name in {f.name for f in contract.fields()}


def test_research_extract_feeds_name_and_birth_date_into_the_linkage_token():
    from dvnet.contracts.registry import get_contract

    c = get_contract("research_extract", 1)
    by_name = {f.name: f for f in c.fields()}
    assert by_name["client_name"].transform is Transform.LINKAGE_INPUT
    assert "linkage_token" in c.output_columns()
    assert set(c.linkage_inputs) == {"client_name", "date_of_birth"}


def test_a_field_with_a_transform_not_allowed_for_its_role_is_refused_at_definition():
    with pytest.raises(ValueError):
        field(role=Role.DIRECT_IDENTIFIER, transform=Transform.KEEP, description="a client number kept as is")
    with pytest.raises(ValueError):
        field(role=Role.SENSITIVE, transform=Transform.PSEUDONYM, description="x")
    ok: Series[pd.StringDtype] = field(role=Role.DIRECT_IDENTIFIER, transform=Transform.DROP, description="x")
    assert ok is not None
