"""People: each makes their own signing key on their own machine and hands over a public file.

``<folder>/signing.key`` (Ed25519, 0600) and ``<folder>/encryption.key`` (X25519, 0600: a
researcher's extracts are sealed to it) stay with the person; ``<folder>/person.yaml`` (their id,
name, organisation and public key, signed by that key) goes to the coordinator, who registers it
with roles (``dvnet network add-person``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from dvnet.bundle import keys
from dvnet.common.files import private_folder
from dvnet.common.public_files import public_key_fields, read_public, write_public
from dvnet.contracts.errors import RegistryError
from dvnet.contracts.network import ORG_ID

PERSON_FORMAT = "dvnet-person/1"
PERSON_FIELDS = ("id", "name", "org", "created_at", "encryption_key_id", "encryption_public_key")
PERSON_FILE = "person.yaml"
KEY_FILE = "signing.key"
ENCRYPTION_KEY_FILE = "encryption.key"


@dataclass(frozen=True)
class PersonFolder:
    folder: Path

    @property
    def key(self) -> Path:
        return self.folder / KEY_FILE

    @property
    def encryption_key(self) -> Path:
        """X25519: research extracts are sealed to it (a researcher's), like bundles to the coordinator's."""
        return self.folder / ENCRYPTION_KEY_FILE

    @property
    def public_file(self) -> Path:
        return self.folder / PERSON_FILE


def init_person(folder: Path, person_id: str, name: str, org: str, *, now: dt.datetime | None = None) -> PersonFolder:
    """Make a person's folder (0700) with their signing and encryption keys (0600) and public person file."""
    if not ORG_ID.match(person_id):
        raise RegistryError("PERSON_ID_INVALID", f"a person id is 2–41 lowercase letters, digits and dashes (pattern {ORG_ID.pattern})")
    if not name.strip() or not org.strip():
        raise RegistryError("PERSON_INVALID", "a person needs a name and an organisation")
    pf = PersonFolder(Path(folder))
    if pf.public_file.exists() or pf.key.exists():
        raise RegistryError("PERSON_EXISTS", f"a person folder already exists at {pf.folder}", hint="choose another folder")
    private_folder(pf.folder)
    key, encryption = keys.generate_signing_key(), keys.generate_encryption_key()
    keys.write_private_key(pf.key, key)
    keys.write_private_key(pf.encryption_key, encryption)
    body = {
        "format": PERSON_FORMAT,
        "id": person_id,
        "name": name,
        "org": org,
        "created_at": (now or dt.datetime.now(dt.UTC)).replace(microsecond=0).isoformat(),
        **public_key_fields("encryption", encryption.public_key()),
        **public_key_fields("signing", key.public_key()),
    }
    write_public(pf.public_file, body, key)
    return pf


def read_person_file(path: Path) -> dict:
    """A person's public file, its self-signature checked."""
    return read_public(path, PERSON_FORMAT, PERSON_FIELDS)
