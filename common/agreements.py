"""The coordinator's data-sharing agreements, one folder per DSA, one signed file per version::

    <network>/coordinator/agreements/<dsa-id>/v001.yaml   the terms as added, signed by who added them
    <network>/coordinator/agreements/<dsa-id>/v002.yaml   an amendment or the revocation, and so on

A version is never rewritten: amending or revoking writes the next one, and the newest is the
agreement in force (ingest's ``DSA_INVALID`` check and research extracts read it). Every change is
signed by the person who ran it and audited, and withdraws the research extracts sealed under the
version before it (``coordinator/extracts/<dsa-id>/``): what is handed out matches the terms in force.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Any

from dvnet.common import audit
from dvnet.common.audit import Signer
from dvnet.common.files import private_folder
from dvnet.common.network import NetworkPaths, coordinator_key, load_network
from dvnet.common.signed_records import read_signed, write_signed
from dvnet.contracts.agreements import AMENDABLE, DSA_ID, Agreement, check_against, parse_agreement
from dvnet.contracts.errors import RegistryError
from dvnet.contracts.network import Network

FORMAT = "dvnet-dsa/1"
EXTRACT_SUFFIX = ".dvb"


def folder(root: Path, dsa_id: str) -> Path:
    """The DSA's folder: its versions, and its destruction record once closed."""
    if not DSA_ID.match(dsa_id):
        raise RegistryError("AGREEMENT_UNKNOWN", "a DSA id is lowercase letters, digits and dashes")
    return NetworkPaths(Path(root)).coordinator / "agreements" / dsa_id


def extracts_folder(root: Path, dsa_id: str) -> Path:
    """The DSA's research extracts on the coordinator, one sealed copy per named researcher
    (``dvnet.assets.research.lib.extract``)."""
    return NetworkPaths(Path(root)).coordinator / "extracts" / dsa_id


def sealed_copies(root: Path, dsa_id: str) -> list[Path]:
    folder = extracts_folder(root, dsa_id)
    return sorted(folder.glob(f"*{EXTRACT_SUFFIX}")) if folder.is_dir() else []


def history(root: Path, dsa_id: str, network: Network | None = None) -> list[tuple[Agreement, dict[str, Any]]]:
    """Every version of a DSA, oldest first, each with its signature fields (who, when); each
    version's signature checked. Empty when there is no such DSA."""
    where = folder(root, dsa_id)
    network = network or load_network(root)
    found = []
    for n, path in enumerate(sorted(where.glob("v*.yaml")) if where.is_dir() else [], start=1):
        doc = read_signed(path, network)
        terms = {k: v for k, v in doc.items() if k in AMENDABLE or k == "id"}
        # A version signed before the ethics approval's last day was a term read its end as that
        # day: the approval covered the agreement as recorded, and nothing beyond it.
        terms.setdefault("ethics_expires", terms.get("end"))
        try:
            agreement = parse_agreement(terms, version=doc.get("version"), status=doc.get("status"), note=doc.get("note") or "")
        except RegistryError:
            agreement = None
        if agreement is None or doc.get("format") != FORMAT or agreement.id != dsa_id or agreement.version != n or path.name != f"v{n:03d}.yaml":
            raise RegistryError("RECORD_TAMPERED", f"{dsa_id}/{path.name}: not version {n} of {dsa_id}")
        found.append((agreement, {k: doc[k] for k in ("signed_by", "signed_at")}))
    return found


def current(root: Path, dsa_id: str, network: Network | None = None) -> Agreement | None:
    """The newest version of a DSA, or None when there is no such DSA."""
    versions = history(root, dsa_id, network)
    return versions[-1][0] if versions else None


def require(root: Path, dsa_id: str, network: Network | None = None) -> Agreement:
    agreement = current(root, dsa_id, network)
    if agreement is None:
        raise RegistryError("AGREEMENT_UNKNOWN", f"no data-sharing agreement '{dsa_id}'", hint="`dvnet dsa list` shows them")
    return agreement


def all_current(root: Path) -> list[Agreement]:
    folder = NetworkPaths(Path(root)).coordinator / "agreements"
    network = load_network(root)
    return [current(root, d.name, network) for d in sorted(folder.iterdir()) if d.is_dir()] if folder.is_dir() else []


