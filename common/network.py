"""Network folders on disk: the coordinator's registry, keys and public file; each agency's config.

Every party keeps its own folder, on its own machine; only public files travel (DESIGN §6).
The demo (``make demo``) puts them side by side under ``demo-network/``::

    <network>/coordinator/registry.yaml       organisations and people (public keys only), DSAs
    <network>/coordinator/keys/               the coordinator's own encryption.key (X25519) and signing.key (Ed25519), 0600
    <network>/coordinator/coordinator-public.yaml   the coordinator's public keys, pinned by every agency
    <network>/coordinator/{inbox,archive,quarantine,warehouse,releases,receipts}/ and audit.log (+ audit.log.head)
    <network>/custodian/                      the custodian's folder: the network linkage key (dvnet custodian init)
    <network>/agencies/<id>/                  an agency's own folder (dvnet agency init): agency.yaml, keys/, registration.yaml
    <network>/people/<id>/                    a person's signing key and public person file (dvnet person init)

The coordinator's folder never holds an agency's key or the linkage key; a test scans it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dvnet.common.yaml_text import load_yaml
from dvnet.bundle import keys
from dvnet.common import audit
from dvnet.common.audit import KeySigner, Signer
from dvnet.common.faults import maybe_crash
from dvnet.common.files import atomic_write, check_private, private_folder
from dvnet.common.paths import NetworkPaths
from dvnet.common.public_files import public_key_fields, write_public
from dvnet.contracts.errors import AccessError, RegistryError
from dvnet.contracts.geography import Geography
from dvnet.contracts.network import ORG_ID, Coordinator, Network, Organisation, Person, parse_geography, parse_organisation

COORDINATOR_FORMAT = "dvnet-coordinator/1"
COORDINATOR_FIELDS = ("network", "id", "name", "encryption_key_id", "encryption_public_key", "key_epoch", "geography", "organisations",
                      "created_at")  # fmt: skip
COORDINATOR_DIRS = ("inbox", "quarantine", "warehouse", "releases", "receipts")
AGENCY_DIRS = ("extracts", "outbox", "reports", "state", "mapping", "receipts")


@dataclass
class AgencyConfig:
    """An agency's own settings (``agency.yaml``), read by the local contributor."""

    folder: Path
    agency_id: str
    name: str
    network: str | None  # None until the agency pins the coordinator's public file
    tier: int
    type: str
    region: str
    coordinator: dict[str, Any] | None
    policy: dict[str, Any] = field(default_factory=dict)
    drop: dict[str, Any] = field(default_factory=dict)  # where bundles go (read by dvnet.pipelines.delivery.drop)
    geography: Geography | None = None  # the network's, as the coordinator published it (see agency_geography)
    #: The registry's organisation ids as of the coordinator's public file this agency pinned last
    #: (None before it pinned one): the ids a code field such as receiving_org may hold.
    organisations: tuple[str, ...] | None = None

    @property
    def signing_key_path(self) -> Path:
        return self.folder / "keys" / "signing.key"

    @property
    def pseudonym_key_path(self) -> Path:
        return self.folder / "keys" / "pseudonym.key"

    @property
    def encryption_key_path(self) -> Path:
        return self.folder / "keys" / "encryption.key"

    @property
    def linkage_key_path(self) -> Path:
        return self.folder / "keys" / "linkage.key"

    @property
    def registration_path(self) -> Path:
        return self.folder / "registration.yaml"

    def linkage_key(self) -> bytes:
        """The network linkage key, once imported from the custodian (Tier 4)."""
        if not self.linkage_key_path.exists():
            raise RegistryError("LINKAGE_KEY_MISSING", "this agency has no network linkage key yet",
                                hint="import the custodian's wrapped key with `dvnet agency import-linkage`")  # fmt: skip
        return keys.read_secret(self.linkage_key_path)

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


def read_geography(path: Path) -> Geography:
    """A geography file (``regions:`` as in the registry's ``geography:`` section), checked."""
    path = Path(path)
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise RegistryError("GEOGRAPHY_INVALID", f"cannot read {path}: {e.strerror}") from None
    except yaml.YAMLError:
        raise RegistryError("GEOGRAPHY_INVALID", f"{path.name} is not valid YAML") from None
    try:
        return parse_geography(data)
    except RegistryError as e:
        raise RegistryError("GEOGRAPHY_INVALID", f"{path.name}: {e.message}", field=e.context.get("field")) from None


