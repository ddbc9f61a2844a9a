"""Public files that travel between parties: an agency's registration, a person's key, the
coordinator's and the custodian's public keys.

Each is YAML holding nothing secret, signed by the signing key it publishes (so it proves the
sender holds that key and arrived unaltered). Whether the key is the right party's is settled
out of band: every command that reads one prints its key ids, for the receiver to compare with
the sender by phone or in person.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Any

import yaml
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from dvnet.common.yaml_text import load_yaml
from dvnet.bundle import keys
from dvnet.bundle.header import canonical_json
from dvnet.common.files import atomic_write
from dvnet.contracts.errors import DvnetError, RegistryError

MAX_PUBLIC_FILE_BYTES = 64 * 1024
#: Every public file is signed by the Ed25519 key it names under these two fields.
SIGNING_FIELDS = ("signing_key_id", "signing_public_key")


def write_public(path: Path, body: dict[str, Any], key: ed25519.Ed25519PrivateKey) -> None:
    """Write ``body`` (with its ``format``) signed by ``key``, whose public half it must name."""
    assert body["signing_key_id"] == keys.key_id(key.public_key())
    signature = base64.b64encode(key.sign(canonical_json(body))).decode("ascii")
    atomic_write(Path(path), yaml.safe_dump({**body, "signature": signature}, sort_keys=False, allow_unicode=True).encode("utf-8"))


def read_public(path: Path, fmt: str, fields: tuple[str, ...]) -> dict[str, Any]:
    """Read a public file of format ``fmt``, check it holds exactly ``fields`` (plus format,
    signing key and signature) and that its signature verifies under the key it names."""
    path = Path(path)
    what = f"{path.name}"
    try:
        raw = path.read_bytes()[: MAX_PUBLIC_FILE_BYTES + 1]
    except OSError as e:
        raise RegistryError("PUBLIC_FILE_INVALID", f"{what} cannot be read ({e.strerror})") from None
    try:
        doc = load_yaml(raw) if len(raw) <= MAX_PUBLIC_FILE_BYTES else None
    except yaml.YAMLError:
        doc = None
    if not isinstance(doc, dict) or doc.get("format") != fmt:
        raise RegistryError("PUBLIC_FILE_INVALID", f"{what} is not a {fmt} file")
    expected = {"format", *fields, *SIGNING_FIELDS, "signature"}
    if set(doc) != expected:
        wrong = sorted(set(doc) ^ expected)
        raise RegistryError("PUBLIC_FILE_INVALID", f"{what}: missing or unknown fields {wrong}")
    body = {k: v for k, v in doc.items() if k != "signature"}
    try:
        public = keys.signing_public_key_from_text(body["signing_public_key"])
        if keys.key_id(public) != body["signing_key_id"]:
            raise ValueError
        public.verify(base64.b64decode(str(doc["signature"]).encode("ascii"), validate=True), canonical_json(body))
    except (DvnetError, ValueError, TypeError, binascii.Error, UnicodeEncodeError, InvalidSignature):
        raise RegistryError("PUBLIC_FILE_INVALID", f"{what}: its signature does not verify under the key it names (altered, or not made by that key)") from None
    return body


def public_key_fields(prefix: str, public_key: keys.PublicKey) -> dict[str, str]:
    """``{prefix}_key_id`` and ``{prefix}_public_key`` of a public key, as every file spells them."""
    return {f"{prefix}_key_id": keys.key_id(public_key), f"{prefix}_public_key": keys.public_key_to_text(public_key)}
