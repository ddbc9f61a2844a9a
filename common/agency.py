"""An agency's side of the key ceremony, run on the agency's own machine (DESIGN §6).

1. ``init_agency``: the agency's folder (0700) with its own keys, all 0600 — a signing key
   (Ed25519: bundles, its registration), a pseudonym key (32 random bytes: record keys) and an
   HPKE key (X25519: to receive the network linkage key) — its config, and a **public
   registration file** for the coordinator (names, contacts, public keys; nothing secret).
2. ``pin_coordinator``: the coordinator's public file, received back, pinned in ``agency.yaml``
   (its keys, and the network's geography the contributor generalises postal codes with).
3. ``import_linkage`` (Tier 4): the custodian's wrapped linkage key, opened with the agency's key.
"""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path

import yaml

from dvnet.common.yaml_text import load_yaml
from dvnet.bundle import keys
from dvnet.bundle.wrap import unwrap_secret
from dvnet.common import audit
from dvnet.common.custodian import read_custodian_public
from dvnet.common.files import atomic_write, private_folder
from dvnet.common.network import (AGENCY_DIRS, COORDINATOR_FIELDS, COORDINATOR_FORMAT, AgencyConfig, agency_actor, load_agency,
                                  organisation_from_registration, organisation_ids)  # fmt: skip
from dvnet.common.public_files import public_key_fields, read_public, write_public
from dvnet.contracts.errors import RegistryError
from dvnet.contracts.network import parse_geography, registry_text

REGISTRATION_FORMAT = "dvnet-agency-registration/1"
REGISTRATION_FIELDS = ("agency_id", "name", "type", "tier", "region", "services", "eligibility", "contact", "network",
                       "encryption_key_id", "encryption_public_key", "created_at")  # fmt: skip
DEFAULT_POLICY = {"k": 5, "max_reject_share": 0.0, "max_withheld_share": 0.0}
#: The coordinator fields an agency pins (the public file also carries the network name and a date).
PINNED_FIELDS = ("id", "encryption_key_id", "encryption_public_key", "signing_key_id", "signing_public_key", "key_epoch")


def _dump(data) -> bytes:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode("utf-8")


def _audit(agency: AgencyConfig, action: str, **kw) -> None:
    actor = agency_actor(agency)
    audit.append(agency.audit_log, action, actor=actor, head_key=actor.key, objects={"agency": agency.agency_id}, **kw)


def init_agency(
    folder: Path,
    *,
    agency_id: str,
    name: str,
    type: str,
    tier: int,
    region: str,
    network: str | None = None,
    services: tuple[str, ...] = (),
    eligibility: str = "",
    contact: dict[str, str] | None = None,
    policy: dict | None = None,
    now: dt.datetime | None = None,
) -> AgencyConfig:
    """Make the agency's folder, keys, config and public registration file (``registration.yaml``)."""
    folder = Path(folder)
    if (folder / "agency.yaml").exists() or (folder / "keys").exists():
        raise RegistryError("AGENCY_EXISTS", f"an agency folder already exists at {folder}", hint="choose another folder")
    now = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    signing, encryption = keys.generate_signing_key(), keys.generate_encryption_key()
    contact = {k: (contact or {}).get(k, "") for k in ("phone", "email", "website", "intake_hours")}
    body = {
        "format": REGISTRATION_FORMAT,
        "agency_id": agency_id,
        "name": name,
        "type": type,
        "tier": tier,
        "region": region,
        "services": list(services),
        "eligibility": eligibility,
        "contact": contact,
        "network": network,
        **public_key_fields("encryption", encryption.public_key()),
        "created_at": now.isoformat(),
        **public_key_fields("signing", signing.public_key()),
    }
    organisation_from_registration(body)  # the registry would refuse it: refuse before making anything
    if network is not None:
        registry_text(network, "network")
    private_folder(folder)
    for d in AGENCY_DIRS:
        private_folder(folder / d)
    private_folder(folder / "keys")
    keys.write_private_key(folder / "keys" / "signing.key", signing)
    keys.write_private_key(folder / "keys" / "encryption.key", encryption)
    keys.write_secret(folder / "keys" / "pseudonym.key", secrets.token_bytes(keys.SECRET_SIZE))
    config = {
        "agency_id": agency_id,
        "name": name,
        "network": network,
        "tier": tier,
        "type": type,
        "region": region,
        "coordinator": None,  # pinned from the coordinator's public file
        "policy": {**DEFAULT_POLICY, **(policy or {})},
    }
    atomic_write(folder / "agency.yaml", _dump(config), mode=0o600)
    write_public(folder / "registration.yaml", body, signing)
    agency = load_agency(folder, pinned=False)
    write_mapping_scaffolds(agency)
    _audit(agency, "agency.init", now=now, tier=tier, signing_key_id=body["signing_key_id"], encryption_key_id=body["encryption_key_id"])
    return agency


