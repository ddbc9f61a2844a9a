"""A release-specific policy: threshold, rounding base, zero handling and dominance share.

Defaults are dvnet's (dv_default); any may be set. When ``protection_width`` is not given it is
derived: ``threshold - 1`` (the width of the suppressed band 1..threshold-1), and for a rounded
profile at least the width of a rounded value's interval, so a suppressed cell is never better
known than a published one. ACRO's practice (threshold 10, zeros disclosive) is
``custom(threshold=10, zeros="suppress")``: ``protect`` honours it on tables that hold every
combination, and a release request refuses it (``release._refuse_hidden_zeros``), since release
tables leave a zero's row out.
"""

from __future__ import annotations

from dvnet.anonymize.disclosure.profiles import dv_default
from dvnet.anonymize.disclosure.profiles.base import Profile

NAME = "custom"
SOURCE = "custom policy set for this release"


def custom(**settings: object) -> Profile:
    threshold = settings.pop("threshold", dv_default.THRESHOLD)
    base = settings.pop("rounding_base", 1)
    width = settings.pop("protection_width", None)
    if width is None and isinstance(threshold, int) and isinstance(base, int):
        width = max(threshold - 1, 2 * (base // 2), 1)
    fields = {
        "zeros": dv_default.ZEROS,
        "dominance_share": dv_default.DOMINANCE_SHARE,
        "dominance_protection": dv_default.DOMINANCE_PROTECTION,
        "p_percent": dv_default.P_PERCENT,
        "source": SOURCE,
        **settings,
    }
    probe = Profile(name=NAME, threshold=dv_default.THRESHOLD)
    probe.replace(**fields)  # rejects unknown settings with a typed error
    return Profile(name=NAME, threshold=threshold, rounding_base=base, protection_width=width, **fields)
