"""Records signed by the person who made them (a data-sharing agreement's versions, an
organisation's decisions): YAML files that are written once and never replaced.

The signature (Ed25519 over the canonical JSON of everything but itself) is checked against the
key the registry holds for the signer on every read, so an edit by anyone without that person's
key — the coordinator's software included — is noticed.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import os
from pathlib import Path
from typing import Any

import yaml
from cryptography.exceptions import InvalidSignature

from dvnet.common.yaml_text import load_yaml
from dvnet.bundle import keys
from dvnet.bundle.header import canonical_json
from dvnet.common.audit import Signer
from dvnet.common.files import atomic_write
from dvnet.contracts.errors import DvnetError, RegistryError
from dvnet.contracts.network import Network

SIGNATURE_FIELDS = ("signed_by", "signed_at", "signing_key_id", "signature")


def write_signed(path: Path, body: dict[str, Any], signer: Signer, now: dt.datetime | None = None) -> dict[str, Any]:
    """Write ``body`` signed by ``signer`` to the new file ``path`` (0600); refused if it exists,
    so two writers racing for one name cannot overwrite each other."""
    path = Path(path)
    doc = {**body, "signed_by": signer.actor, "signed_at": (now or dt.datetime.now(dt.UTC)).replace(microsecond=0).isoformat(),
           "signing_key_id": keys.key_id(signer.key.public_key())}  # fmt: skip
    doc["signature"] = base64.b64encode(signer.key.sign(canonical_json(doc))).decode("ascii")
    tmp = path.with_name(f".{path.name}.new")
    atomic_write(tmp, yaml.safe_dump(doc, sort_keys=False, allow_unicode=True).encode("utf-8"), mode=0o600)
    try:
        os.link(tmp, path)  # atomic, and fails if the name is taken
    except FileExistsError:
        raise RegistryError("RECORD_EXISTS", f"{path.name} was written meanwhile by someone else", hint="run the command again") from None
    finally:
        tmp.unlink(missing_ok=True)
    return doc


def read_signed(path: Path, network: Network) -> dict[str, Any]:
    """A signed record, its signature checked under the registry's key of its signer."""
    path = Path(path)
    try:
        doc = load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        doc = None
    bad = RegistryError("RECORD_TAMPERED", f"{path.parent.name}/{path.name}: not a record signed by a registered person (altered, or not theirs)")
    if not isinstance(doc, dict) or not all(k in doc for k in SIGNATURE_FIELDS):
        raise bad
    person = network.person(str(doc["signed_by"]))
    body = {k: v for k, v in doc.items() if k != "signature"}
    try:
        if person is None or person.signing_key_id != doc["signing_key_id"]:
            raise ValueError
        public = keys.signing_public_key_from_text(person.signing_public_key)
        public.verify(base64.b64decode(str(doc["signature"]).encode("ascii"), validate=True), canonical_json(body))
    except (DvnetError, ValueError, TypeError, binascii.Error, UnicodeEncodeError, InvalidSignature):
        raise bad from None
    return body
