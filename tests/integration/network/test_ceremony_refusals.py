"""Each refusal of the key ceremony, by its reason code: nothing is made or changed when one fires."""

from __future__ import annotations

import pytest
import yaml

from dvnet.bundle import keys
from dvnet.common import network as store
from dvnet.common.agency import import_linkage, read_registration
from dvnet.common.authority import authorise
from dvnet.common.custodian import init_custodian, read_custodian_public, wrap_for
from dvnet.common.people import init_person, read_person_file
from dvnet.common.public_files import write_public
from dvnet.contracts.errors import RegistryError
from dvnet.pipelines.ceremony import FOUNDER
from dvnet.pipelines.cli import EXIT_USAGE, main


def _act(root, action):
    return authorise(root, FOUNDER[0], root / "people" / FOUNDER[0] / "signing.key", action)


def _reason(call, *args, **kwargs) -> str:
    with pytest.raises(RegistryError) as exc:
        call(*args, **kwargs)
    return exc.value.reason


def test_a_second_agency_under_the_same_keys_is_refused(network_dir, tmp_path):
    folder = network_dir / "agencies" / "shelter-north"
    body = {k: v for k, v in read_registration(folder / "registration.yaml").items()}
    copy = tmp_path / "registration.yaml"
    write_public(copy, {**body, "agency_id": "shelter-north-2"}, keys.load_signing_key(folder / "keys" / "signing.key"))
    before = store.NetworkPaths(network_dir).registry.read_bytes()
    assert _reason(store.register_agency, network_dir, read_registration(copy), _act(network_dir, "network.register-agency")) == "KEY_REUSED"
    assert store.NetworkPaths(network_dir).registry.read_bytes() == before


def test_person_refusals(network_dir, tmp_path):
    assert _reason(init_person, tmp_path / "a", "Bad Id", "A", "x") == "PERSON_ID_INVALID"
    assert _reason(init_person, tmp_path / "b", "p-b", " ", "x") == "PERSON_INVALID"
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    assert _reason(init_person, network_dir / "people" / FOUNDER[0], FOUNDER[0], "Again", "x") == "PERSON_EXISTS"
    impostor = init_person(tmp_path / "impostor", FOUNDER[0], "Ana (impostor)", "x")  # the founder's id, another key
    act = _act(network_dir, "network.add-person")
    assert _reason(store.add_person, network_dir, read_person_file(impostor.public_file), ["coordinator"], act) == "PERSON_EXISTS"


def test_custodian_refusals(network_dir, tmp_path):
    custodian = network_dir / "custodian"
    assert _reason(init_custodian, custodian) == "CUSTODIAN_EXISTS"
    agency = network_dir / "agencies" / "valley-health"
    registration = read_registration(agency / "registration.yaml")
    # A second custodian's key arriving for an agency that already holds the network's: refused, the key kept.
    other = init_custodian(tmp_path / "other-custodian")
    wrap_for(other.folder, registration, tmp_path / "other.linkage")
    held = keys.read_secret(agency / "keys" / "linkage.key")
    assert _reason(import_linkage, agency, tmp_path / "other.linkage", other.public_file) == "LINKAGE_KEY_EXISTS"
    assert keys.read_secret(agency / "keys" / "linkage.key") == held
    # The custodian's file naming another linkage key than the wrapped one (a rotated key, an old file).
    public = read_custodian_public(custodian / "custodian-public.yaml")
    stale = tmp_path / "custodian-public.yaml"
    write_public(stale, {**public, "linkage_key_id": "0" * 16}, keys.load_signing_key(custodian / "keys" / "signing.key"))
    assert _reason(import_linkage, agency, network_dir / "coordinator" / "relay" / "valley-health.linkage", stale) == "LINKAGE_KEY_MISMATCH"
    # The same key again is no change.
    assert import_linkage(agency, network_dir / "coordinator" / "relay" / "valley-health.linkage", custodian / "custodian-public.yaml") == public["linkage_key_id"]


@pytest.mark.parametrize("where", ["coordinator/vault", "coordinator/keys/vault", "coordinator"])
def test_the_linkage_key_is_never_made_or_used_in_the_coordinators_folder(network_dir, tmp_path, capsys, where):
    """The coordinator holds every token: the key they were made under never sits beside them."""
    folder = network_dir / where
    assert _reason(init_custodian, folder) == "CUSTODIAN_ON_COORDINATOR"
    assert not (folder / "keys" / "network-linkage.key").exists()
    assert main(["custodian", "init", str(folder)], {}) == EXIT_USAGE and "CUSTODIAN_ON_COORDINATOR" in capsys.readouterr().err
    # A custodian folder moved there later is not used either.
    moved = network_dir / "coordinator" / "moved-vault"
    init_custodian(tmp_path / "vault").folder.rename(moved)
    registration = read_registration(network_dir / "agencies" / "valley-health" / "registration.yaml")
    assert _reason(wrap_for, moved, registration, tmp_path / "x.linkage") == "CUSTODIAN_ON_COORDINATOR"
    assert not (tmp_path / "x.linkage").exists()


def test_a_public_file_of_the_wrong_kind_is_refused(network_dir):
    person = network_dir / "people" / FOUNDER[0] / "person.yaml"
    assert _reason(read_registration, person) == "PUBLIC_FILE_INVALID"
    data = yaml.safe_load(person.read_text())
    assert data["format"] == "dvnet-person/1" and "signing_public_key" in data


def test_an_anchor_that_is_neither_a_receipt_nor_a_manifest_is_a_usage_error(network_dir, capsys):
    code = main(["audit", "verify", str(network_dir / "coordinator" / "audit.log"), "--anchor", str(network_dir / "coordinator" / "registry.yaml")], {})
    assert code == EXIT_USAGE and "USAGE_ANCHOR_INVALID" in capsys.readouterr().err
