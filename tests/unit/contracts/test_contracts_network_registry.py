"""Registry validation: a steward who mistypes registry.yaml is told which field, by its path."""

from __future__ import annotations

import pytest
import yaml

from dvnet.contracts.errors import RegistryError
from dvnet.contracts.network import Network
from dvnet.common.network import load_network, save_network


def _invalid(data) -> RegistryError:
    with pytest.raises(RegistryError) as exc:
        Network.from_dict(data)
    assert exc.value.reason == "REGISTRY_INVALID"
    return exc.value


def _set(data: dict, path: str, value) -> dict:
    """Set ``organisations[1].tier``-style paths in a nested dict."""
    import re

    parts = re.findall(r"[^.\[\]]+|\[\d+\]", path)
    target = data
    for part in parts[:-1]:
        target = target[int(part[1:-1])] if part.startswith("[") else target[part]
    last = parts[-1]
    if last.startswith("["):
        target[int(last[1:-1])] = value
    else:
        target[last] = value
    return data


def _delete(data: dict, path: str) -> dict:
    head, _, key = path.rpartition(".")
    target = data
    for part in head.replace("]", "").replace("[", ".").split("."):
        if part:
            target = target[int(part)] if part.isdigit() else target[part]
    del target[key]
    return data


def test_the_valid_fixture_validates(valid_registry):
    net = Network.from_dict(valid_registry)
    assert [o.id for o in net.organisations] == ["shelter-north", "uni-research", "lakes-housing"]


BAD_VALUES = [
    ("organisations[1].tier", 7),
    ("organisations[1].tier", 0),
    ("organisations[1].tier", "4"),
    ("organisations[1].tier", True),
    ("organisations[0].type", "shelter"),
    ("organisations[2].region", "atlantis"),
    ("organisations[0].id", "Shelter North"),
    ("organisations[0].status", "closed"),
    ("organisations[0].signing_key_id", "ABCDEF0123456789"),
    ("organisations[0].joined", "last spring"),
    ("organisations[0].services", "emergency shelter"),
    ("coordinator.encryption_key_id", "not-a-key-id"),
    ("coordinator.signing_key_id", ""),
    ("coordinator.id", "Coordinator!"),
    ("name", ""),
    ("schema_version", 2),
]


@pytest.mark.parametrize(("path", "value"), BAD_VALUES, ids=[f"{p}={v!r}" for p, v in BAD_VALUES])
def test_a_bad_value_is_reported_at_its_field_path(valid_registry, path, value):
    err = _invalid(_set(valid_registry, path, value))
    assert err.context["field"] == path
    assert path in err.message


MISSING = ["name", "coordinator", "coordinator.encryption_key_id", "organisations[1].tier", "organisations[0].name"]


@pytest.mark.parametrize("path", MISSING)
def test_a_missing_required_field_is_reported_at_its_path(valid_registry, path):
    err = _invalid(_delete(valid_registry, path))
    assert err.context["field"] == path
    assert "required" in err.message


@pytest.mark.parametrize(
    ("where", "path"),
    [("", "colour"), ("coordinator", "coordinator.private_key"), ("organisations[2]", "organisations[2].tiers"), ("organisations[0].contact", "organisations[0].contact.fax")],
)
def test_an_unknown_field_is_reported_at_its_path(valid_registry, where, path):
    target = valid_registry
    for part in where.replace("]", "").replace("[", ".").split("."):
        if part:
            target = target[int(part)] if part.isdigit() else target[part]
    target[path.rsplit(".", 1)[-1]] = "x"
    err = _invalid(valid_registry)
    assert err.context["field"] == path
    assert "not a known field" in err.message


def test_a_tier_2_organisation_without_a_signing_key_id_is_refused(valid_registry):
    del valid_registry["organisations"][0]["signing_key_id"]
    assert _invalid(valid_registry).context["field"] == "organisations[0].signing_key_id"


def test_a_tier_1_organisation_needs_no_signing_key(valid_registry):
    assert Network.from_dict(valid_registry).organisation("lakes-housing").signing_key_id is None


def test_a_duplicate_organisation_id_names_the_second_one(valid_registry):
    valid_registry["organisations"][2]["id"] = "shelter-north"
    err = _invalid(valid_registry)
    assert err.context["field"] == "organisations[2].id"


@pytest.mark.parametrize(("path", "value"), [("organisations", {"a": 1}), ("people", 5), ("coordinator.key_epoch", "first")])
def test_a_wrongly_shaped_section_is_a_registry_error_not_a_crash(valid_registry, path, value):
    err = _invalid(_set(valid_registry, path, value))
    assert err.context["field"] == path


@pytest.mark.parametrize("data", [None, [], "registry", 3])
def test_a_registry_that_is_not_a_mapping_is_refused(data):
    err = _invalid(data)
    assert "(top level)" in err.message


def test_yaml_dates_load_like_strings(valid_registry):
    # An unquoted date in YAML arrives as datetime.date; it is accepted and kept as ISO text.
    text = yaml.safe_dump(valid_registry).replace("'2026-01-15'", "2026-01-15")
    net = Network.from_dict(yaml.safe_load(text))
    assert net.organisation("shelter-north").joined == "2026-01-15"


def test_a_valid_registry_round_trips_through_to_dict(valid_registry):
    net = Network.from_dict(valid_registry)
    again = Network.from_dict(net.to_dict())
    assert again == net
    assert again.to_dict() == net.to_dict()


def test_a_valid_registry_round_trips_through_save_and_load(network_dir):
    net = load_network(network_dir)
    net.organisations[0].eligibility = "Anyone fleeing violence"
    save_network(network_dir, net)
    assert load_network(network_dir) == net


def test_save_refuses_to_write_a_registry_that_would_not_load(network_dir):
    net = load_network(network_dir)
    before = (network_dir / "coordinator" / "registry.yaml").read_bytes()
    net.organisations[0].tier = 9
    with pytest.raises(RegistryError) as exc:
        save_network(network_dir, net)
    assert exc.value.context["field"] == "organisations[0].tier"
    assert (network_dir / "coordinator" / "registry.yaml").read_bytes() == before


def test_bad_yaml_is_registry_invalid_with_a_line_number(network_dir):
    path = network_dir / "coordinator" / "registry.yaml"
    path.write_text("name: x\ncoordinator: [unclosed\n  id: y\n", encoding="utf-8")
    with pytest.raises(RegistryError) as exc:
        load_network(network_dir)
    assert exc.value.reason == "REGISTRY_INVALID"
    assert "line" in exc.value.message


def test_a_field_error_in_the_file_names_the_field(network_dir):
    path = network_dir / "coordinator" / "registry.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["organisations"][1]["tier"] = 5
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(RegistryError) as exc:
        load_network(network_dir)
    assert exc.value.context["field"] == "organisations[1].tier"


def test_a_missing_registry_is_registry_missing(tmp_path):
    with pytest.raises(RegistryError) as exc:
        load_network(tmp_path)
    assert exc.value.reason == "REGISTRY_MISSING"
