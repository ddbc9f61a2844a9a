"""The custodian: makes and keeps the network linkage key, and seals it to each Tier 4 agency.

The custodian is a person who is never the coordinator (``contracts.policy.EXCLUSIVE_ROLES``):
whoever holds both every linkage token (the coordinator's warehouse) and the key they were made
under could reverse them by hashing candidate names and birth dates. The key never leaves the
custodian's folder except sealed to one agency's own HPKE key (``bundle/wrap.py``); the
coordinator may carry that file, which it can neither open nor forge.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from pathlib import Path

from dvnet.bundle import keys
from dvnet.bundle.wrap import linkage_key_id, wrap_secret
from dvnet.common import audit
from dvnet.common.audit import KeySigner
from dvnet.common.files import atomic_write, private_folder
from dvnet.common.public_files import public_key_fields, read_public, write_public
from dvnet.contracts.errors import RegistryError

CUSTODIAN_FORMAT = "dvnet-custodian/1"
CUSTODIAN_FIELDS = ("linkage_key_id", "created_at")
ACTOR = "custodian"


@dataclass(frozen=True)
class CustodianFolder:
    folder: Path

    @property
    def signing_key(self) -> Path:
        return self.folder / "keys" / "signing.key"

    @property
    def linkage_key(self) -> Path:
        return self.folder / "keys" / "network-linkage.key"

    @property
    def public_file(self) -> Path:
        return self.folder / "custodian-public.yaml"

    @property
    def audit_log(self) -> Path:
        return self.folder / "audit.log"


def _audit(cf: CustodianFolder, action: str, **kw) -> None:
    key = keys.load_signing_key(cf.signing_key)
    audit.append(cf.audit_log, action, actor=KeySigner(ACTOR, key), head_key=key, **kw)


def _off_the_coordinator(folder: Path) -> None:
    """Refuse a custodian folder inside a network's coordinator folder (the one holding
    ``registry.yaml`` and the coordinator's ``keys/``): there the coordinator would hold the linkage
    key beside every token made under it. (Another machine cannot be seen from here; this folder can.)"""
    for place in (folder.resolve(), *folder.resolve().parents):
        if (place / "registry.yaml").is_file() and (place / "keys").is_dir():
            raise RegistryError("CUSTODIAN_ON_COORDINATOR", f"{folder} is inside the coordinator's folder {place}: the linkage key never is",
                                hint="the custodian keeps the folder on their own machine, away from the network's folder")  # fmt: skip


def init_custodian(folder: Path, *, now: dt.datetime | None = None) -> CustodianFolder:
    """Make the custodian's folder (0700): the network linkage key and a signing key (0600), and the
    public file agencies check wrapped keys against (signing key, linkage key id). Never inside the
    coordinator's folder."""
    _off_the_coordinator(Path(folder))
    cf = CustodianFolder(Path(folder))
    if cf.linkage_key.exists() or cf.public_file.exists():
        raise RegistryError("CUSTODIAN_EXISTS", f"a custodian folder already exists at {cf.folder}", hint="choose another folder")
    private_folder(cf.folder)
    private_folder(cf.folder / "keys")
    signing, linkage = keys.generate_signing_key(), secrets.token_bytes(keys.SECRET_SIZE)
    keys.write_private_key(cf.signing_key, signing)
    keys.write_secret(cf.linkage_key, linkage)
    body = {
        "format": CUSTODIAN_FORMAT,
        "linkage_key_id": linkage_key_id(linkage),
        "created_at": (now or dt.datetime.now(dt.UTC)).replace(microsecond=0).isoformat(),
        **public_key_fields("signing", signing.public_key()),
    }
    write_public(cf.public_file, body, signing)
    _audit(cf, "custodian.init", now=now, objects={"linkage_key": body["linkage_key_id"]}, signing_key_id=body["signing_key_id"])
    return cf


def read_custodian_public(path: Path) -> dict:
    return read_public(path, CUSTODIAN_FORMAT, CUSTODIAN_FIELDS)


def wrap_for(folder: Path, registration: dict, out: Path, *, now: dt.datetime | None = None) -> Path:
    """Seal the linkage key to the Tier 4 agency whose verified registration is ``registration``,
    bound to its id and key id; write the file to ``out`` (for the coordinator to relay)."""
    _off_the_coordinator(Path(folder))
    cf = CustodianFolder(Path(folder))
    if not cf.public_file.exists():
        raise RegistryError("CUSTODIAN_MISSING", f"no custodian folder at {cf.folder}", hint="the custodian made it with `dvnet custodian init`")
    if registration["tier"] != 4:
        raise RegistryError("WRAP_NOT_TIER_4", f"{registration['agency_id']} registered at tier {registration['tier']}: only Tier 4 agencies receive the linkage key")
    now = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    blob = wrap_secret(
        keys.read_secret(cf.linkage_key),
        agency_id=registration["agency_id"],
        recipient_public_key=keys.encryption_public_key_from_text(registration["encryption_public_key"]),
        custodian_key=keys.load_signing_key(cf.signing_key),
        now=now,
    )
    atomic_write(Path(out), blob, mode=0o600)
    _audit(cf, "custodian.wrap", now=now, objects={"agency": registration["agency_id"]}, recipient_key_id=registration["encryption_key_id"])
    return Path(out)
