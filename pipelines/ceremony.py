"""The key ceremony on one machine, each party in its own folder: what `make demo` and the tests run.

The same steps as the commands a real network runs on separate machines (README), in order::

    dvnet person init people/<founder> …              the founding coordinator's own key
    dvnet network init --network <net> --geography <regions.yaml> --founder people/<founder>/person.yaml
    dvnet person init people/<custodian> …; dvnet network add-person --network <net> … --role custodian
    dvnet custodian init custodian/                    the network linkage key, never the coordinator's
    dvnet agency init agencies/<id> …                  each agency's own keys
    dvnet network register-agency --network <net> agencies/<id>/registration.yaml --as <founder>
    dvnet agency pin-coordinator agencies/<id> <net>/coordinator/coordinator-public.yaml   (keys, geography, organisation ids;
                                                       every agency pins the file again when another registers)
    dvnet drop set --agency agencies/<id> --inbox … --receipts … [--sftp …]   where bundles go (the demo: a shared folder)
    dvnet custodian wrap custodian/ agencies/<id>/registration.yaml --out <net>/coordinator/relay/<id>.linkage   (Tier 4)
    dvnet agency import-linkage agencies/<id> <net>/coordinator/relay/<id>.linkage --custodian custodian/custodian-public.yaml

Only public files and the sealed linkage key cross from one folder to another. ``records`` lists
who made which key and where it lives, for the demo to print.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dvnet.common import network as store
from dvnet.common.agency import import_linkage, init_agency, pin_coordinator, read_registration
from dvnet.common.authority import Actor, authorise
from dvnet.common.custodian import CustodianFolder, init_custodian, wrap_for
from dvnet.common.network import AgencyConfig, NetworkPaths
from dvnet.common.people import PersonFolder, init_person, read_person_file
from dvnet.bundle import key_id, load_signing_key
from dvnet.bundle.keys import SECRET_PREFIX, load_private_key_file
from dvnet.contracts.errors import DvnetError
from dvnet.contracts.geography import Geography

FOUNDER = ("coord-ana", "Ana Coordinator (fictional)", "coalition office")
CUSTODIAN = ("eli-custodian", "Eli Custodian (fictional)", "regional ethics board")


@dataclass(frozen=True)
class KeyRecord:
    """One line of the ceremony's printout: whose key, which, made by which command, where it lives."""

    party: str
    kind: str  # person, coordinator, custodian, agency, Tier 4 agency
    key: str
    made_by: str
    lives_in: Path


