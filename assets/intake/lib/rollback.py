"""A warehouse older than the audit log: restored from a backup without the log (or PostgreSQL's
database restored alone), found before anything is loaded into it.

Every load commits its ledger row before its ``bundle_loaded`` audit line is written, so the
bundle of the log's last such line is always in the ledger, unless the warehouse went back in
time. Loading on would hand agencies a second "loaded" receipt history for bundles the
warehouse lost, keep the lost ones out of every cube and release while their receipts say
loaded, and log some bundles as loaded twice. One look at the log's tail and one ledger lookup.
"""

from __future__ import annotations

from pathlib import Path

from dvnet.common import audit
from dvnet.contracts.errors import DvnetError

LOADED = "bundle_loaded"


def refuse_if_behind(con, audit_log: Path) -> None:
    """``WAREHOUSE_BEHIND_AUDIT_LOG`` when the audit log's last loaded bundle is not in the ledger."""
    last = audit.last_of(audit_log, LOADED)
    bundle = ((last or {}).get("objects") or {}).get("bundle")
    if bundle and not con.execute("SELECT count(*) FROM ledger WHERE bundle_id = ?", [bundle]).fetchall()[0][0]:
        raise DvnetError(
            "WAREHOUSE_BEHIND_AUDIT_LOG",
            f"the audit log records bundle {bundle} as loaded (entry {last.get('n')}), but the warehouse does not hold it: "
            "the warehouse is older than the log (restored from a backup on its own?); nothing was loaded",
            hint="restore the warehouse and the audit log from the same backup, taken with no dvnet run going",
        )
