"""The key ceremony through `dvnet.common`: every party makes its own keys in its own folder (0700,
keys 0600), only public files cross, the coordinator registers public keys only, the custodian's
linkage key reaches Tier 4 agencies sealed to their own keys, and nothing secret is ever written
into a registry, a config, a public file or a log."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import stat
from pathlib import Path

import pytest
import yaml

from dvnet.bundle import BundleError, keys
from dvnet.bundle.wrap import wrap_secret
from dvnet.common import network as store
from dvnet.common.agency import import_linkage, init_agency, pin_coordinator, read_coordinator_public, read_registration
from dvnet.common.audit_trail import verify_log
from dvnet.common.custodian import CustodianFolder, read_custodian_public, wrap_for
from dvnet.common.people import init_person, read_person_file
from dvnet.common.public_files import write_public
from dvnet.contracts.errors import AccessError, RegistryError
from dvnet.pipelines.ceremony import FOUNDER, Ceremony, foreign_key_files
from dvnet.pipelines.demo_network import demo_geography


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _coordinator(root: Path):
    """The founding coordinator acting (granted, signed) as ``action``."""
    from dvnet.common.authority import authorise

    return lambda action: authorise(root, FOUNDER[0], root / "people" / FOUNDER[0] / "signing.key", action)


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
            raw = keys.load_private_key_file(path).private_bytes_raw()
        spellings += [base64.b64encode(raw).decode("ascii"), base64.urlsafe_b64encode(raw).decode("ascii").rstrip("="), raw.hex()]
        found[str(path.relative_to(root))] = spellings
    return found


def _assert_no_private_material(text: str, material: dict[str, list[str]], where: str) -> None:
    for name, spellings in material.items():
        for s in spellings:
            assert s not in text, f"private material of {name} appears in {where}"


# network init --------------------------------------------------------------------------------------


def test_init_makes_the_coordinators_own_keys_only_and_a_registry_with_its_founder(tmp_path):
    founder = init_person(tmp_path / "ana", "coord-ana", "Ana", "coalition office")
    root = tmp_path / "net"
    net = store.init_network(root, "Riverside", read_person_file(founder.public_file), keys.load_signing_key(founder.key), geography=demo_geography())
    kdir = root / "coordinator" / "keys"
    assert _mode(kdir / "encryption.key") == _mode(kdir / "signing.key") == 0o600
    assert _mode(root / "coordinator") == _mode(kdir) == 0o700
    assert sorted(p.name for p in kdir.iterdir()) == ["encryption.key", "signing.key"]
    assert not (root / "custodian").exists(), "the network linkage key is the custodian's to make"
    enc, sig = keys.load_encryption_key(kdir / "encryption.key"), keys.load_signing_key(kdir / "signing.key")
    loaded = store.load_network(root)
    assert loaded == net
    assert loaded.coordinator.encryption_key_id == keys.key_id(enc.public_key())
    assert loaded.coordinator.signing_key_id == keys.key_id(sig.public_key())
    assert [(p.id, p.roles) for p in loaded.people] == [("coord-ana", ["coordinator"])]
    assert loaded.organisations == []
    for d in store.COORDINATOR_DIRS:
        assert (root / "coordinator" / d).is_dir()
    public = yaml.safe_load((root / "coordinator" / "coordinator-public.yaml").read_text())
    assert public["encryption_key_id"] == net.coordinator.encryption_key_id and public["network"] == "Riverside"


def test_init_refuses_an_existing_network_and_keeps_its_keys(network_dir):
    kdir = network_dir / "coordinator" / "keys"
    before = {p.name: p.read_bytes() for p in kdir.iterdir()}
    registry_before = (network_dir / "coordinator" / "registry.yaml").read_bytes()
    founder = network_dir / "people" / FOUNDER[0]
    with pytest.raises(RegistryError) as exc:
        store.init_network(network_dir, "Another", read_person_file(founder / "person.yaml"), keys.load_signing_key(founder / "signing.key"), geography=demo_geography())
    assert exc.value.reason == "NETWORK_EXISTS"
    assert {p.name: p.read_bytes() for p in kdir.iterdir()} == before
    assert (network_dir / "coordinator" / "registry.yaml").read_bytes() == registry_before


def test_init_refuses_a_founder_key_that_is_not_theirs(tmp_path):
    ana, other = init_person(tmp_path / "ana", "coord-ana", "Ana", "office"), init_person(tmp_path / "bo", "bo", "Bo", "office")
    with pytest.raises(AccessError) as exc:
        store.init_network(tmp_path / "net", "Riverside", read_person_file(ana.public_file), keys.load_signing_key(other.key), geography=demo_geography())
    assert exc.value.reason == "KEY_MISMATCH"
    assert not (tmp_path / "net" / "coordinator" / "registry.yaml").exists()


# agency init, registration, pinning -----------------------------------------------------------------


def test_agency_init_makes_its_own_keys_and_a_public_registration(tmp_path):
    folder = tmp_path / "agency-machine" / "clinic"
    agency = init_agency(folder, agency_id="east-clinic", name="East Clinic", type="health_social_care", tier=4, region="south-metro")
    assert _mode(folder) == _mode(folder / "keys") == 0o700
    assert sorted(p.name for p in (folder / "keys").iterdir()) == ["encryption.key", "pseudonym.key", "signing.key"]
    assert all(_mode(p) == 0o600 for p in (folder / "keys").iterdir())
    reg = read_registration(agency.registration_path)
    assert reg["signing_key_id"] == keys.key_id(keys.load_signing_key(folder / "keys" / "signing.key").public_key())
    assert reg["encryption_key_id"] == keys.key_id(keys.load_encryption_key(folder / "keys" / "encryption.key").public_key())
    _assert_no_private_material(agency.registration_path.read_text(), _private_material(folder), "registration.yaml")
    with pytest.raises(RegistryError) as exc:  # nothing to seal to yet
        store.load_agency(folder)
    assert exc.value.reason == "COORDINATOR_NOT_PINNED"
    with pytest.raises(RegistryError) as exc:
        init_agency(folder, agency_id="east-clinic", name="Again", type="health_social_care", tier=4, region="south-metro")
    assert exc.value.reason == "AGENCY_EXISTS"


def test_agency_init_refuses_what_the_registry_would_refuse_before_making_keys(tmp_path):
    with pytest.raises(RegistryError) as exc:
        init_agency(tmp_path / "a", agency_id="Bad Id", name="X", type="direct_service", tier=2, region="south-metro")
    assert "registration.id" in exc.value.message
    assert not (tmp_path / "a").exists()


def test_every_agency_is_registered_with_its_own_public_keys(network_dir, agencies):
    net = store.load_network(network_dir)
    assert [o.id for o in net.organisations] == [a["id"] for a in agencies]
    for spec in agencies:
        org = net.organisation(spec["id"])
        folder = network_dir / "agencies" / spec["id"]
        assert (org.tier, org.type, org.region) == (spec["tier"], spec["type"], spec["region"])
        signing = keys.load_signing_key(folder / "keys" / "signing.key").public_key()
        encryption = keys.load_encryption_key(folder / "keys" / "encryption.key").public_key()
        assert (org.signing_key_id, org.signing_public_key) == (keys.key_id(signing), keys.public_key_to_text(signing))
        assert (org.encryption_key_id, org.encryption_public_key) == (keys.key_id(encryption), keys.public_key_to_text(encryption))
        assert len(keys.read_secret(folder / "keys" / "pseudonym.key")) == 32


def test_agency_config_pins_the_coordinators_keys(network_dir, agencies):
    coordinator = store.load_network(network_dir).coordinator
    for spec in agencies:
        cfg = store.load_agency(network_dir / "agencies" / spec["id"])
        assert cfg.agency_id == spec["id"] and cfg.tier == spec["tier"] and cfg.network == store.load_network(network_dir).name
        assert cfg.coordinator["encryption_key_id"] == coordinator.encryption_key_id
        assert cfg.coordinator["encryption_public_key"] == coordinator.encryption_public_key
        assert cfg.coordinator["signing_key_id"] == coordinator.signing_key_id


def test_pseudonym_keys_differ_between_agencies(network_dir, agencies):
    secrets = [keys.read_secret(network_dir / "agencies" / a["id"] / "keys" / "pseudonym.key") for a in agencies]
    assert len(set(secrets)) == len(secrets) >= 3


def test_a_tampered_registration_is_refused(network_dir, tmp_path):
    path = network_dir / "agencies" / "legal-aid-south" / "registration.yaml"
    data = yaml.safe_load(path.read_text())
    data["tier"] = 4  # promote itself to get the linkage key
    forged = tmp_path / "registration.yaml"
    forged.write_text(yaml.safe_dump(data))
    with pytest.raises(RegistryError) as exc:
        read_registration(forged)
    assert exc.value.reason == "PUBLIC_FILE_INVALID"


def test_registration_refusals(network_dir, tmp_path):
    act = _coordinator(network_dir)
    with pytest.raises(RegistryError) as exc:
        store.register_agency(network_dir, read_registration(network_dir / "agencies" / "shelter-north" / "registration.yaml"), act("network.register-agency"))
    assert exc.value.reason == "AGENCY_EXISTS"
    other = init_agency(tmp_path / "o", agency_id="other-net", name="O", type="direct_service", tier=2, region="south-metro", network="Another network")
    with pytest.raises(RegistryError) as exc:
        store.register_agency(network_dir, read_registration(other.registration_path), act("network.register-agency"))
    assert exc.value.reason == "REGISTRATION_WRONG_NETWORK"


def test_pin_coordinator_refuses_another_coordinator_once_pinned(network_dir, tmp_path):
    elsewhere = Ceremony.found(tmp_path / "other", store.load_network(network_dir).name, custodian=None)
    folder = network_dir / "agencies" / "shelter-north"
    before = (folder / "agency.yaml").read_bytes()
    with pytest.raises(RegistryError) as exc:
        pin_coordinator(folder, elsewhere.paths.coordinator_public)
    assert exc.value.reason == "COORDINATOR_ALREADY_PINNED"
    assert (folder / "agency.yaml").read_bytes() == before
    pin_coordinator(folder, store.NetworkPaths(network_dir).coordinator_public)  # the same one again: no change
    fresh = init_agency(tmp_path / "n", agency_id="new-one", name="N", type="direct_service", tier=2, region="south-metro", network="Not this one")
    with pytest.raises(RegistryError) as exc:
        pin_coordinator(fresh.folder, store.NetworkPaths(network_dir).coordinator_public)
    assert exc.value.reason == "COORDINATOR_WRONG_NETWORK"


def test_pinning_brings_the_networks_geography_and_refuses_a_wrong_one(network_dir, tmp_path):
    paths = store.NetworkPaths(network_dir)
    folder = paths.agencies / "shelter-north"
    assert store.load_agency(folder).geography == store.load_network(network_dir).geography
    body = read_coordinator_public(paths.coordinator_public)
    regions = body["geography"]["regions"]
    regions[1]["postal_prefixes"] = regions[0]["postal_prefixes"]  # signed by the coordinator, still not a geography
    write_public(tmp_path / "wrong.yaml", body, store.coordinator_key(network_dir))
    before = (folder / "agency.yaml").read_bytes()
    with pytest.raises(RegistryError) as exc:
        pin_coordinator(folder, tmp_path / "wrong.yaml")
    assert exc.value.reason == "PUBLIC_FILE_INVALID" and exc.value.context["field"] == "geography.regions[1].postal_prefixes[0]"
    assert (folder / "agency.yaml").read_bytes() == before
    # The same coordinator's keys with a changed geography: pinning again takes it up, drop: kept.
    body = read_coordinator_public(paths.coordinator_public)
    body["geography"]["regions"][0]["name"] = "Renamed ward"
    write_public(tmp_path / "changed.yaml", body, store.coordinator_key(network_dir))
    config = yaml.safe_load((folder / "agency.yaml").read_text())
    (folder / "agency.yaml").write_text(yaml.safe_dump({**config, "drop": {"inbox": "in", "receipts": "r"}}))
    agency = pin_coordinator(folder, tmp_path / "changed.yaml")
    assert agency.geography.regions[0].name == "Renamed ward" and agency.drop == {"inbox": "in", "receipts": "r"}


# the network linkage key: custodian -> (coordinator relays) -> Tier 4 agency ------------------------


def test_only_tier_4_agencies_hold_the_custodians_linkage_key(network_dir, agencies):
    custodian = keys.read_secret(CustodianFolder(network_dir / "custodian").linkage_key)
    for spec in agencies:
        path = network_dir / "agencies" / spec["id"] / "keys" / "linkage.key"
        if spec["tier"] == 4:
            assert _mode(path) == 0o600 and keys.read_secret(path) == custodian
        else:
            assert not path.exists(), f"tier {spec['tier']} agency {spec['id']} holds the linkage key"
    for relayed in (network_dir / "coordinator" / "relay").iterdir():  # what the coordinator carried: ciphertext
        assert custodian not in relayed.read_bytes() and base64.b64encode(custodian) not in relayed.read_bytes()


def test_the_wrapped_key_opens_only_for_its_agency(network_dir):
    """Wrong-agency unwrap fails: another Tier 4 agency's own key cannot open it, nor can a header
    re-addressed to that agency."""
    relayed = network_dir / "coordinator" / "relay" / "valley-health.linkage"
    custodian_file = network_dir / "custodian" / "custodian-public.yaml"
    with pytest.raises(BundleError) as exc:
        import_linkage(network_dir / "agencies" / "uni-research", relayed, custodian_file)
    assert exc.value.reason == "WRAP_NOT_FOR_AGENCY"
    doc = json.loads(relayed.read_bytes())
    uni = read_registration(network_dir / "agencies" / "uni-research" / "registration.yaml")
    readdressed = network_dir / "readdressed.linkage"
    readdressed.write_bytes(json.dumps({**doc, "agency_id": "uni-research", "recipient_key_id": uni["encryption_key_id"]}, sort_keys=True, separators=(",", ":")).encode())
    with pytest.raises(BundleError) as exc:
        import_linkage(network_dir / "agencies" / "uni-research", readdressed, custodian_file)
    assert exc.value.reason == "WRAP_INVALID"
    assert keys.read_secret(network_dir / "agencies" / "uni-research" / "keys" / "linkage.key") == keys.read_secret(network_dir / "custodian" / "keys" / "network-linkage.key")


def test_the_coordinator_cannot_slip_in_a_linkage_key_of_its_own(network_dir, tmp_path):
    """The agency's HPKE key is public, so anyone can seal a key to it; only the custodian's
    signature, checked against the custodian's file, makes it the network's."""
    reg = read_registration(network_dir / "agencies" / "valley-health" / "registration.yaml")
    forged = tmp_path / "forged.linkage"
    forged.write_bytes(wrap_secret(b"\x07" * 32, agency_id="valley-health", recipient_public_key=keys.encryption_public_key_from_text(reg["encryption_public_key"]),
                                   custodian_key=keys.load_signing_key(network_dir / "coordinator" / "keys" / "signing.key"),
                                   now=dt.datetime.now(dt.UTC)))  # fmt: skip
    with pytest.raises(BundleError) as exc:
        import_linkage(network_dir / "agencies" / "valley-health", forged, network_dir / "custodian" / "custodian-public.yaml")
    assert exc.value.reason == "WRAP_WRONG_CUSTODIAN"


def test_the_custodian_wraps_for_tier_4_only_and_lower_tiers_cannot_import(network_dir, tmp_path):
    reg = read_registration(network_dir / "agencies" / "shelter-north" / "registration.yaml")
    with pytest.raises(RegistryError) as exc:
        wrap_for(network_dir / "custodian", reg, tmp_path / "x.linkage")
    assert exc.value.reason == "WRAP_NOT_TIER_4"
    with pytest.raises(RegistryError) as exc:
        import_linkage(network_dir / "agencies" / "shelter-north", network_dir / "coordinator" / "relay" / "valley-health.linkage",
                       network_dir / "custodian" / "custodian-public.yaml")  # fmt: skip
    assert exc.value.reason == "LINKAGE_NOT_TIER_4"
    assert read_custodian_public(network_dir / "custodian" / "custodian-public.yaml")["linkage_key_id"]


def test_a_tier_4_agency_without_the_linkage_key_is_told_how_to_get_it(tmp_path):
    ceremony = Ceremony.found(tmp_path / "net", "No custodian yet", custodian=None)
    agency = ceremony.add_agency("uni-x", "Uni X", "research_evaluation", 4, "south-hills")
    with pytest.raises(RegistryError) as exc:
        agency.linkage_key()
    assert exc.value.reason == "LINKAGE_KEY_MISSING" and "import-linkage" in exc.value.hint


# status, audit, and no secret where it does not belong -----------------------------------------------


def test_set_status_suspends_and_unknown_ids_are_refused(network_dir):
    act = _coordinator(network_dir)
    store.set_status(network_dir, "shelter-north", "suspended", act("network.suspend"))
    assert not store.load_network(network_dir).organisation("shelter-north").active
    with pytest.raises(RegistryError) as exc:
        store.set_status(network_dir, "nobody", "suspended", act("network.suspend"))
    assert exc.value.reason == "AGENCY_UNKNOWN"


def test_set_status_to_an_unknown_status_leaves_the_registry_loadable(network_dir):
    with pytest.raises(RegistryError):
        store.set_status(network_dir, "shelter-north", "closed", _coordinator(network_dir)("network.suspend"))
    assert store.load_network(network_dir).organisation("shelter-north").status == "active"


def test_the_coordinator_audit_log_records_every_change_signed_and_verifies(network_dir, agencies):
    log = network_dir / "coordinator" / "audit.log"
    entries = [e for e in json.loads("[" + ",".join(log.read_text().splitlines()) + "]")]
    changes = [e["action"] for e in entries if e["outcome"] == "done"]
    suspended = sum(1 for a in agencies if a.get("status"))
    assert changes == ["person_added"] + ["agency_registered"] * len(agencies) + ["agency_status"] * suspended
    assert all(e["actor"] == FOUNDER[0] and e["sig"] for e in entries)  # every change by the founder, signed
    result = verify_log(log)
    assert result.entries == len(entries) and result.signatures == len(entries) and result.head_signed
    # init, pin-coordinator, and a pin of the rewritten public file at each later registration (shelter-north registered first)
    assert verify_log(network_dir / "agencies" / "shelter-north" / "audit.log").entries == 1 + len(agencies)


def test_no_private_key_material_in_registry_configs_public_files_or_logs(network_dir):
    material = _private_material(network_dir)
    assert len(material) >= 2 + 2 + 3 * 7  # coordinator pair, custodian pair, each agency's three keys
    files = [*(network_dir / "coordinator").glob("*.yaml"), network_dir / "coordinator" / "audit.log", *(network_dir / "coordinator" / "relay").iterdir()]
    files += [*network_dir.glob("agencies/*/*.yaml"), *network_dir.glob("agencies/*/audit.log"), *network_dir.glob("people/*/person.yaml")]
    files += [network_dir / "custodian" / "custodian-public.yaml", network_dir / "custodian" / "audit.log"]
    for path in files:
        _assert_no_private_material(path.read_text(encoding="utf-8"), material, path.name)
    assert foreign_key_files(network_dir) == []