def write_mapping_scaffolds(agency: AgencyConfig, contract_ids: list[str] | None = None, *, replace: bool = False) -> list[Path]:
    """A commented ``mapping/<contract>.yaml`` for each contract the agency's tier may send (or those
    named); a steward's existing mapping is kept unless ``replace``. The paths written."""
    from dvnet.contracts.mapping_scaffold import scaffold  # the contracts' models: only when writing
    from dvnet.contracts.registry import all_contracts, get_contract

    contracts = [get_contract(c) for c in contract_ids] if contract_ids else [c for c in {c.id: c for c in all_contracts()}.values() if agency.tier >= c.min_tier]
    written = []
    for contract in contracts:
        path = agency.mapping_path(contract.id)
        if replace or not path.exists():
            atomic_write(path, scaffold(contract).encode("utf-8"), mode=0o600)
            written.append(path)
    return written


def read_registration(path: Path) -> dict:
    """An agency's public registration file, its self-signature and content checked."""
    body = read_public(path, REGISTRATION_FORMAT, REGISTRATION_FIELDS)
    organisation_from_registration(body)
    return body


def read_coordinator_public(path: Path) -> dict:
    """The coordinator's public file (self-signed by the coordinator's signing key), its geography checked."""
    body = read_public(path, COORDINATOR_FORMAT, COORDINATOR_FIELDS)
    try:
        parse_geography(body["geography"])
        if organisation_ids(body["organisations"], "organisations", "PUBLIC_FILE_INVALID") is None:
            raise RegistryError("PUBLIC_FILE_INVALID", "organisations is a list of registry ids", field="organisations")
    except RegistryError as e:
        raise RegistryError("PUBLIC_FILE_INVALID", f"{Path(path).name}: {e.message}", field=e.context.get("field")) from None
    return body


def pin_coordinator(folder: Path, coordinator_file: Path, *, now: dt.datetime | None = None) -> AgencyConfig:
    """Pin the coordinator's public keys in ``agency.yaml`` (bundles are sealed to them, receipts
    checked against them). A different coordinator already pinned is refused: replacing a pinned
    key is a key change to agree on, not something a file arriving may do."""
    agency = load_agency(folder, pinned=False)
    public = read_coordinator_public(coordinator_file)
    if agency.network not in (None, public["network"]):
        raise RegistryError("COORDINATOR_WRONG_NETWORK", f"the coordinator's file is for another network than {agency.agency_id}'s")
    pinned = {k: public[k] for k in PINNED_FIELDS}
    if agency.coordinator and agency.coordinator != pinned:
        raise RegistryError("COORDINATOR_ALREADY_PINNED", f"{agency.agency_id} already pins other coordinator keys",
                            hint="a coordinator key change is agreed with the coordinator and made deliberately")  # fmt: skip
    path = Path(folder) / "agency.yaml"
    config = load_yaml(path.read_text(encoding="utf-8"))
    # The geography and the organisation ids travel with the keys: re-pinning the same keys takes up
    # a changed geography and the organisations registered since.
    config.update(network=public["network"], coordinator=pinned, geography=public["geography"], organisations=public["organisations"])
    atomic_write(path, _dump(config), mode=0o600)
    agency = load_agency(folder)
    _audit(agency, "agency.pin-coordinator", now=now, coordinator_signing_key_id=pinned["signing_key_id"],
           coordinator_encryption_key_id=pinned["encryption_key_id"])  # fmt: skip
    return agency


def import_linkage(folder: Path, wrapped_file: Path, custodian_file: Path, *, now: dt.datetime | None = None) -> str:
    """Open the custodian's wrapped network linkage key with this agency's own HPKE key and keep it
    (``keys/linkage.key``, 0600). Returns the linkage key id."""
    agency = load_agency(folder, pinned=False)
    if agency.tier < 4:
        raise RegistryError("LINKAGE_NOT_TIER_4", f"{agency.agency_id} is tier {agency.tier}: only Tier 4 agencies hold the linkage key")
    custodian = read_custodian_public(custodian_file)
    blob = Path(wrapped_file).read_bytes()[: 64 * 1024]
    secret, header = unwrap_secret(
        blob,
        agency_id=agency.agency_id,
        recipient_private_key=keys.load_encryption_key(agency.encryption_key_path),
        custodian_public_key=keys.signing_public_key_from_text(custodian["signing_public_key"]),
    )
    if header["linkage_key_id"] != custodian["linkage_key_id"]:
        raise RegistryError("LINKAGE_KEY_MISMATCH", "the wrapped key is not the linkage key the custodian's file names")
    if agency.linkage_key_path.exists():
        if keys.read_secret(agency.linkage_key_path) != secret:
            raise RegistryError("LINKAGE_KEY_EXISTS", f"{agency.agency_id} already holds another linkage key")
    else:
        keys.write_secret(agency.linkage_key_path, secret)
    _audit(agency, "agency.import-linkage", now=now, linkage_key_id=header["linkage_key_id"], custodian_key_id=header["custodian_key_id"])
    return header["linkage_key_id"]