def load_network(root: Path) -> Network:
    """Read and validate ``<root>/coordinator/registry.yaml``."""
    paths = NetworkPaths(Path(root))
    path = paths.registry
    if not path.exists():
        raise RegistryError("REGISTRY_MISSING", f"no registry at {path}", hint="create one with `dvnet network init`")
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        line = getattr(getattr(e, "problem_mark", None), "line", None)
        raise RegistryError("REGISTRY_INVALID", f"{path.name} is not valid YAML" + (f" (line {line + 1})" if line is not None else "")) from None
    network = Network.from_dict(data)
    _check_modes(paths.audit_log, lambda: coordinator_actor(paths.root, network), paths.coordinator, paths.warehouse.parent)
    return network


def check_registry(network: Network) -> None:
    """Refuse, as loading it would, a registry that would not load: before a change is logged."""
    Network.from_dict(network.to_dict())


def save_network(root: Path, network: Network) -> None:
    check_registry(network)  # never write a registry that would not load
    atomic_write(NetworkPaths(Path(root)).registry, _dump(network.to_dict()))


def coordinator_key(root: Path):
    """The coordinator's own signing key (on the coordinator's machine): it signs receipts and the
    head of the coordinator's audit log."""
    return keys.load_signing_key(NetworkPaths(Path(root)).keys / "signing.key")


def coordinator_actor(root: Path, network: Network) -> KeySigner:
    """The coordinator's software acting for the network (ingest runs, releases): ``coordinator:<id>``."""
    return KeySigner(f"coordinator:{network.coordinator.id}", coordinator_key(root))


def agency_actor(agency: AgencyConfig) -> KeySigner:
    """The agency's software acting for it (``agency:<id>``), signing with the agency's key."""
    return KeySigner(f"agency:{agency.agency_id}", keys.load_signing_key(agency.signing_key_path))


def _check_modes(audit_log: Path, keeper: Callable[[], KeySigner], *folders: Path) -> None:
    """Data folders (and their direct entries) found open to group or others are made owner-only,
    with a warning and an entry in the owner's audit log, signed by ``keeper`` (see
    ``common.files``: fixed, not refused)."""
    fixed = check_private(*folders)
    if fixed:
        actor = keeper()
        audit.append(audit_log, "file_mode_fixed", actor=actor, head_key=actor.key, outcome="fixed", paths=[str(p) for p in fixed])


def _audit(root: Path, action: str, actor: Signer, **kw) -> None:
    """The coordinator's line for a registry change, written before the change is saved (a kill in
    between leaves a logged attempt, never a change nobody logged)."""
    audit.append(NetworkPaths(Path(root)).audit_log, action, actor=actor, head_key=coordinator_key(root), **kw)


def init_network(root: Path, name: str, founder: dict, founder_key, *, geography: Geography, coordinator_id: str = "coordinator",
                 coordinator_name: str | None = None, now: dt.datetime | None = None) -> Network:  # fmt: skip
    """Create a network folder: the coordinator's own key pairs (0600), its public file, and a
    registry declaring the network's ``geography`` whose first person is ``founder`` (a verified
    person file) as coordinator.

    Nothing else: agencies make their keys on their own machines (``dvnet agency init``) and the
    network linkage key is made by the custodian (``dvnet custodian init``). ``founder_key`` (the
    founder's own signing key) must match their file; the founding entry of the audit log is
    signed with it."""
    paths = NetworkPaths(Path(root))
    if paths.registry.exists():
        raise RegistryError("NETWORK_EXISTS", f"a network already exists at {paths.root}", hint="choose another folder")
    if keys.key_id(founder_key.public_key()) != founder["signing_key_id"]:
        raise AccessError("KEY_MISMATCH", f"the key given is not the one in {founder['id']}'s person file")
    founder_person = Person(id=founder["id"], name=founder["name"], org=founder["org"], roles=["coordinator"], signing_key_id=founder["signing_key_id"],
                            signing_public_key=founder["signing_public_key"], encryption_key_id=founder["encryption_key_id"],
                            encryption_public_key=founder["encryption_public_key"])  # fmt: skip
    enc, sig = keys.generate_encryption_key(), keys.generate_signing_key()
    coordinator = Coordinator(
        id=coordinator_id,
        name=coordinator_name or f"{name} coordinator",
        **public_key_fields("encryption", enc.public_key()),
        **public_key_fields("signing", sig.public_key()),
    )
    network = Network(name=name, coordinator=coordinator, geography=geography, people=[founder_person])
    Network.from_dict(network.to_dict())  # a name the registry refuses leaves no folder behind
    private_folder(paths.coordinator)
    for d in COORDINATOR_DIRS:
        private_folder(paths.coordinator / d)
    private_folder(paths.warehouse.parent)
    private_folder(paths.keys)
    keys.write_private_key(paths.keys / "encryption.key", enc)
    keys.write_private_key(paths.keys / "signing.key", sig)
    save_network(paths.root, network)
    write_coordinator_public(paths.root, network, now=now)
    _audit(paths.root, "network.init", KeySigner(founder_person.id, founder_key), outcome=audit.GRANTED,
           objects={"network": name, "person": founder_person.id}, now=now, encryption_key_id=coordinator.encryption_key_id,
           signing_key_id=coordinator.signing_key_id)  # fmt: skip
    return network