def _write(root: Path, agreement: Agreement, actor: Signer, event: str, now: dt.datetime | None) -> Agreement:
    network = load_network(root)
    check_against(agreement, network)
    where = private_folder(folder(root, agreement.id))
    # Every copy on hand was sealed under an earlier version, whose terms (researchers, parties,
    # fields, periods, dates, status) are no longer the agreement: none may be handed out now.
    withdrawn = sealed_copies(root, agreement.id) if agreement.version > 1 else []
    # Logged before it is made (as every audited change): a kill in between leaves a logged
    # attempt, never a version in force that nobody logged; copies go before the version is written.
    audit.append(NetworkPaths(Path(root)).audit_log, event, actor=actor, objects={"dsa": agreement.id, "version": agreement.version},
                 head_key=coordinator_key(root), now=now, status=agreement.status, **({"extracts_withdrawn": len(withdrawn)} if withdrawn else {}))  # fmt: skip
    for path in withdrawn:
        path.unlink()
    write_signed(where / f"v{agreement.version:03d}.yaml", {"format": FORMAT, **agreement.to_dict()}, actor, now)
    return agreement


def _not_ended(agreement: Agreement, now: dt.datetime | None) -> Agreement:
    """Terms whose end has passed could never be in force: recording them (added, or amended to
    them) would be an agreement in the books that nothing may flow under, shown as active."""
    if agreement.ends_at <= (now or dt.datetime.now(dt.UTC)):
        raise RegistryError("AGREEMENT_INVALID", f"end: {agreement.end} has passed: nothing could flow under these terms", field="end",
                            hint="give an end date from today on")  # fmt: skip
    return agreement


def add(root: Path, terms: dict[str, Any], actor: Signer, *, now: dt.datetime | None = None) -> Agreement:
    """Record a new DSA (version 1) from its terms (refused when they have ended already)."""
    agreement = _not_ended(parse_agreement(terms), now)
    if current(root, agreement.id) is not None:
        raise RegistryError("AGREEMENT_EXISTS", f"a data-sharing agreement '{agreement.id}' exists already", hint="change it with `dvnet dsa amend`")
    return _write(root, agreement, actor, "dsa_added", now)


def _next(root: Path, dsa_id: str, note: str) -> Agreement:
    agreement = require(root, dsa_id)
    if agreement.status != "active":
        raise RegistryError("AGREEMENT_NOT_ACTIVE", f"{dsa_id} is {agreement.status}: it can no longer change")
    if not note.strip():
        raise RegistryError("AGREEMENT_INVALID", "a reason is required: it is kept with the new version", field="reason")
    return agreement


def amend(root: Path, dsa_id: str, changes: dict[str, Any], reason: str, actor: Signer, *, now: dt.datetime | None = None) -> Agreement:
    """Write the next version with ``changes`` applied to the terms (refused when they have ended
    already); the old versions stay."""
    old = _next(root, dsa_id, reason)
    unknown = sorted(set(changes) - set(AMENDABLE))
    if unknown:
        raise RegistryError("AGREEMENT_INVALID", f"{unknown[0]}: cannot be amended", field=unknown[0])
    if not changes:
        raise RegistryError("AGREEMENT_INVALID", "nothing to amend: give at least one term to change")
    new = _not_ended(parse_agreement({**old.terms(), **changes}, version=old.version + 1, note=reason.strip()), now)
    return _write(root, new, actor, "dsa_amended", now)


def revoke(root: Path, dsa_id: str, reason: str, actor: Signer, *, now: dt.datetime | None = None) -> Agreement:
    """Write the next version as revoked: nothing flows under it from then on."""
    old = _next(root, dsa_id, reason)
    return _write(root, replace(old, version=old.version + 1, status="revoked", note=reason.strip()), actor, "dsa_revoked", now)


def close(root: Path, old: Agreement, reason: str, actor: Signer, *, now: dt.datetime | None = None) -> Agreement:
    """Write the closing version, once the project's data is destroyed
    (``dvnet.assets.research.lib.extract.close``, which keeps the destruction record)."""
    return _write(root, replace(old, version=old.version + 1, status="closed", note=reason.strip()), actor, "dsa_closed", now)
