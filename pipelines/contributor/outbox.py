"""The agency's outbox: no bundle waits there to be sent that the agency's own log does not name.

A contribution writes its bundle under a hidden name (``files.write_hidden``), appends its
``contribution`` line to the agency's audit log, and only then gives the file its name
(``files.reveal``). A run killed between the line and the rename leaves a whole, logged bundle under
its hidden name: the next `dvnet contribute` or `dvnet send` finishes it (``finish_interrupted``).
A hidden file the log does not name was being written when its run died (or is being written now by
another run): it is never sent, and is removed once it is a day old.

One bundle per contract × quarter (× project) goes out at a time: a bundle still waiting here that
a later sealed bundle of the same key replaced (sealed with ``--resend`` while it waited: the same
``supersedes``, none or the same id) is taken out unsent into ``withdrawn/`` (``withdraw_replaced``),
logged first; none is deleted, and one the log shows sent is never withdrawn.
"""

from __future__ import annotations

import datetime as dt
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from dvnet import bundle
from dvnet.bundle.framing import PREFIX_SIZE
from dvnet.common import audit
from dvnet.common.agency import agency_actor
from dvnet.common.files import HIDDEN_SUFFIX, hidden_name_of, private_dir, reveal
from dvnet.common.network import AgencyConfig
from dvnet.contracts.errors import DvnetError

#: The contributor's file names end so (``run._seal``); ``dvnet send`` sends only these.
BUNDLE_SUFFIX = ".dvb"
#: The agency audit action of a contribution run (``run._audit``); a sealed one names its bundle.
CONTRIBUTION = "contribution"
#: The agency audit action of a bundle delivered to the drop (``delivery.send``).
SENT = "bundle_sent"
#: The agency audit action of a waiting bundle a later one replaced before it was sent.
WITHDRAWN = "bundle_withdrawn"
#: A hidden bundle nobody logged is left this long (a seal never takes so long), then removed.
UNLOGGED_KEPT = dt.timedelta(days=1)
#: Enough of a bundle's first bytes to hold its header.
HEAD_BYTES = PREFIX_SIZE + bundle.DEFAULT_MAX_HEADER_SIZE


def folder(agency: AgencyConfig) -> Path:
    return agency.folder / "outbox"


@dataclass(frozen=True)
class Sealed:
    """A bundle the agency sealed, as its ``contribution`` line records it."""

    bundle_id: str
    contract_id: str
    period: str
    project: str | None
    supersedes: str | None
    sequence: int | None

    @property
    def key(self) -> tuple[str, str, str | None]:
        """What the coordinator counts one live bundle for: contract, period, project."""
        return (self.contract_id, self.period, self.project)


def sealed(agency: AgencyConfig) -> list[Sealed]:
    """Every bundle the agency's log says it sealed, oldest first."""
    found = []
    for e in audit.read(agency.audit_log):
        details, objects = e.get("details") or {}, e.get("objects") or {}
        if e.get("action") == CONTRIBUTION and e.get("outcome") == "sealed" and objects.get("bundle"):
            found.append(Sealed(objects["bundle"], str(details.get("contract", "")).split("/")[0], str(details.get("period")), details.get("project"),
                                details.get("supersedes"), details.get("sequence")))  # fmt: skip
    return found


def withdrawn_folder(agency: AgencyConfig) -> Path:
    return agency.folder / "withdrawn"


def withdrawn(agency: AgencyConfig) -> dict[str, str]:
    """bundle id -> the bundle that replaced it, for each bundle withdrawn from the outbox unsent."""
    return {e["objects"]["bundle"]: (e.get("details") or {}).get("replaced_by") for e in audit.read(agency.audit_log)
            if e.get("action") == WITHDRAWN and isinstance(e.get("objects"), dict) and e["objects"].get("bundle")}  # fmt: skip


def waiting_ids(agency: AgencyConfig) -> dict[str, Path]:
    """bundle id -> file of each named bundle waiting in the outbox."""
    out = folder(agency)
    files = [p for p in out.iterdir() if p.name.endswith(BUNDLE_SUFFIX) and not p.name.startswith(".") and stat.S_ISREG(p.lstat().st_mode)] if out.is_dir() else []
    return {bundle_id: p for p in files if (bundle_id := _bundle_id(p))}


def withdraw_replaced(agency: AgencyConfig) -> list[tuple[str, str]]:
    """Take out of the outbox, into ``withdrawn/``, each waiting bundle a later sealed bundle of the
    same key replaced (module docstring); (file, replacing bundle id) of each."""
    waiting = waiting_ids(agency)
    if not waiting:
        return []
    log = sealed(agency)
    sent = {(e.get("objects") or {}).get("file") for e in audit.read(agency.audit_log) if e.get("action") == SENT}
    done = []
    for i, old in enumerate(log):
        path = waiting.get(old.bundle_id)
        later = [new for new in log[i + 1:] if new.key == old.key and new.supersedes == old.supersedes]
        if path is None or not later or path.name in sent:
            continue
        # Logged, then moved: a kill in between leaves it logged and waiting, and the next call moves it.
        actor = agency_actor(agency)
        audit.append(agency.audit_log, WITHDRAWN, actor=actor, head_key=actor.key, objects={"agency": agency.agency_id, "bundle": old.bundle_id, "file": path.name},
                     replaced_by=later[-1].bundle_id)  # fmt: skip
        private_dir(withdrawn_folder(agency))
        os.replace(path, withdrawn_folder(agency) / path.name)
        done.append((path.name, later[-1].bundle_id))
    return done


def finish_interrupted(agency: AgencyConfig, *, now: float | None = None) -> list[str]:
    """Give each logged bundle left under its hidden name its name; remove unlogged ones older than
    ``UNLOGGED_KEPT``; then withdraw the waiting bundles a later one replaced (``withdraw_replaced``).
    The names given."""
    revealed = _name_logged(agency, now)
    withdraw_replaced(agency)
    return revealed


def _name_logged(agency: AgencyConfig, now: float | None) -> list[str]:
    pattern = f".*{BUNDLE_SUFFIX}.*{HIDDEN_SUFFIX}"
    hidden = sorted(p for p in folder(agency).glob(pattern) if stat.S_ISREG(p.lstat().st_mode)) if folder(agency).is_dir() else []  # never a link or a folder
    if not hidden:
        return []
    logged = {(e.get("objects") or {}).get("bundle") for e in audit.read(agency.audit_log) if e.get("action") == CONTRIBUTION and e.get("outcome") == "sealed"}
    revealed = []
    for tmp in hidden:
        if _bundle_id(tmp) in logged:
            try:
                reveal(tmp, tmp.with_name(hidden_name_of(tmp)))
            except FileNotFoundError:  # its own run (or another) revealed it meanwhile
                continue
            revealed.append(hidden_name_of(tmp))
        elif (now or time.time()) - tmp.lstat().st_mtime > UNLOGGED_KEPT.total_seconds():
            tmp.unlink(missing_ok=True)
    return revealed


def _bundle_id(path: Path) -> str | None:
    try:
        with path.open("rb") as f:
            return bundle.peek_header(f.read(HEAD_BYTES))["bundle_id"]
    except (OSError, DvnetError, KeyError, TypeError):
        return None