def write_coordinator_public(root: Path, network: Network, *, now: dt.datetime | None = None) -> Path:
    """The coordinator's public file, for every agency to pin (``dvnet agency pin-coordinator``):
    its public keys, the network's geography and its organisation ids (the Tier 1 directory's ids:
    public). Rewritten when an organisation registers, so an agency that pins it again knows it."""
    c = network.coordinator
    body = {
        "format": COORDINATOR_FORMAT,
        "network": network.name,
        "id": c.id,
        "name": c.name,
        "encryption_key_id": c.encryption_key_id,
        "encryption_public_key": c.encryption_public_key,
        "key_epoch": c.key_epoch,
        # The contributor generalises postal codes to the network's regions before anything leaves.
        "geography": network.geography.to_dict(),
        # Organisation-code fields (receiving_org, ...) hold one of these, checked before anything leaves.
        "organisations": sorted(o.id for o in network.organisations),
        "created_at": (now or dt.datetime.now(dt.UTC)).replace(microsecond=0).isoformat(),
        "signing_key_id": c.signing_key_id,
        "signing_public_key": c.signing_public_key,
    }
    path = NetworkPaths(Path(root)).coordinator_public
    write_public(path, body, coordinator_key(root))
    return path


def register_agency(root: Path, registration: dict, actor: Signer, *, now: dt.datetime | None = None) -> Organisation:
    """Register an agency from its verified public registration file: public keys only; its region
    must be one of the network's."""
    paths = NetworkPaths(Path(root))
    network = load_network(paths.root)
    agency_id = registration["agency_id"]
    if network.organisation(agency_id):
        raise RegistryError("AGENCY_EXISTS", f"organisation '{agency_id}' is already registered")
    if registration["network"] not in (None, network.name):
        raise RegistryError("REGISTRATION_WRONG_NETWORK", f"the registration of '{agency_id}' names another network",
                            hint="the agency runs `dvnet agency init` again with this network's name, or without --network-name")  # fmt: skip
    used = {o.signing_key_id for o in network.organisations} | {o.encryption_key_id for o in network.organisations}
    if used & {registration["signing_key_id"], registration["encryption_key_id"]}:
        raise RegistryError("KEY_REUSED", f"the registration of '{agency_id}' reuses another organisation's key")
    org = organisation_from_registration(registration, network.geography.region_ids)
    org.joined = (now or dt.datetime.now(dt.UTC)).date().isoformat()
    network.organisations.append(org)
    check_registry(network)
    _audit(paths.root, "agency_registered", actor, objects={"agency": agency_id}, now=now, tier=org.tier,
           signing_key_id=org.signing_key_id, encryption_key_id=org.encryption_key_id)  # fmt: skip
    # What the registration brings with it before the registry itself, which is what makes it
    # done: a kill in between leaves the agency unregistered, and registering it again redoes all.
    # Its receipts folder exists from the start: its `dvnet receipts` finds it (empty until the
    # first ingest) instead of a drop that looks misconfigured.
    private_folder(paths.receipts / agency_id)
    write_coordinator_public(paths.root, network, now=now)
    maybe_crash("before_agency_saved")
    save_network(paths.root, network)
    return org


def organisation_from_registration(registration: dict, regions: tuple[str, ...] | None = None) -> Organisation:
    """The registry entry an agency's registration file describes (validated like the registry;
    its region against the network's ``regions`` when known)."""
    fields = ("name", "type", "tier", "region", "services", "eligibility", "contact", "signing_key_id", "signing_public_key",
              "encryption_key_id", "encryption_public_key")  # fmt: skip
    return parse_organisation({"id": registration["agency_id"], **{k: registration[k] for k in fields}}, "registration", regions)


