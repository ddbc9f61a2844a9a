"""Decision logs: what external data, framework or tool an organisation adopted or stopped using,
who decided, why, and when it is to be reviewed (concept sheet: every organisation documents its
decisions).

Each decision is a file signed by the person who recorded it (a steward for their agency, coalition
staff for the coalition), written once and kept in two places::

    <network>/coordinator/decisions/<org>/<org>-NNN.yaml   the network's copy, read by `dvnet decision list`
    <agency folder>/decisions/<org>-NNN.yaml               the agency's own copy (same bytes)

A later decision about the same subject supersedes the earlier one; the earlier stays on file.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import yaml

from dvnet.common.yaml_text import load_yaml
from dvnet.common import audit
from dvnet.common.authority import Actor
from dvnet.common.decision_terms import CHANGES, KINDS
from dvnet.common.faults import maybe_crash
from dvnet.common.files import atomic_write, private_folder
from dvnet.common.network import NetworkPaths, coordinator_key, load_network
from dvnet.common.signed_records import read_signed, write_signed
from dvnet.contracts.errors import RegistryError
from dvnet.contracts.network import ORG_ID

FORMAT = "dvnet-decision/1"
MAX_TEXT = 500
FIELDS = ("id", "org", "change", "kind", "subject", "decided_by", "why", "decided_on", "review_date")


@dataclass(frozen=True)
class Decision:
    id: str
    org: str
    change: str
    kind: str
    subject: str
    decided_by: str
    why: str
    decided_on: str
    review_date: str
    signed_by: str = ""

    def due(self, on: dt.date) -> bool:
        return dt.date.fromisoformat(self.review_date) <= on


def _folder(root: Path, org: str) -> Path:
    return NetworkPaths(Path(root)).coordinator / "decisions" / org


def _text(value: str, what: str) -> str:
    value = (value or "").strip()
    if not value or len(value) > MAX_TEXT or any(c in value for c in "\r\n"):
        raise RegistryError("DECISION_INVALID", f"{what}: one line of text, 1 to {MAX_TEXT} characters", field=what)
    return value


def _date(value: str, what: str) -> str:
    try:
        if len(value) != 10:
            raise ValueError
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise RegistryError("DECISION_INVALID", f"{what}: a date written YYYY-MM-DD", field=what) from None


def add(root: Path, org: str, *, change: str, kind: str, subject: str, decided_by: str, why: str, review_date: str,
        decided_on: str | None, actor: Actor, agency_folder: Path | None = None, now: dt.datetime | None = None) -> Decision:  # fmt: skip
    """Record one decision of ``org`` (a registered organisation, or the coordinator's id for the
    coalition), signed by ``actor``; copied into ``agency_folder`` when given."""
    network = load_network(root)
    if network.organisation(org) is None and org != network.coordinator.id:
        raise RegistryError("AGENCY_UNKNOWN", f"no organisation '{org}' in the registry")
    if change not in CHANGES or kind not in KINDS:
        raise RegistryError("DECISION_INVALID", f"change is one of {', '.join(CHANGES)}; kind one of {', '.join(KINDS)}")
    today = (now or dt.datetime.now(dt.UTC)).date().isoformat()
    decided_on = _date(decided_on or today, "decided_on")
    review = _date(review_date, "review_date")
    if review <= decided_on:
        raise RegistryError("DECISION_INVALID", "review_date: must come after the decision", field="review_date")
    texts = _text(subject, "subject"), _text(decided_by, "decided_by"), _text(why, "why")  # every check before anything is made
    folder = private_folder(_folder(root, org))
    copies = private_folder(Path(agency_folder) / "decisions") if agency_folder is not None else None
    if copies is not None:  # a copy an earlier add was killed before making
        for signed in folder.glob("*.yaml"):
            if not (copies / signed.name).exists():
                atomic_write(copies / signed.name, signed.read_bytes(), mode=0o600)
    decision_id = f"{org}-{len(list(folder.glob('*.yaml'))) + 1:03d}"
    decision = Decision(decision_id, org, change, kind, *texts, decided_on, review)
    body = {"format": FORMAT, **{k: getattr(decision, k) for k in FIELDS}}
    path = folder / f"{decision_id}.yaml"
    # Logged before it is made (as every audited change).
    audit.append(NetworkPaths(Path(root)).audit_log, "decision_added", actor=actor, objects={"decision": decision_id, "agency": org},
                 head_key=coordinator_key(root), now=now, change=change, kind=kind)  # fmt: skip
    write_signed(path, body, actor, now)
    if copies is not None:
        maybe_crash("after_decision_signed")
        atomic_write(copies / path.name, path.read_bytes(), mode=0o600)
    return decision


def load(root: Path, org: str | None = None) -> list[Decision]:
    """Every recorded decision (of ``org`` only, when given), oldest first per organisation, each
    signature checked."""
    base = NetworkPaths(Path(root)).coordinator / "decisions"
    network = load_network(root)
    orgs = [org] if org else sorted(d.name for d in base.iterdir() if d.is_dir()) if base.is_dir() else []
    found = []
    for o in orgs:
        if not ORG_ID.match(o) or (network.organisation(o) is None and o != network.coordinator.id):
            raise RegistryError("AGENCY_UNKNOWN", f"no organisation '{o}' in the registry")
        for path in sorted(_folder(root, o).glob("*.yaml")):
            doc = read_signed(path, network)
            found.append(_decision(doc, path, f"{o}/{path.name}: not a decision of {o}", org=o))
    return found


def _decision(doc: object, path: Path, refusal: str, org: str | None = None) -> Decision:
    """The decision a record file holds, its form checked (and its organisation, when given)."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not set(FIELDS) <= set(doc) or path.stem != doc.get("id") or (org is not None and doc["org"] != org):
        raise RegistryError("RECORD_TAMPERED", refusal)
    return Decision(**{k: str(doc[k]) for k in FIELDS}, signed_by=str(doc.get("signed_by", "")))


def in_agency_folder(folder: Path) -> list[Decision]:
    """The decisions an agency keeps in its own folder (``decisions/``: the copies `dvnet decision
    add --agency-folder` writes), oldest first. Read on the agency's machine, which holds no copy of
    the registry's people: the form is checked here, the signatures by `dvnet decision list`."""
    found = []
    for path in sorted((Path(folder) / "decisions").glob("*.yaml")):
        try:
            doc = load_yaml(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            doc = None
        found.append(_decision(doc, path, f"decisions/{path.name}: not a decision record"))
    return found


def current(decisions: list[Decision]) -> list[Decision]:
    """The decisions not superseded by a later one of the same organisation about the same subject."""
    latest = {(d.org, d.subject.casefold()): d for d in decisions}
    return [d for d in decisions if latest[(d.org, d.subject.casefold())] is d]
