"""Disclosure control for dvnet releases: profiles, suppression, rounding, dominance, LP audit.

Pure library (numpy, pandas, scipy/HiGHS): no Dagster, no DuckDB, no I/O. The release builder
calls ``protect``; evaluators and the release check can re-run ``audit`` over published tables.

    from dvnet.anonymize.disclosure import Table, protect, audit, get_profile
    release = protect([Table("episodes_by_region", frame, ("province", "region"), "episodes")],
                      "dv-default", contributions=contrib, earlier=ledger_cells)
    release.tables["episodes_by_region"]      # value (Int64, NA if suppressed) + status (one mark)
    release.reasons["episodes_by_region"]     # why each cell is suppressed: the coordinator's record only
    release.stats.to_dict(); release.audit.summary
"""

from typing import TYPE_CHECKING

from dvnet.kernels.lazy_exports import lazy_exports

# name -> the module that defines it. Imported on first use (PEP 562), so a command that only needs
# the profile names for its --help does not import numpy, pandas and the LP solvers.
_WHERE = {
    **dict.fromkeys(("PUBLISHED_MARK", "REASONS", "STATUS_LABELS", "SUPPRESSED_MARK", "AuditReport", "audit"), "audit"),
    "DisclosureError": "errors",
    **dict.fromkeys(("PROFILE_NAMES", "Profile", "get_profile"), "profiles"),
    **dict.fromkeys(("METHODS", "ProtectedRelease", "ReleaseStats", "protect"), "protect"),
    "rates": "rates",
    **dict.fromkeys(("round_to_base", "rounding_interval"), "rounding"),
    **dict.fromkeys(("TOTAL", "EarlierCell", "Table"), "tables"),
}

if TYPE_CHECKING:
    from dvnet.anonymize.disclosure.audit import PUBLISHED_MARK, REASONS, STATUS_LABELS, SUPPRESSED_MARK, AuditReport, audit
    from dvnet.anonymize.disclosure.errors import DisclosureError
    from dvnet.anonymize.disclosure.profiles import PROFILE_NAMES, Profile, get_profile
    from dvnet.anonymize.disclosure.protect import METHODS, ProtectedRelease, ReleaseStats, protect
    from dvnet.anonymize.disclosure.rates import rates
    from dvnet.anonymize.disclosure.rounding import round_to_base, rounding_interval
    from dvnet.anonymize.disclosure.tables import TOTAL, EarlierCell, Table


lazy_exports(__name__, _WHERE)

__all__ = [
    "METHODS",
    "PROFILE_NAMES",
    "PUBLISHED_MARK",
    "REASONS",
    "SUPPRESSED_MARK",
    "STATUS_LABELS",
    "TOTAL",
    "AuditReport",
    "DisclosureError",
    "EarlierCell",
    "Profile",
    "ProtectedRelease",
    "ReleaseStats",
    "Table",
    "audit",
    "get_profile",
    "protect",
    "rates",
    "round_to_base",
    "rounding_interval",
]