@dataclass
class Ceremony:
    root: Path
    founder: str
    people: dict[str, PersonFolder] = field(default_factory=dict)
    custodian: CustodianFolder | None = None
    records: list[KeyRecord] = field(default_factory=list)

    @property
    def paths(self) -> NetworkPaths:
        return NetworkPaths(self.root)

    @property
    def registry(self):
        """The coordinator's registry as it stands."""
        return store.load_network(self.root)

    @property
    def organisations(self) -> list:
        """The registered organisations."""
        return self.registry.organisations

    @classmethod
    def found(cls, root: Path, name: str, founder: tuple[str, str, str] = FOUNDER, custodian: tuple[str, str, str] | None = CUSTODIAN,
              geography: Geography | None = None) -> Ceremony:  # fmt: skip
        """A new network founded by ``founder`` (id, name, organisation), with a custodian when given,
        declaring ``geography`` (default: the demo's eight made-up regions)."""
        if geography is None:
            from dvnet.pipelines.demo_network import demo_geography  # demo_network runs this ceremony: imported here, not at the top

            geography = demo_geography()
        root = Path(root)
        person_id, person_name, org = founder
        folder = init_person(root / "people" / person_id, person_id, person_name, org)
        store.init_network(root, name, read_person_file(folder.public_file), load_signing_key(folder.key), geography=geography)
        c = cls(root, person_id, {person_id: folder})
        c._note(person_id, "person", "signing (Ed25519)", "dvnet person init", folder.key)
        c._note("coordinator", "coordinator", "encryption (X25519) + signing (Ed25519)", "dvnet network init", c.paths.keys)
        if custodian:
            c.add_custodian(*custodian)
        return c

    def _note(self, party: str, kind: str, key: str, made_by: str, lives_in: Path) -> None:
        self.records.append(KeyRecord(party, kind, key, made_by, lives_in))

    def as_person(self, person_id: str, action: str) -> Actor:
        """``person_id`` granted ``action`` with their own key (audited)."""
        return authorise(self.root, person_id, self.people[person_id].key, action)

    def add_person(self, person_id: str, name: str, org: str, roles: list[str]) -> PersonFolder:
        """A person makes their key in their own folder; the founding coordinator registers them."""
        folder = init_person(self.root / "people" / person_id, person_id, name, org)
        store.add_person(self.root, read_person_file(folder.public_file), roles, self.as_person(self.founder, "network.add-person"))
        self.people[person_id] = folder
        self._note(person_id, "person", "signing (Ed25519)", "dvnet person init", folder.key)
        return folder

    def add_custodian(self, person_id: str, name: str, org: str) -> CustodianFolder:
        self.add_person(person_id, name, org, ["custodian"])
        self.custodian = init_custodian(self.root / "custodian")
        self._note("custodian", "custodian", "network linkage key + signing (Ed25519)", "dvnet custodian init", self.custodian.folder / "keys")
        return self.custodian

    def _share_public_file(self, but: Path) -> None:
        """The coordinator's public file, rewritten by a registration, reaches every agency, which
        pins it again (same keys): their contributors then know the new organisation's id."""
        for other in sorted(self.paths.agencies.iterdir()) if self.paths.agencies.exists() else ():
            if other != but and (other / "agency.yaml").exists():
                pin_coordinator(other, self.paths.coordinator_public)

    def add_agency(self, agency_id: str, name: str, type: str, tier: int, region: str, *, steward: bool = False, **details) -> AgencyConfig:
        """The agency makes its keys in its own folder; the coordinator registers its public file and
        the agency pins the coordinator's; at Tier 4 the custodian's sealed linkage key is relayed."""
        folder = self.paths.agencies / agency_id
        agency = init_agency(folder, agency_id=agency_id, name=name, type=type, tier=tier, region=region, **details)
        registration = read_registration(agency.registration_path)
        store.register_agency(self.root, registration, self.as_person(self.founder, "network.register-agency"))
        agency = pin_coordinator(folder, self.paths.coordinator_public)
        self._share_public_file(but=folder)
        self._note(agency_id, "agency", "signing (Ed25519), pseudonym (HMAC), HPKE (X25519)", "dvnet agency init", folder / "keys")
        if tier >= 4 and self.custodian is not None:
            relayed = self.paths.coordinator / "relay" / f"{agency_id}.linkage"
            wrap_for(self.custodian.folder, registration, relayed)
            import_linkage(folder, relayed, self.custodian.public_file)
            self._note(agency_id, "Tier 4 agency", "network linkage key (the custodian's, sealed to the agency's own key, relayed by the coordinator as ciphertext)",
                       "dvnet custodian wrap → dvnet agency import-linkage", folder / "keys" / "linkage.key")  # fmt: skip
        if steward:
            self.add_person(f"steward-{agency_id}"[:41].rstrip("-"), f"Steward of {name} (fictional)", agency_id, ["steward"])
        return agency


def private_key_files(folder: Path) -> list[Path]:
    """Every file under ``folder`` that holds a private key or a secret, found by its content (a PEM
    private key, a dvnet secret), whatever its name."""
    found = []
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as f:
                start = f.read(64)
            if start.startswith(SECRET_PREFIX) or b"PRIVATE KEY-----" in start:
                found.append(path)
    return found


def foreign_key_files(root: Path) -> list[Path]:
    """The private key files in the coordinator's folder that are not the coordinator's own two keys."""
    c = store.load_network(root).coordinator
    own = {c.encryption_key_id, c.signing_key_id}
    foreign = []
    for path in private_key_files(NetworkPaths(Path(root)).coordinator):
        try:
            key = load_private_key_file(path)
        except DvnetError:
            key = None
        if key is None or key_id(key.public_key()) not in own:
            foreign.append(path)
    return foreign
