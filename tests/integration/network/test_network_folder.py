"""A network folder made through `dvnet.common.network` and `dvnet network`: keys where they belong,
private keys 0600 and never written into the registry, a config, or printed."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
import yaml

from dvnet.bundle import keys
from dvnet.contracts.errors import RegistryError
from dvnet.common import audit
from dvnet.common import network as store
from dvnet.pipelines.demo_network import GEOGRAPHY_FILE, demo_geography
from dvnet.pipelines.cli import main


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _private_material(root: Path) -> dict[str, list[str]]:
    """Every spelling of every private key and secret under ``root``, by file."""
    found: dict[str, list[str]] = {}
    for path in root.rglob("*.key"):
        content = path.read_bytes()
        spellings = [content.decode("ascii").strip()]
        if content.startswith(keys.SECRET_PREFIX):
            raw = keys.read_secret(path)
            spellings.append(content[len(keys.SECRET_PREFIX) : -1].decode("ascii"))
        else:
            pem_body = "".join(line for line in content.decode("ascii").splitlines() if not line.startswith("-----"))
            spellings.append(pem_body)
            spellings += [pem_body[i : i + 40] for i in range(0, len(pem_body) - 40, 20)]
            try:
                key = keys.load_signing_key(path)
            except Exception:
                key = keys.load_encryption_key(path)
            raw = key.private_bytes_raw()
        spellings += [base64.b64encode(raw).decode("ascii"), base64.urlsafe_b64encode(raw).decode("ascii").rstrip("="), raw.hex()]
        found[str(path.relative_to(root))] = spellings
    return found


def _assert_no_private_material(text: str, material: dict[str, list[str]], where: str) -> None:
    for name, spellings in material.items():
        for s in spellings:
            assert s not in text, f"private material of {name} appears in {where}"


# init_network ------------------------------------------------------------------------------------


def test_init_creates_coordinator_keys_0600_and_a_registry_that_pins_them(tmp_path):
    root = tmp_path / "net"
    net = store.init_network(root, "Riverside", demo_geography())
    kdir = root / "coordinator" / "keys"
    assert _mode(kdir / "encryption.key") == 0o600
    assert _mode(kdir / "signing.key") == 0o600
    assert _mode(root / "custodian" / "network-linkage.key") == 0o600
    enc, sig = keys.load_encryption_key(kdir / "encryption.key"), keys.load_signing_key(kdir / "signing.key")
    loaded = store.load_network(root)
    assert loaded == net
    assert loaded.coordinator.encryption_key_id == keys.key_id(enc.public_key())
    assert loaded.coordinator.encryption_public_key == keys.public_key_to_text(enc.public_key())
    assert loaded.coordinator.signing_key_id == keys.key_id(sig.public_key())
    assert loaded.organisations == [] and loaded.agreements == []
    for d in store.COORDINATOR_DIRS:
        assert (root / "coordinator" / d).is_dir()


def test_init_refuses_an_existing_network_and_keeps_its_keys(network_dir):
    kdir = network_dir / "coordinator" / "keys"
    before = {p.name: p.read_bytes() for p in kdir.iterdir()}
    registry_before = (network_dir / "coordinator" / "registry.yaml").read_bytes()
    with pytest.raises(RegistryError) as exc:
        store.init_network(network_dir, "Another", demo_geography())
    assert exc.value.reason == "NETWORK_EXISTS"
    assert {p.name: p.read_bytes() for p in kdir.iterdir()} == before
    assert (network_dir / "coordinator" / "registry.yaml").read_bytes() == registry_before


def test_the_coordinator_never_holds_the_network_linkage_key(network_dir):
    linkage = (network_dir / "custodian" / "network-linkage.key").read_bytes()
    for path in (network_dir / "coordinator").rglob("*"):
        if path.is_file():
            assert linkage not in path.read_bytes(), f"{path.name} holds the linkage key"


# add_agency --------------------------------------------------------------------------------------


def test_every_agency_is_registered_with_its_own_signing_key(network_dir, agencies):
    net = store.load_network(network_dir)
    assert [o.id for o in net.organisations] == [a["id"] for a in agencies]
    for spec in agencies:
        org = net.organisation(spec["id"])
        folder = network_dir / "agencies" / spec["id"]
        assert (org.tier, org.type, org.region) == (spec["tier"], spec["type"], spec["region"])
        if spec["tier"] >= 2:
            assert _mode(folder / "keys" / "signing.key") == 0o600
            assert _mode(folder / "keys" / "pseudonym.key") == 0o600
            public = keys.load_signing_key(folder / "keys" / "signing.key").public_key()
            assert org.signing_key_id == keys.key_id(public)
            assert org.signing_public_key == keys.public_key_to_text(public)
            assert len(keys.read_secret(folder / "keys" / "pseudonym.key")) == 32
        else:
            # Tier 1 sends nothing, so it has nothing to sign or pseudonymise.
            assert org.signing_key_id is None
            assert not (folder / "keys" / "signing.key").exists()


def test_agency_config_pins_the_coordinator_encryption_key(network_dir, agencies):
    coordinator = store.load_network(network_dir).coordinator
    enc = keys.load_encryption_key(network_dir / "coordinator" / "keys" / "encryption.key")
    for spec in agencies:
        cfg = store.load_agency(network_dir / "agencies" / spec["id"])
        assert cfg.agency_id == spec["id"] and cfg.tier == spec["tier"]
        assert cfg.coordinator["encryption_key_id"] == coordinator.encryption_key_id == keys.key_id(enc.public_key())
        assert cfg.coordinator["encryption_public_key"] == coordinator.encryption_public_key
        assert cfg.coordinator["signing_key_id"] == coordinator.signing_key_id


def test_pseudonym_keys_differ_between_agencies(network_dir, agencies):
    secrets = [keys.read_secret(network_dir / "agencies" / a["id"] / "keys" / "pseudonym.key") for a in agencies if a["tier"] >= 2]
    assert len(set(secrets)) == len(secrets) >= 3


def test_only_tier_4_agencies_receive_the_custodians_linkage_key(network_dir, agencies):
    custodian = keys.read_secret(network_dir / "custodian" / "network-linkage.key")
    for spec in agencies:
        path = network_dir / "agencies" / spec["id"] / "keys" / "linkage.key"
        if spec["tier"] == 4:
            assert _mode(path) == 0o600
            assert keys.read_secret(path) == custodian
        else:
            assert not path.exists(), f"tier {spec['tier']} agency {spec['id']} holds the linkage key"


def test_a_second_registration_of_the_same_id_is_refused(network_dir):
    before = (network_dir / "coordinator" / "registry.yaml").read_bytes()
    with pytest.raises(RegistryError) as exc:
        store.add_agency(network_dir, store.organisation("shelter-north", "Again", "direct_service", 2, "north-coast"))
    assert exc.value.reason == "AGENCY_EXISTS"
    assert (network_dir / "coordinator" / "registry.yaml").read_bytes() == before


def test_add_agency_to_a_missing_network_is_registry_missing(tmp_path):
    with pytest.raises(RegistryError) as exc:
        store.add_agency(tmp_path, store.organisation("shelter-north", "S", "direct_service", 2, "north-coast"))
    assert exc.value.reason == "REGISTRY_MISSING"


def test_an_agency_folder_can_live_elsewhere(network_dir, tmp_path):
    elsewhere = tmp_path / "agency-machine" / "clinic"
    cfg = store.add_agency(
        network_dir, store.organisation("east-clinic", "East Clinic", "health_social_care", 3, "south-metro"), agency_folder=elsewhere
    )
    assert cfg.folder == elsewhere
    assert (elsewhere / "agency.yaml").is_file() and (elsewhere / "keys" / "signing.key").is_file()
    assert not (network_dir / "agencies" / "east-clinic").exists()


def test_load_agency_on_a_folder_without_config_is_a_clear_error(tmp_path):
    with pytest.raises(RegistryError) as exc:
        store.load_agency(tmp_path)
    assert exc.value.reason == "AGENCY_CONFIG_MISSING"


def test_set_status_suspends_and_unknown_ids_are_refused(network_dir):
    store.set_status(network_dir, "shelter-north", "suspended")
    assert not store.load_network(network_dir).organisation("shelter-north").active
    with pytest.raises(RegistryError) as exc:
        store.set_status(network_dir, "nobody", "suspended")
    assert exc.value.reason == "AGENCY_UNKNOWN"


def test_set_status_to_an_unknown_status_leaves_the_registry_loadable(network_dir):
    with pytest.raises(RegistryError):
        store.set_status(network_dir, "shelter-north", "closed")
    assert store.load_network(network_dir).organisation("shelter-north").status == "active"


def test_the_coordinator_audit_log_records_every_change_and_verifies(network_dir, agencies):
    log = network_dir / "coordinator" / "audit.log"
    events = [e["event"] for e in audit.read(log)]
    suspended = sum(1 for a in agencies if a.get("status"))
    assert events == ["network_init"] + ["agency_registered"] * len(agencies) + ["agency_status"] * suspended
    assert audit.verify(log) == len(events)
    assert audit.verify(network_dir / "agencies" / "shelter-north" / "audit.log") == 1


# no private key bytes anywhere they could leak -----------------------------------------------------


def test_no_private_key_material_in_registry_configs_or_logs(network_dir):
    material = _private_material(network_dir)
    assert len(material) >= 2 + 1 + 2 * 4  # coordinator pair, custodian, tier>=2 agencies' keys
    files = [network_dir / "coordinator" / "registry.yaml", network_dir / "coordinator" / "audit.log"]
    files += list((network_dir / "agencies").glob("*/agency.yaml")) + list((network_dir / "agencies").glob("*/audit.log"))
    for path in files:
        _assert_no_private_material(path.read_text(encoding="utf-8"), material, path.name)
    registry = yaml.safe_load((network_dir / "coordinator" / "registry.yaml").read_text(encoding="utf-8"))
    assert "private" not in repr(registry).lower()


def test_cli_network_commands_never_print_private_keys(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    root = tmp_path / "cli-net"
    outputs = []

    def run(*argv: str) -> None:
        code = main(list(argv), {})
        captured = capsys.readouterr()
        outputs.append(captured.out + captured.err)
        assert code == 0, captured.err

    run("network", "init", "--network", str(root), "--name", "CLI Network", "--geography", str(GEOGRAPHY_FILE))
    run("network", "add-agency", "--network", str(root), "--id", "uni-research", "--name", "Hills University", "--type", "research_evaluation", "--tier", "4", "--region", "south-hills")
    run("network", "add-agency", "--network", str(root), "--id", "legal-aid", "--name", "Legal Aid", "--type", "justice_legal", "--tier", "2", "--region", "south-metro", "--service", "protection orders", "--phone", "555-0102")
    run("network", "add-agency", "--network", str(root), "--id", "lakes-housing", "--name", "Lakes Housing", "--type", "housing_homelessness", "--tier", "1", "--region", "north-lakes")
    run("network", "show", "--network", str(root))

    net = store.load_network(root)
    assert [o.id for o in net.organisations] == ["uni-research", "legal-aid", "lakes-housing"]
    assert (root / "agencies" / "uni-research" / "keys" / "linkage.key").exists()
    assert _mode(root / "coordinator" / "keys" / "encryption.key") == 0o600
    assert net.coordinator.encryption_key_id in outputs[0]  # public key ids are fine to print
    assert "lakes-housing" in outputs[-1] and "legal-aid" in outputs[-1]

    material = _private_material(root)
    for i, text in enumerate(outputs):
        _assert_no_private_material(text, material, f"CLI output #{i}")
    _assert_no_private_material((root / "coordinator" / "registry.yaml").read_text(encoding="utf-8"), material, "registry.yaml")
