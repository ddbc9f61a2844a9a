"""Which keys and anchors check a given audit log, by the folder it sits in.

* the coordinator's log (beside ``registry.yaml``): entries signed by registered people or by the
  coordinator's software; head signed by the coordinator's key; anchored by every signed receipt
  and every release manifest in the coordinator's folder;
* an agency's log (beside ``agency.yaml``): signed by the agency's key (from its registration file);
* the custodian's log (beside ``custodian-public.yaml``): signed by the custodian's key.

Anchors kept elsewhere (a receipt an agency holds, a copy of a published manifest) are added with
``extra``: they are what a rewrite of the whole folder cannot reach.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519

from dvnet.bundle import keys, verify_receipt
from dvnet.bundle.receipt import MAX_RECEIPT_SIZE
from dvnet.common import audit
from dvnet.common.audit import Anchor, Verified
from dvnet.contracts.errors import DvnetError

KeyMap = dict[str, tuple[str, ed25519.Ed25519PublicKey]]


def _key(text: str) -> ed25519.Ed25519PublicKey:
    return keys.signing_public_key_from_text(text)


def _coordinator_keys(folder: Path) -> tuple[KeyMap, ed25519.Ed25519PublicKey]:
    from dvnet.common.network import load_network

    network = load_network(folder.parent)
    c = network.coordinator
    coordinator = _key(c.signing_public_key)
    found: KeyMap = {p.signing_key_id: (p.id, _key(p.signing_public_key)) for p in network.people}
    found[c.signing_key_id] = (f"coordinator:{c.id}", coordinator)
    return found, coordinator


def _receipt_anchor(path: Path, coordinator: ed25519.Ed25519PublicKey | None) -> Anchor | None:
    """The head a receipt anchors, if it is a receipt signed by the coordinator."""
    try:
        with path.open("rb") as f:
            blob = f.read(MAX_RECEIPT_SIZE + 1)
        body = verify_receipt(blob, coordinator) if coordinator else json.loads(blob)
        head = body["audit_head"]
        return Anchor(f"receipt {path.name}", int(head["entries"]), str(head["sha256"]), signed=coordinator is not None)
    except (DvnetError, OSError, ValueError, KeyError, TypeError):
        return None


def _manifest_anchor(path: Path) -> Anchor | None:
    try:
        head = json.loads(path.read_bytes())["audit_head"]
        # Unsigned: a manifest that disagrees with an intact log is named, not taken as the log's fault.
        return Anchor(f"release manifest {path}", int(head["entries"]), str(head["sha256"]), signed=False)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _extra_anchor(path: Path, coordinator: ed25519.Ed25519PublicKey | None) -> Anchor:
    anchor = _receipt_anchor(path, coordinator) or _manifest_anchor(path)
    if anchor is None:
        raise DvnetError("USAGE_ANCHOR_INVALID", f"{path.name} is not a signed receipt or a release manifest with an audit head")
    return anchor


def verify_log(log: Path, extra: Iterable[Path] = ()) -> Verified:
    """Verify ``log`` with the keys and anchors of the folder it sits in (see the module docstring)."""
    return audit.verify(log, **checks_for(log, extra))


def checks_for(log: Path, extra: Iterable[Path] = ()) -> dict:
    """What ``audit.verify`` checks ``log`` with: ``keys`` (None when the folder names no signer:
    entry signatures are then not checked), ``head_keys`` and ``anchors``."""
    log = Path(log)
    folder = log.parent
    keys_map: KeyMap | None = None  # who may sign entries
    keeper: tuple[str, ed25519.Ed25519PublicKey] | None = None  # who signs the head
    coordinator = None
    anchors: list[Anchor] = []
    if (folder / "registry.yaml").exists():
        keys_map, coordinator = _coordinator_keys(folder)
        keeper = (keys.key_id(coordinator), coordinator)
        anchors += [a for p in sorted((folder / "receipts").rglob("*.receipt.json")) if (a := _receipt_anchor(p, coordinator))]
        anchors += [a for p in sorted((folder / "releases").glob("*/manifest.json")) if (a := _manifest_anchor(p))]
    elif (folder / "agency.yaml").exists():
        from dvnet.common.agency import read_registration
        from dvnet.common.network import load_agency

        agency, reg = load_agency(folder, pinned=False), read_registration(folder / "registration.yaml")
        keeper = (reg["signing_key_id"], _key(reg["signing_public_key"]))
        keys_map = {keeper[0]: (f"agency:{agency.agency_id}", keeper[1])}
    elif (folder / "custodian-public.yaml").exists():
        from dvnet.common.custodian import ACTOR, read_custodian_public

        public = read_custodian_public(folder / "custodian-public.yaml")
        keeper = (public["signing_key_id"], _key(public["signing_public_key"]))
        keys_map = {keeper[0]: (ACTOR, keeper[1])}
    anchors += [_extra_anchor(Path(p), coordinator) for p in extra]
    return {"keys": keys_map, "head_keys": dict([keeper]) if keeper else None, "anchors": anchors}
