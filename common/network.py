"""Network folders on disk: the coordinator's registry and keys, and each agency's own folder.

Layout (``make demo`` writes it under ``demo-network/``)::

    <network>/coordinator/registry.yaml       organisations, coordinator public keys, DSAs
    <network>/coordinator/keys/               encryption.key (X25519), signing.key (Ed25519), 0600
    <network>/coordinator/{inbox,quarantine,warehouse,releases,receipts}/ and audit.log
    <network>/custodian/network-linkage.key   Tier 4 linkage key: held by the governance custodian
                                              and Tier 4 agencies, never by the coordinator
    <network>/agencies/<id>/agency.yaml       the agency's config, with the coordinator's pinned key
    <network>/agencies/<id>/keys/             signing.key, pseudonym.key (+ linkage.key at Tier 4)
    <network>/agencies/<id>/{extracts,outbox,reports,state,mapping}/ and audit.log

In a real network each agency folder lives on the agency's own machine; only public keys travel.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dvnet.bundle import keys
from dvnet.contracts.errors import RegistryError
from dvnet.contracts.network import Contact, Coordinator, Network, Organisation
from dvnet.common import audit
from dvnet.common.files import atomic_write, check_private, private_dir

COORDINATOR_DIRS = ("inbox", "quarantine", "warehouse", "releases", "receipts")
AGENCY_DIRS = ("extracts", "outbox", "reports", "state", "mapping", "receipts")


@dataclass(frozen=True)
class NetworkPaths:
    root: Path

    @property
    def coordinator(self) -> Path:
        return self.root / "coordinator"

    @property
    def registry(self) -> Path:
        return self.coordinator / "registry.yaml"

    @property
    def keys(self) -> Path:
        return self.coordinator / "keys"

    @property
    def inbox(self) -> Path:
        return self.coordinator / "inbox"

    @property
    def quarantine(self) -> Path:
        return self.coordinator / "quarantine"

    @property
    def warehouse(self) -> Path:
        return self.coordinator / "warehouse" / "warehouse.duckdb"

    @property
    def releases(self) -> Path:
        return self.coordinator / "releases"

    @property
    def receipts(self) -> Path:
        return self.coordinator / "receipts"

    @property
    def audit_log(self) -> Path:
        return self.coordinator / "audit.log"

    @property
    def custodian_linkage_key(self) -> Path:
        return self.root / "custodian" / "network-linkage.key"

    @property
    def agencies(self) -> Path:
        return self.root / "agencies"


@dataclass
class AgencyConfig:
    """An agency's own settings (``agency.yaml``), read by the local contributor."""

    folder: Path
    agency_id: str
    name: str
    network: str
    tier: int
    type: str
    region: str
    coordinator: dict[str, Any]
    policy: dict[str, Any] = field(default_factory=dict)

    @property
    def signing_key_path(self) -> Path:
        return self.folder / "keys" / "signing.key"

    @property
    def pseudonym_key_path(self) -> Path:
        return self.folder / "keys" / "pseudonym.key"

    @property
    def linkage_key_path(self) -> Path:
        return self.folder / "keys" / "linkage.key"

    @property
    def sequence_path(self) -> Path:
        return self.folder / "state" / "sequence"

    @property
    def audit_log(self) -> Path:
        return self.folder / "audit.log"

    def mapping_path(self, contract_id: str) -> Path:
        return self.folder / "mapping" / f"{contract_id}.yaml"


def _dump(data: Any) -> bytes:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode("utf-8")


def load_network(root: Path) -> Network:
    """Read and validate ``<root>/coordinator/registry.yaml``."""
    paths = NetworkPaths(Path(root))
    path = paths.registry
    if not path.exists():
        raise RegistryError("REGISTRY_MISSING", f"no registry at {path}", hint="create one with `dvnet network init`")
    _check_modes(paths.audit_log, paths.coordinator, paths.warehouse.parent)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        line = getattr(getattr(e, "problem_mark", None), "line", None)
        raise RegistryError("REGISTRY_INVALID", f"{path.name} is not valid YAML" + (f" (line {line + 1})" if line is not None else "")) from None
    return Network.from_dict(data)


def save_network(root: Path, network: Network) -> None:
    Network.from_dict(network.to_dict())  # never write a registry that would not load
    atomic_write(NetworkPaths(Path(root)).registry, _dump(network.to_dict()))


def init_network(root: Path, name: str, coordinator_id: str = "coordinator", coordinator_name: str | None = None) -> Network:
    """Create a network folder with fresh coordinator key pairs and an empty registry."""
    paths = NetworkPaths(Path(root))
    if paths.registry.exists():
        raise RegistryError("NETWORK_EXISTS", f"a network already exists at {paths.root}", hint="choose another folder")
    enc, sig = keys.generate_encryption_key(), keys.generate_signing_key()
    network = Network(
        name=name,
        coordinator=Coordinator(
            id=coordinator_id,
            name=coordinator_name or f"{name} coordinator",
            encryption_key_id=keys.key_id(enc.public_key()),
            encryption_public_key=keys.public_key_to_text(enc.public_key()),
            signing_key_id=keys.key_id(sig.public_key()),
            signing_public_key=keys.public_key_to_text(sig.public_key()),
        ),
    )
    Network.from_dict(network.to_dict())  # a name the registry refuses leaves no folder behind
    for d in (*COORDINATOR_DIRS, "keys"):
        private_dir(paths.coordinator / d)
    private_dir(paths.warehouse.parent)
    keys.write_private_key(paths.keys / "encryption.key", enc)
    keys.write_private_key(paths.keys / "signing.key", sig)
    private_dir(paths.custodian_linkage_key.parent)
    keys.write_secret(paths.custodian_linkage_key, secrets.token_bytes(32))
    save_network(paths.root, network)
    audit.append(paths.audit_log, "network_init", network=name, encryption_key_id=network.coordinator.encryption_key_id)
    return network


