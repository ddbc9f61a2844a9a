"""The shape every disclosure-control profile takes.

A profile is the whole policy a release is protected under: which counts are sensitive, whether
published counts are rounded, when one agency dominates a cell, how wide an attacker's range for a
suppressed cell must stay, and whether a sensitive cell is suppressed or the table refused.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from dvnet.anonymize.disclosure.errors import INVALID_PROFILE, DisclosureError

ZERO_RULES = ("publish", "suppress")
ON_SENSITIVE = ("suppress", "refuse")


@dataclass(frozen=True)
class Profile:
    """One disclosure-control policy.

    ``threshold`` is the smallest non-zero count that may be published: counts 1..threshold-1 are
    sensitive (and 0 too when ``zeros == "suppress"``). ``rounding_base`` > 1 rounds every
    published count to that base (half up). ``dominance_share``: a cell with value > 0 in which
    one agency contributes more than this share is sensitive (``None`` switches the rule off).
    ``p_percent``: the p % rule, a cell with value > 0 is sensitive when what is left beyond its
    two largest contributing agencies is below ``p_percent`` % of the largest (so the second
    largest, subtracting its own count, cannot tell the largest's to within p %); every cell with
    one or two contributing agencies is sensitive (``None`` switches the rule off). Default 20:
    the same 20 % as ``dominance_protection``, the range the audit then demands of such a cell.
    ``protection_width``: the attacker's feasible range for a sensitive cell must be at least
    this wide; a dominance cell must also span ``dominance_protection`` of its own value.
    ``on_sensitive == "refuse"`` refuses a table with any sensitive cell instead of suppressing.
    """

    name: str
    threshold: int
    zeros: str = "publish"
    rounding_base: int = 1
    dominance_share: float | None = 0.8
    dominance_protection: float = 0.2
    p_percent: float | None = 20.0
    protection_width: int = 10
    on_sensitive: str = "suppress"
    source: str = ""

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.threshold, int) or self.threshold < 1:
            problems.append("threshold must be an integer >= 1")
        if self.zeros not in ZERO_RULES:
            problems.append(f"zeros must be one of {ZERO_RULES}")
        if not isinstance(self.rounding_base, int) or self.rounding_base < 1:
            problems.append("rounding_base must be an integer >= 1")
        if self.dominance_share is not None and not (0.0 < float(self.dominance_share) < 1.0):
            problems.append("dominance_share must be in (0, 1) or None")
        if self.p_percent is not None and not (0.0 < float(self.p_percent) <= 100.0):
            problems.append("p_percent must be in (0, 100] or None")
        if not (0.0 <= float(self.dominance_protection) < 1.0):
            problems.append("dominance_protection must be in [0, 1)")
        if not isinstance(self.protection_width, int) or self.protection_width < 1:
            problems.append("protection_width must be an integer >= 1 (a zero-width range is exact)")
        if self.on_sensitive not in ON_SENSITIVE:
            problems.append(f"on_sensitive must be one of {ON_SENSITIVE}")
        if problems:
            raise DisclosureError(INVALID_PROFILE, "; ".join(problems), profile=self.name)

    @property
    def rounded(self) -> bool:
        return self.rounding_base > 1

    @property
    def suppressed_floor(self) -> int:
        """The least count a suppressed cell can hold, as anyone knowing the rules can tell: 1 when
        zeros are published (a zero is never suppressed), else 0."""
        return 1 if self.zeros == "publish" else 0

    def replace(self, **overrides: object) -> Profile:
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise DisclosureError(
                INVALID_PROFILE,
                f"unknown profile setting(s): {', '.join(unknown)}",
                hint=f"settings are: {', '.join(sorted(known - {'name', 'source'}))}",
                profile=self.name,
            )
        return dataclasses.replace(self, **overrides)

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)
