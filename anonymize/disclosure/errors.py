"""Typed errors of the disclosure-control library, with their stable reason codes.

Messages name tables, rules and counts, never a cell value: an exception text may end up in a
log, and a suppressed value in a log is a disclosure.
"""

from __future__ import annotations

from dvnet.contracts.errors import DvnetError

UNKNOWN_PROFILE = "UNKNOWN_PROFILE"
INVALID_PROFILE = "INVALID_PROFILE"
INVALID_TABLE = "INVALID_TABLE"
INCONSISTENT_SHARED_CELL = "INCONSISTENT_SHARED_CELL"
LEDGER_CONFLICT = "LEDGER_CONFLICT"
TABLE_REFUSED = "TABLE_REFUSED"
AUDIT_FAILED = "AUDIT_FAILED"
AUDIT_INCOMPLETE = "AUDIT_INCOMPLETE"
INVALID_CONTRIBUTIONS = "INVALID_CONTRIBUTIONS"
INVALID_RATE_INPUT = "INVALID_RATE_INPUT"
HISTORY_INCOMPLETE = "HISTORY_INCOMPLETE"  # an earlier release of the period changed and its true counts are not on record
HISTORY_MISSING = "HISTORY_MISSING"  # a release folder the ledger names is gone
HISTORY_ALTERED = "HISTORY_ALTERED"  # a release folder no longer shows what the ledger recorded


class DisclosureError(DvnetError):
    """A release that cannot be protected or published as asked (see the reason code)."""