def add_agency(
    root: Path,
    org: Organisation,
    *,
    agency_folder: Path | None = None,
    policy: dict[str, Any] | None = None,
) -> AgencyConfig:
    """Register ``org`` and create its own folder with a signing key pair and pseudonym key.

    Tier 4 agencies also receive the network linkage key from the custodian's folder.
    """
    paths = NetworkPaths(Path(root))
    network = load_network(paths.root)
    if network.organisation(org.id):
        raise RegistryError("AGENCY_EXISTS", f"organisation '{org.id}' is already registered")
    # Validated as the registry will hold it before anything is created: a refused agency leaves
    # no folder and no key behind (its key id is not known yet, so a placeholder stands in).
    probe = dataclasses.replace(org, signing_key_id=org.signing_key_id or ("0" * 16 if org.tier >= 2 else None))
    Network.from_dict({**network.to_dict(), "organisations": [*network.to_dict()["organisations"], dataclasses.asdict(probe)]})
    folder = Path(agency_folder or paths.agencies / org.id)
    if (folder / "agency.yaml").exists():
        raise RegistryError("AGENCY_EXISTS", f"an agency folder already exists at {folder}")
    for d in (*AGENCY_DIRS, "keys"):
        private_dir(folder / d)
    if org.tier >= 2:
        sig = keys.generate_signing_key()
        keys.write_private_key(folder / "keys" / "signing.key", sig)
        keys.write_secret(folder / "keys" / "pseudonym.key", secrets.token_bytes(32))
        org.signing_key_id = keys.key_id(sig.public_key())
        org.signing_public_key = keys.public_key_to_text(sig.public_key())
    if org.tier >= 4:
        keys.write_secret(folder / "keys" / "linkage.key", keys.read_secret(paths.custodian_linkage_key))
    network.organisations.append(org)
    save_network(paths.root, network)
    c = network.coordinator
    config = {
        "agency_id": org.id,
        "name": org.name,
        "network": network.name,
        "tier": org.tier,
        "type": org.type,
        "region": org.region,
        "coordinator": {
            "id": c.id,
            "encryption_key_id": c.encryption_key_id,
            "encryption_public_key": c.encryption_public_key,
            "signing_key_id": c.signing_key_id,
            "signing_public_key": c.signing_public_key,
            "key_epoch": c.key_epoch,
        },
        "policy": {"k": 5, "max_reject_share": 0.0, "max_withheld_share": 0.0, **(policy or {})},
    }
    atomic_write(folder / "agency.yaml", _dump(config))
    audit.append(paths.audit_log, "agency_registered", agency=org.id, tier=org.tier, signing_key_id=org.signing_key_id)
    audit.append(folder / "audit.log", "agency_created", agency=org.id, tier=org.tier)
    return load_agency(folder)


def load_agency(folder: Path) -> AgencyConfig:
    """Read ``<folder>/agency.yaml`` with clear errors."""
    folder = Path(folder)
    path = folder / "agency.yaml"
    if not path.exists():
        raise RegistryError("AGENCY_CONFIG_MISSING", f"no agency.yaml in {folder}", hint="create the agency with `dvnet network add-agency`")
    _check_modes(folder / "audit.log", folder)
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    required = ("agency_id", "name", "network", "tier", "type", "region", "coordinator")
    for key in required:
        if key not in data:
            raise RegistryError("AGENCY_CONFIG_INVALID", f"agency.yaml: {key} is required", field=key)
    for key in ("encryption_key_id", "encryption_public_key"):
        if key not in (data["coordinator"] or {}):
            raise RegistryError("AGENCY_CONFIG_INVALID", f"agency.yaml: coordinator.{key} is required", field=f"coordinator.{key}")
    return AgencyConfig(folder=folder, policy=data.get("policy") or {}, **{k: data[k] for k in required})


def organisation(
    id: str, name: str, type: str, tier: int, region: str, *, services=(), eligibility="", phone="", email="", website="", intake_hours=""
) -> Organisation:
    """An ``Organisation`` for registration (keys are filled in by ``add_agency``)."""
    return Organisation(
        id=id,
        name=name,
        type=type,
        tier=tier,
        region=region,
        services=list(services),
        eligibility=eligibility,
        contact=Contact(phone=phone, email=email, website=website, intake_hours=intake_hours),
    )


def set_status(root: Path, org_id: str, status: str) -> None:
    network = load_network(root)
    org = network.organisation(org_id)
    if org is None:
        raise RegistryError("AGENCY_UNKNOWN", f"no organisation '{org_id}' in the registry")
    org.status = status
    save_network(root, network)
    audit.append(NetworkPaths(Path(root)).audit_log, "agency_status", agency=org_id, status=status)


def _check_modes(audit_log: Path, *folders: Path) -> None:
    """Data folders (and their direct entries) found open to group or others are made owner-only,
    with a warning and a line in the owner's audit log (see ``common.files``: fixed, not refused)."""
    fixed = check_private(*folders)
    if fixed:
        audit.append(audit_log, "file_mode_fixed", paths=[str(p) for p in fixed])


def is_private_key_mode_ok(path: Path) -> bool:
    return (os.stat(path).st_mode & 0o777) == 0o600