def add_person(root: Path, person: dict, roles: list[str], actor: Signer, *, now: dt.datetime | None = None) -> Person:
    """Register a person (from their verified person file) with ``roles``, or add roles to one
    already registered with the same key."""
    paths = NetworkPaths(Path(root))
    network = load_network(paths.root)
    existing = network.person(person["id"])
    if existing is not None and existing.signing_key_id != person["signing_key_id"]:
        raise RegistryError("PERSON_EXISTS", f"person '{person['id']}' is registered with another key")
    if existing is None:
        existing = Person(id=person["id"], name=person["name"], org=person["org"], roles=[], signing_key_id=person["signing_key_id"],
                          signing_public_key=person["signing_public_key"], encryption_key_id=person["encryption_key_id"],
                          encryption_public_key=person["encryption_public_key"])  # fmt: skip
        network.people.append(existing)
    added = [r for r in roles if r not in existing.roles]
    existing.roles = [*existing.roles, *added]
    check_registry(network)  # role names, exclusive roles, a steward's agency: before the line
    _audit(paths.root, "person_added", actor, objects={"person": existing.id}, now=now, roles=added, signing_key_id=existing.signing_key_id)
    save_network(paths.root, network)
    return existing


def load_agency(folder: Path, *, pinned: bool = True) -> AgencyConfig:
    """Read ``<folder>/agency.yaml`` with clear errors. ``pinned``: the coordinator's keys must be
    pinned already (everything but the key ceremony's own steps needs them)."""
    folder = Path(folder)
    path = folder / "agency.yaml"
    if not path.exists():
        raise RegistryError("AGENCY_CONFIG_MISSING", f"no agency.yaml in {folder}", hint="create the agency with `dvnet agency init`")
    data = load_yaml(path.read_text(encoding="utf-8")) or {}
    required = ("agency_id", "name", "network", "tier", "type", "region", "coordinator")
    for key in required:
        if key not in data:
            raise RegistryError("AGENCY_CONFIG_INVALID", f"agency.yaml: {key} is required", field=key)
    if pinned and not data["coordinator"]:
        raise RegistryError("COORDINATOR_NOT_PINNED", f"{data['agency_id']} has not pinned the coordinator's keys yet",
                            hint="import the coordinator's public file with `dvnet agency pin-coordinator`")  # fmt: skip
    for key in ("encryption_key_id", "encryption_public_key"):
        if data["coordinator"] and key not in data["coordinator"]:
            raise RegistryError("AGENCY_CONFIG_INVALID", f"agency.yaml: coordinator.{key} is required", field=f"coordinator.{key}")
    geography = None
    if data.get("geography") is not None:
        try:
            geography = parse_geography(data["geography"])
        except RegistryError as e:
            raise RegistryError("AGENCY_CONFIG_INVALID", f"agency.yaml: {e.message}", field=e.context.get("field")) from None
    agency = AgencyConfig(folder=folder, policy=data.get("policy") or {}, drop=data.get("drop") or {}, geography=geography,
                          organisations=organisation_ids(data.get("organisations"), "agency.yaml: organisations", "AGENCY_CONFIG_INVALID"),
                          **{k: data[k] for k in required})  # fmt: skip
    _check_modes(agency.audit_log, lambda: agency_actor(agency), folder)
    return agency


def organisation_ids(value: Any, where: str, reason: str) -> tuple[str, ...] | None:
    """A list of registry ids (``organisations`` of the coordinator's public file), checked."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and ORG_ID.fullmatch(v) for v in value):
        raise RegistryError(reason, f"{where} is a list of registry ids", field="organisations")
    return tuple(value)


def agency_geography(agency: AgencyConfig) -> Geography:
    """The network's geography as this agency holds it; a configuration error when it holds none."""
    if agency.geography is None:
        raise RegistryError(
            "AGENCY_CONFIG_INVALID", "agency.yaml: geography is required (the network's regions and postal prefixes)", field="geography",
            hint="pin the coordinator's public file (it carries the geography) with `dvnet agency pin-coordinator`",
        )
    return agency.geography


def set_status(root: Path, subject_id: str, status: str, actor: Signer, *, now: dt.datetime | None = None) -> None:
    """Suspend or reinstate an organisation (its bundles are quarantined while suspended) or a
    person (every command they run is refused while suspended)."""
    network = load_network(root)
    subject = network.organisation(subject_id) or network.person(subject_id)
    if subject is None:
        raise RegistryError("AGENCY_UNKNOWN", f"no organisation or person '{subject_id}' in the registry")
    coordinators = [p for p in network.people if "coordinator" in p.roles and p.active]
    if status != "active" and coordinators == [subject]:
        raise RegistryError("LAST_COORDINATOR", f"{subject_id} is the network's only active coordinator", hint="register another coordinator first")
    subject.status = status
    check_registry(network)
    kind = "agency" if network.organisation(subject_id) else "person"
    _audit(root, f"{kind}_status", actor, objects={kind: subject_id}, now=now, status=status)
    save_network(root, network)
