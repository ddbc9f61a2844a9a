"""The agency's outbox: no bundle waits there to be sent that the agency's own log does not name.

A contribution writes its bundle under a hidden name (``files.write_hidden``), appends its
``contribution`` line to the agency's audit log, and only then gives the file its name
(``files.reveal``). A run killed between the line and the rename leaves a whole, logged bundle under
its hidden name: the next `dvnet contribute` or `dvnet send` finishes it (``finish_interrupted``).
A hidden file the log does not name was being written when its run died (or is being written now by
another run): it is never sent, and is removed once it is a day old.
"""

from __future__ import annotations

import datetime as dt
import stat
import time
from pathlib import Path

from dvnet import bundle
from dvnet.bundle.framing import PREFIX_SIZE
from dvnet.common import audit
from dvnet.common.files import HIDDEN_SUFFIX, hidden_name_of, reveal
from dvnet.common.network import AgencyConfig
from dvnet.contracts.errors import DvnetError

#: The contributor's file names end so (``run._seal``); ``dvnet send`` sends only these.
BUNDLE_SUFFIX = ".dvb"
#: The agency audit action of a contribution run (``run._audit``); a sealed one names its bundle.
CONTRIBUTION = "contribution"
#: A hidden bundle nobody logged is left this long (a seal never takes so long), then removed.
UNLOGGED_KEPT = dt.timedelta(days=1)
#: Enough of a bundle's first bytes to hold its header.
HEAD_BYTES = PREFIX_SIZE + bundle.DEFAULT_MAX_HEADER_SIZE


def folder(agency: AgencyConfig) -> Path:
    return agency.folder / "outbox"


def finish_interrupted(agency: AgencyConfig, *, now: float | None = None) -> list[str]:
    """Give each logged bundle left under its hidden name its name; remove unlogged ones older than
    ``UNLOGGED_KEPT``. The names given."""
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
