"""Fault injection for crash-consistency tests: ``DVNET_FAULT_AT=<point>`` kills the process there.

Read at call time (never at import). Points are named where a crash would matter most. With
``DVNET_FAULT_ONCE=<file>`` as well, only the first process to reach the point is killed (it
creates the file first): how a test lets a retried run, which inherits the same environment, go
through.
"""

from __future__ import annotations

import os

#: Ingest: in the load's transaction, then each finishing step (audit line, receipt, archiving).
POINTS = ("after_verify", "after_rows", "before_commit", "after_commit", "after_audit", "after_receipt", "after_archive")
#: `dvnet ingest`'s batch: its loads done, the first cube family rebuilt, the others not yet.
CUBE_POINTS = ("after_cube_family",)
#: Ingest of a refused bundle only: its quarantine log row written, the file not yet moved.
QUARANTINE_POINTS = ("after_quarantine_log",)
#: Publish: after the release ledger, after the audit line, after the folder's rename.
RELEASE_POINTS = ("after_release_ledger", "after_release_audit", "after_release_rename")
#: Every audited change: ``after_audit:<action>`` kills right after the line for ``action`` is
#: written (``audit.append``). A change is logged before it is made, so killed there, the change
#: has not happened yet (``tests/integration/network/test_audit_before_change.py``).
AFTER_AUDIT = "after_audit:"
#: Registering an agency: its receipts folder and the coordinator's public file written, the
#: registry (what makes it registered) not yet.
REGISTER_POINTS = ("before_agency_saved",)
#: A decision: the coordinator's signed file written, the agency's copy not yet.
DECISION_POINTS = ("after_decision_signed",)
#: Release request: its audit line written, its folder not yet renamed into place.
REQUEST_POINTS = ("after_request_audit",)
#: Withdrawal: the manifest marked withdrawn, its audit line not yet written.
WITHDRAW_POINTS = ("after_withdrawn_manifest",)
#: Research extract: its audit line written, the sealed file not yet in the extracts folder.
EXTRACT_POINTS = ("after_extract_audit",)
#: Closing a DSA: its destruction record written, nothing destroyed yet.
CLOSE_POINTS = ("after_destruction_record",)


def maybe_crash(point: str) -> None:
    if os.environ.get("DVNET_FAULT_AT") != point:
        return
    once = os.environ.get("DVNET_FAULT_ONCE")
    if once:
        try:
            os.close(os.open(once, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            return  # killed once already
    os._exit(86)  # no cleanup, no flush: as close to a power cut as a test can get
