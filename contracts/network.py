"""The network registry model: organisations, people and their roles, the coordinator's keys and
the network's geography (regions, their parent areas, postal prefixes). Data-sharing agreements are
kept apart, versioned: ``contracts.agreements``.

Stored as ``registry.yaml`` in the coordinator's network folder (YAML I/O lives in
``dvnet.common.network``; this module only validates plain dicts). Every validation error names the
offending field by its path, e.g. ``organisations[3].tier``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from dvnet.contracts.codes import ORG_TYPES
from dvnet.contracts.errors import RegistryError
from dvnet.contracts.geography import AREA_ID_PATTERN, PREFIX_PATTERN, UNKNOWN, Geography, Region
from dvnet.contracts.policy import AGENCY_ROLES, ROLES, roles_conflict
from dvnet.contracts.tiers import TIERS

ORG_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,40}$")
MAX_TEXT = 500
KEY_ID = re.compile(r"^[0-9a-f]{16}$")
STATUSES = ("active", "suspended")
SCHEMA_VERSION = 1


@dataclass
class Contact:
    phone: str = ""
    email: str = ""
    website: str = ""
    intake_hours: str = ""


@dataclass
class Organisation:
    id: str
    name: str
    type: str
    tier: int
    region: str
    services: list[str] = field(default_factory=list)
    eligibility: str = ""
    contact: Contact = field(default_factory=Contact)
    status: str = "active"
    signing_key_id: str | None = None
    signing_public_key: str | None = None  # base64 raw Ed25519 public key
    joined: str | None = None
    # The agency's own X25519 key: the custodian wraps the network linkage key to it (Tier 4).
    encryption_key_id: str | None = None
    encryption_public_key: str | None = None

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass
class Person:
    """Someone who acts in the network, with the roles the coordinator registered and the public
    half of the signing key they made on their own machine (``dvnet person init``)."""

    id: str
    name: str
    org: str
    roles: list[str]
    signing_key_id: str
    signing_public_key: str  # base64 raw Ed25519 public key
    status: str = "active"
    # Their X25519 key: a researcher's extracts are sealed to it.
    encryption_key_id: str | None = None
    encryption_public_key: str | None = None

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass
class Coordinator:
    id: str
    name: str
    encryption_key_id: str
    encryption_public_key: str  # base64 raw X25519: bundles are sealed to it
    signing_key_id: str
    signing_public_key: str  # base64 raw Ed25519: receipts are signed with it
    key_epoch: int = 1


#: The reporting window's default depth: a bundle's quarter more than this many years before the
#: current one is a typing error (PERIOD_OUT_OF_WINDOW); ``reporting_window_years`` in the registry.
REPORTING_WINDOW_YEARS = 10
MAX_REPORTING_WINDOW_YEARS = 100


@dataclass
class Network:
    name: str
    coordinator: Coordinator
    geography: Geography
    organisations: list[Organisation] = field(default_factory=list)
    people: list[Person] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION
    reporting_window_years: int = REPORTING_WINDOW_YEARS

    def organisation(self, org_id: str) -> Organisation | None:
        return next((o for o in self.organisations if o.id == org_id), None)

    def person(self, person_id: str) -> Person | None:
        return next((p for p in self.people if p.id == person_id), None)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["geography"] = self.geography.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Any) -> Network:
        return _parse_network(data)


# Validation ------------------------------------------------------------------------------------


def _fail(path: str, problem: str) -> RegistryError:
    return RegistryError("REGISTRY_INVALID", f"{path}: {problem}", field=path)


def _mapping(data: Any, path: str, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict:
    if not isinstance(data, dict):
        raise _fail(path or "(top level)", "must be a mapping")
    for key in required:
        if key not in data:
            raise _fail(f"{path}.{key}".lstrip("."), "is required")
    unknown = sorted(set(data) - set(required) - set(optional))
    if unknown:
        raise _fail(f"{path}.{unknown[0]}".lstrip("."), "is not a known field")
    return data


def _str(data: dict, key: str, path: str, *, pattern: re.Pattern | None = None, choices=None, empty=False) -> str:
    value = data.get(key, "")
    where = f"{path}.{key}".lstrip(".")
    if value is None and empty:
        return ""
    if not isinstance(value, str) or (not value and not empty):
        raise _fail(where, "must be a non-empty string" if not empty else "must be a string")
    _plain_text(value, where)
    if pattern is not None and value and not pattern.match(value):
        raise _fail(where, f"does not match the pattern {pattern.pattern}")
    if choices is not None and value not in choices:
        raise _fail(where, f"must be one of {', '.join(map(str, choices))}")
    return value


def _str_list(data: dict, key: str, path: str) -> list[str]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(f"{path}.{key}".lstrip("."), "must be a list of strings")
    for i, v in enumerate(value):
        _plain_text(v, f"{path}.{key}[{i}]".lstrip("."))
    return value


def registry_text(value: str, where: str) -> str:
    """A name the registry will hold (a network's, a person's), checked as the registry checks it
    before anything is made with it."""
    return _str({where: value}, where, "")


def _plain_text(value: str, where: str) -> None:
    """Registry text is one line, printable and of a sane length: it is printed on terminals and
    published in the directory (a control character could rewrite a steward's terminal)."""
    if len(value) > MAX_TEXT:
        raise _fail(where, f"is longer than {MAX_TEXT} characters")
    if any(ch < " " or "\x7f" <= ch <= "\x9f" for ch in value):
        raise _fail(where, "must be one line of text without control characters")


def _date(data: dict, key: str, path: str) -> str:
    value = data.get(key)
    if isinstance(value, dt.date):
        value = value.isoformat()
    text = str(value)
    try:
        if len(text) != 10:
            raise ValueError
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise _fail(f"{path}.{key}", "must be a date (YYYY-MM-DD)") from None


_AREA_ID = re.compile(AREA_ID_PATTERN)
_PREFIX = re.compile(PREFIX_PATTERN)


def parse_geography(data: Any, path: str = "geography") -> Geography:
    """A geography section, checked: unique region ids, a parent area each, postal prefixes in
    the contracts' form and each owned by one region. Errors name the field by its path."""
    d = _mapping(data, path, ("regions",))
    if not isinstance(d["regions"], list) or not d["regions"]:
        raise _fail(f"{path}.regions", "must be a non-empty list")
    regions: list[Region] = []
    owner: dict[str, str] = {}
    for i, item in enumerate(d["regions"]):
        rp = f"{path}.regions[{i}]"
        r = _mapping(item, rp, ("id", "parent_area", "postal_prefixes"), ("name",))
        region_id = _str(r, "id", rp, pattern=_AREA_ID)
        if region_id == UNKNOWN:
            raise _fail(f"{rp}.id", f"'{UNKNOWN}' is kept for records whose region is not known")
        if any(region_id == other.id for other in regions):
            raise _fail(f"{rp}.id", "is used by another region")
        prefixes = _str_list(r, "postal_prefixes", rp)
        for j, prefix in enumerate(prefixes):
            if not _PREFIX.match(prefix):
                raise _fail(f"{rp}.postal_prefixes[{j}]", "must be a postal-code prefix like S1A (letter, digit, letter)")
            if prefix in owner:
                raise _fail(f"{rp}.postal_prefixes[{j}]", f"is already the prefix of region {owner[prefix]}")
            owner[prefix] = region_id
        regions.append(Region(id=region_id, parent_area=_str(r, "parent_area", rp, pattern=_AREA_ID), postal_prefixes=tuple(prefixes),
                              name=_str(r, "name", rp, empty=True) if "name" in r else ""))  # fmt: skip
    return Geography(tuple(regions))


def parse_organisation(data: Any, path: str, regions: tuple[str, ...] | None = None) -> Organisation:
    """One organisation from a plain dict (a registry entry or a registration file), field paths under
    ``path``. ``regions``: the network's (its geography); without them (an agency's own registration,
    made before it knows the network) the region only has to look like a region id."""
    d = _mapping(
        data,
        path,
        ("id", "name", "type", "tier", "region"),
        ("services", "eligibility", "contact", "status", "signing_key_id", "signing_public_key", "joined",
         "encryption_key_id", "encryption_public_key"),
    )  # fmt: skip
    tier = d["tier"]
    if not isinstance(tier, int) or isinstance(tier, bool) or tier not in TIERS:
        raise _fail(f"{path}.tier", "must be an integer from 1 to 4")
    contact = _mapping(d.get("contact") or {}, f"{path}.contact", (), ("phone", "email", "website", "intake_hours"))
    for key, value in contact.items():
        _plain_text(str(value), f"{path}.contact.{key}")
    key_id = d.get("signing_key_id")
    if key_id is not None and not (isinstance(key_id, str) and KEY_ID.match(key_id)):
        raise _fail(f"{path}.signing_key_id", "must be 16 lowercase hex characters")
    if tier >= 2 and not key_id:
        raise _fail(f"{path}.signing_key_id", "is required for tier 2 and above (the agency signs its bundles)")
    encryption_key_id = d.get("encryption_key_id")
    if encryption_key_id is not None and not (isinstance(encryption_key_id, str) and KEY_ID.match(encryption_key_id)):
        raise _fail(f"{path}.encryption_key_id", "must be 16 lowercase hex characters")
    return Organisation(
        id=_str(d, "id", path, pattern=ORG_ID),
        name=_str(d, "name", path),
        type=_str(d, "type", path, choices=ORG_TYPES),
        tier=tier,
        region=_str(d, "region", path, pattern=_AREA_ID, choices=regions),
        services=_str_list(d, "services", path),
        eligibility=_str(d, "eligibility", path, empty=True),
        contact=Contact(**{k: str(v) for k, v in contact.items()}),
        status=_str(d, "status", path, choices=STATUSES) if "status" in d else "active",
        signing_key_id=key_id,
        signing_public_key=d.get("signing_public_key"),
        joined=_date(d, "joined", path) if d.get("joined") else None,
        encryption_key_id=encryption_key_id,
        encryption_public_key=d.get("encryption_public_key"),
    )


def _parse_person(data: Any, path: str, org_ids: set[str]) -> Person:
    d = _mapping(data, path, ("id", "name", "org", "roles", "signing_key_id", "signing_public_key"),
                 ("status", "encryption_key_id", "encryption_public_key"))  # fmt: skip
    roles = _str_list(d, "roles", path)
    if not roles:
        raise _fail(f"{path}.roles", "must name at least one role")
    for i, role in enumerate(roles):
        if role not in ROLES:
            raise _fail(f"{path}.roles[{i}]", f"must be one of {', '.join(ROLES)}")
    clash = roles_conflict(set(roles))
    if clash:
        raise _fail(f"{path}.roles", f"one person may not be both {' and '.join(sorted(clash))}")
    person = Person(
        id=_str(d, "id", path, pattern=ORG_ID),
        name=_str(d, "name", path),
        org=_str(d, "org", path),
        roles=roles,
        signing_key_id=_str(d, "signing_key_id", path, pattern=KEY_ID),
        signing_public_key=_str(d, "signing_public_key", path),
        status=_str(d, "status", path, choices=STATUSES) if "status" in d else "active",
        encryption_key_id=_str(d, "encryption_key_id", path, pattern=KEY_ID) if d.get("encryption_key_id") else None,
        encryption_public_key=d.get("encryption_public_key"),
    )
    if AGENCY_ROLES & set(roles) and person.org not in org_ids:
        raise _fail(f"{path}.org", f"a {'/'.join(sorted(AGENCY_ROLES & set(roles)))} acts for one agency: must be a registered organisation")
    return person


def _one_holder_per_key(people: list[Person]) -> None:
    """Each key belongs to one person: a key registered under two names would let one holder sign
    both sides of a two-person step (a release's two reviewers) or hold roles no one person may
    hold together (``EXCLUSIVE_ROLES``) under two ids."""
    for attr in ("signing_key_id", "encryption_key_id"):
        holder: dict[str, str] = {}
        for i, p in enumerate(people):
            key_id = getattr(p, attr)
            if key_id is not None and holder.setdefault(key_id, p.id) != p.id:
                raise _fail(f"people[{i}].{attr}", f"is the key of {holder[key_id]}: one key belongs to one person")


def _epoch(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise _fail("coordinator.key_epoch", "must be a whole number of at least 1")
    return value


def _parse_network(data: Any) -> Network:
    d = _mapping(data, "", ("name", "coordinator", "geography"), ("organisations", "people", "schema_version", "reporting_window_years"))
    if d.get("schema_version", SCHEMA_VERSION) != SCHEMA_VERSION:
        raise _fail("schema_version", f"must be {SCHEMA_VERSION}")
    c = _mapping(
        d["coordinator"],
        "coordinator",
        ("id", "name", "encryption_key_id", "encryption_public_key", "signing_key_id", "signing_public_key"),
        ("key_epoch",),
    )
    coordinator = Coordinator(
        id=_str(c, "id", "coordinator", pattern=ORG_ID),
        name=_str(c, "name", "coordinator"),
        encryption_key_id=_str(c, "encryption_key_id", "coordinator", pattern=KEY_ID),
        encryption_public_key=_str(c, "encryption_public_key", "coordinator"),
        signing_key_id=_str(c, "signing_key_id", "coordinator", pattern=KEY_ID),
        signing_public_key=_str(c, "signing_public_key", "coordinator"),
        key_epoch=_epoch(c.get("key_epoch", 1)),
    )
    if not isinstance(d.get("organisations") or [], list):
        raise _fail("organisations", "must be a list")
    if not isinstance(d.get("people") or [], list):
        raise _fail("people", "must be a list")
    geography = parse_geography(d["geography"])
    orgs = [parse_organisation(o, f"organisations[{i}]", geography.region_ids) for i, o in enumerate(d.get("organisations") or [])]
    seen: set[str] = set()
    for i, o in enumerate(orgs):
        if o.id in seen:
            raise _fail(f"organisations[{i}].id", "is used by another organisation")
        seen.add(o.id)
    people = [_parse_person(p, f"people[{i}]", seen) for i, p in enumerate(d.get("people") or [])]
    person_ids: set[str] = set()
    for i, p in enumerate(people):
        if p.id in person_ids:
            raise _fail(f"people[{i}].id", "is used by another person")
        person_ids.add(p.id)
    _one_holder_per_key(people)
    window = d.get("reporting_window_years", REPORTING_WINDOW_YEARS)
    if not isinstance(window, int) or isinstance(window, bool) or not 1 <= window <= MAX_REPORTING_WINDOW_YEARS:
        raise _fail("reporting_window_years", f"must be a whole number of years from 1 to {MAX_REPORTING_WINDOW_YEARS}")
    return Network(name=_str(d, "name", ""), coordinator=coordinator, geography=geography, organisations=orgs, people=people,
                   reporting_window_years=window)  # fmt: skip
