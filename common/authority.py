"""Acting as a person: who may do what, checked against ``contracts.policy.POLICY`` and audited.

One call, before anything changes::

    actor = authorise(network, person_id, key_path, "publish")

checks that the person is registered and active, that the key file holds the signing key
registered for them, and that one of their roles allows the action (for the organisation it is
for, when it is for one; a steward only while their agency is active); it writes one entry in the
coordinator's audit log either way — ``granted``, signed with the person's key, or ``refused``
with its reason — and returns an ``Actor`` that signs the entries the action then makes. A
refusal raises ``AccessError`` (exit 2). If the granted action then fails, ``failed`` records it.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519

from dvnet.bundle import keys
from dvnet.common import audit
from dvnet.common.network import NetworkPaths, coordinator_key, load_network
from dvnet.contracts.errors import AccessError, DvnetError
from dvnet.contracts.network import ORG_ID
from dvnet.contracts.policy import AGENCY_ROLES, COALITION_ROLES, POLICY

KEY_ENV = "DVNET_KEY"


@dataclass(frozen=True)
class Actor:
    """A person granted ``action``: their id (the entries' actor) and the key that signs them."""

    actor: str
    key: ed25519.Ed25519PrivateKey
    roles: tuple[str, ...]
    action: str
    network: Path


def person_key_path(person_id: str, key_option: Path | None, environ: Mapping[str, str]) -> Path | None:
    """Where a person's signing key is: ``--key``, else their per-user config file
    (``$XDG_CONFIG_HOME/dvnet/people/<id>/signing.key``, ``~/.config`` by default) if it exists,
    else ``$DVNET_KEY``; None when none is given."""
    if key_option is not None:
        return Path(key_option)
    config = Path(environ.get("XDG_CONFIG_HOME") or Path(environ.get("HOME", "~")).expanduser() / ".config")
    per_user = config / "dvnet" / "people" / person_id / "signing.key"
    if ORG_ID.match(person_id) and per_user.exists():
        return per_user
    return Path(environ[KEY_ENV]) if environ.get(KEY_ENV) else None


def _record(root: Path, action: str, actor: str | Actor, outcome: str, reason: str | None, objects: Mapping[str, object], now) -> None:
    audit.append(NetworkPaths(root).audit_log, action, actor=actor, outcome=outcome, reason=reason, objects=objects,
                 head_key=coordinator_key(root), now=now)  # fmt: skip


def authorise(
    root: Path,
    person_id: str,
    key_path: Path | None,
    action: str,
    *,
    agency: str | None = None,
    objects: Mapping[str, object] | None = None,
    now: dt.datetime | None = None,
) -> Actor:
    """Grant ``action`` to ``person_id`` holding the key at ``key_path``, or refuse (``AccessError``).
    ``agency``: the agency the action is for, when a role that acts for one agency could allow it."""
    root = Path(root)
    allowed = POLICY[action]  # an action missing from the table is a bug, not a refusal
    network = load_network(root)
    objects = {**(objects or {}), **({"agency": agency} if agency else {})}
    claimed = person_id if ORG_ID.match(person_id) else "(not a person id)"  # never echo arbitrary text into the log

    def refuse(reason: str, message: str, hint: str | None = None, signer: Actor | None = None) -> AccessError:
        _record(root, action, signer or claimed, audit.REFUSED, reason, objects, now)
        return AccessError(reason, message, hint=hint)

    person = network.person(person_id)
    if person is None:
        raise refuse("PERSON_UNKNOWN", f"no person '{claimed}' in the registry", "the coordinator registers people with `dvnet network add-person`")
    if not person.active:
        raise refuse("PERSON_SUSPENDED", f"{person.id} is suspended")
    if key_path is None:
        raise refuse("KEY_MISSING", f"no signing key given for {person.id}", f"pass --key, or set {KEY_ENV}")
    try:
        key = keys.load_signing_key(key_path)
    except DvnetError as e:
        # Which file and why (missing, not a key, readable by others): the key module says why; no
        # hint of its own means the file is the wrong one, so say which file the option should name.
        raise refuse("KEY_UNUSABLE", f"{person.id}'s key file {key_path} cannot be used: {e.message} ({e.reason})",
                     e.hint or f"--key (or {KEY_ENV}) names the signing.key `dvnet person init` made for {person.id}") from None  # fmt: skip
    if keys.key_id(key.public_key()) != person.signing_key_id:
        raise refuse("KEY_MISMATCH", f"the key given is not the one registered for {person.id}")
    actor = Actor(person.id, key, tuple(person.roles), action, root)
    if agency is not None and network.organisation(agency) is None and agency != network.coordinator.id:
        raise refuse("AGENCY_UNKNOWN", f"no organisation '{agency}' in the registry", signer=actor)
    # The organisation each role acts for: a steward their agency, coalition staff the coalition;
    # an action for one organisation (``agency``) is granted only by a role acting for it.
    acts_for = {r: person.org if r in AGENCY_ROLES else network.coordinator.id if r in COALITION_ROLES else None for r in person.roles if r in allowed}
    granting = [r for r, org in acts_for.items() if agency is None or org == agency]
    if not granting:
        raise refuse("ROLE_NOT_ALLOWED", f"{person.id} ({', '.join(person.roles)}) may not {action}"
                     f"{f' for {agency}' if agency else ''}: it needs the role {' or '.join(sorted(allowed))}"
                     f"{' of that organisation' if agency else ''}", signer=actor)  # fmt: skip
    held = network.organisation(person.org)
    if all(r in AGENCY_ROLES for r in granting) and (held is None or not held.active):
        raise refuse("AGENCY_SUSPENDED", f"{person.id} acts for {person.org}, which is suspended in the registry", signer=actor)
    _record(root, action, actor, audit.GRANTED, None, objects, now)
    return actor


def failed(actor: Actor, error: DvnetError, *, now: dt.datetime | None = None) -> None:
    """Record that a granted action then failed (its reason code; never its message)."""
    _record(actor.network, actor.action, actor, "failed", error.reason, {}, now)


def load_key_for(person_id: str, key_option: Path | None, environ: Mapping[str, str] | None = None) -> ed25519.Ed25519PrivateKey:
    """A person's own signing key from where ``person_key_path`` finds it (for steps that come
    before any registry, such as founding a network)."""
    path = person_key_path(person_id, key_option, os.environ if environ is None else environ)
    if path is None:
        raise AccessError("KEY_MISSING", f"no signing key given for {person_id}", hint=f"pass --key, or set {KEY_ENV}")
    return keys.load_signing_key(path)
