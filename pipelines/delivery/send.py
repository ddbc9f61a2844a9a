"""``dvnet send``: deliver the agency's outbox to the coordinator's drop.

A bundle leaves the outbox only once it is in the drop's inbox under its final name; it then moves
to ``sent/`` (kept, so it can be sent again and matched with its receipt) and the agency's audit
log records it with its SHA-256, which is how ``dvnet receipts`` recognises the coordinator's
receipt for it. A failure part-way leaves the undelivered bundles in the outbox; running
``dvnet send`` again sends them, and a bundle delivered twice is still one bundle at the
coordinator (same name in the inbox; the same file already loaded is a duplicate, loaded once).
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dvnet import bundle
from dvnet.common import audit
from dvnet.common.agency import agency_actor
from dvnet.common.network import AgencyConfig
from dvnet.contracts.errors import DvnetError
from dvnet.pipelines.contributor.outbox import BUNDLE_SUFFIX, finish_interrupted
from dvnet.pipelines.contributor.outbox import SENT as SENT_EVENT
from dvnet.pipelines.contributor.outbox import folder as outbox
from dvnet.pipelines.delivery.drop import Drop


@dataclass(frozen=True)
class SentBundle:
    file: str
    sha256: str
    size: int


def sent_folder(agency: AgencyConfig) -> Path:
    return agency.folder / "sent"


def _sequence(path: Path) -> tuple[int, str]:
    tail = path.name.removesuffix(BUNDLE_SUFFIX).rsplit("_", 1)[-1]
    return (int(tail) if tail.isdigit() else 0, path.name)


def waiting(agency: AgencyConfig) -> list[Path]:
    """Sealed bundles not yet delivered, oldest sequence first (the contributor's file names end
    in the sequence number), so the coordinator meets them in the order they were sealed. A
    contribution's bundle left unnamed by a kill after its log line is named first, and one a later
    bundle replaced before it was sent is withdrawn (``outbox.finish_interrupted``)."""
    finish_interrupted(agency)
    folder = outbox(agency)
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.name.endswith(BUNDLE_SUFFIX) and stat.S_ISREG(p.lstat().st_mode)), key=_sequence)


def _mode(path: Path) -> str | None:
    """The bundle's mode from its signed cleartext header (aggregate or record), if it parses."""
    try:
        return bundle.parse(path.read_bytes()).header["mode"]
    except DvnetError:
        return None


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def send_outbox(agency: AgencyConfig, drop: Drop, on_sent: Callable[[SentBundle], None] = lambda s: None) -> list[SentBundle]:
    """Deliver every waiting bundle; returns those delivered (all of them unless an error is raised)."""
    files = waiting(agency)
    if not files:
        return []
    done_folder = sent_folder(agency)
    done_folder.mkdir(mode=0o700, exist_ok=True)
    hashes = {p: _sha256(p) for p in files}
    modes = {p: _mode(p) for p in files}
    sent: list[SentBundle] = []

    def delivered(path: Path) -> None:
        item = SentBundle(file=path.name, sha256=hashes[path], size=path.stat().st_size)
        actor = agency_actor(agency)
        # Logged, then moved to sent/: a kill in between leaves it logged and waiting, so the next
        # `dvnet send` delivers it again (the coordinator files the same bytes once) and logs that.
        audit.append(agency.audit_log, SENT_EVENT, actor=actor, head_key=actor.key, objects={"agency": agency.agency_id, "file": item.file},
                     bundle_sha256=item.sha256, mode=modes[path], drop=drop.describe())  # fmt: skip
        os.replace(path, done_folder / path.name)
        sent.append(item)
        on_sent(item)

    drop.deliver(files, delivered)
    return sent


def sent_records(agency: AgencyConfig) -> dict[str, dict]:
    """The agency's record of what it sent: file name -> the details of its last ``bundle_sent``
    audit entry (``bundle_sha256``, ``mode``, ``drop``) and when (``at``)."""
    return {e["objects"]["file"]: {**e["details"], "at": e["at"]} for e in audit.read(agency.audit_log)
            if e.get("action") == SENT_EVENT and isinstance(e.get("objects"), dict) and "file" in e["objects"]}  # fmt: skip
