"""The standard count tables of each contract: what aggregate mode sends, and what cubes add up.

Each table counts one measure by at most three dimensions (DESIGN §3): low-dimensional on
purpose, never one sparse cube over every field, whose cells of 1 would be records in disguise.
Dimensions are columns of the contract's de-identified output, or derived expressions defined
here in trusted code. The same definitions run on both sides: the contributor computes them from
its de-identified frame in aggregate mode; the coordinator computes them from staged rows in
record mode; both land in the same count tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dvnet.contracts import codes

MAX_DIMS = 3


@dataclass(frozen=True)
class StandardTable:
    """One count table: ``measure`` counted by ``dims`` (each a column or a derived expression)."""

    name: str
    description: str
    measure: str
    dims: tuple[str, ...]
    derived: dict[str, str] = field(default_factory=dict)  # dim -> SQL expression over output columns
    unpivot: tuple[str, ...] = ()  # boolean columns counted where true, under the dim ``indicator``

    def __post_init__(self) -> None:
        if len(self.dims) > MAX_DIMS:
            raise ValueError(f"standard table {self.name} has more than {MAX_DIMS} dimensions")


NO_CONTACT_YET = "no_contact_yet"
_DAYS_BUCKET = (
    f"CASE WHEN days_to_first_contact IS NULL THEN '{NO_CONTACT_YET}' "
    + " ".join(
        f"WHEN days_to_first_contact >= {lo} THEN '{label}'"
        for lo, label in reversed(list(zip(codes.DAYS_TO_CONTACT_LOWER_BOUNDS, codes.DAYS_TO_CONTACT_BUCKETS)))
    )
    + " END"
)

REFERRAL_TABLES = (
    StandardTable(
        "referral_flows",
        "Referrals by referring organisation, receiving organisation and outcome.",
        "referrals",
        ("referring_org", "receiving_org", "outcome"),
    ),
    StandardTable(
        "referral_handoffs",
        "Referrals by receiving organisation, handoff type (warm or standard) and outcome.",
        "referrals",
        ("receiving_org", "handoff_type", "outcome"),
    ),
    StandardTable(
        "referral_first_contact",
        "Referrals by receiving organisation, handoff type and days to first contact (bucketed).",
        "referrals",
        ("receiving_org", "handoff_type", "days_to_first_contact_bucket"),
        derived={"days_to_first_contact_bucket": _DAYS_BUCKET},
    ),
    StandardTable(
        "referrals_by_reason",
        "Referrals by region, reason and risk level.",
        "referrals",
        ("region", "referral_reason", "risk_level"),
    ),
)

_OUTCOMES = ("safety_plan_completed", "protection_order_status", "housing_status_at_exit")
EQUITY_DIMENSIONS = ("gender", "age_band", "indigenous_identity", "disability", "language", "region")
RISK_INDICATOR_COLUMNS = tuple(f"risk_{name}" for name in codes.RISK_INDICATORS)
#: The values of the dimensions defined here rather than in an output model: the unpivoted
#: indicator (its column name without ``risk_``) and the days-to-first-contact bucket.
DERIVED_CODES = {
    "indicator": codes.RISK_INDICATORS,
    "days_to_first_contact_bucket": (*codes.DAYS_TO_CONTACT_BUCKETS, NO_CONTACT_YET),
}
#: How a boolean column reads as a dimension (``anonymize.counts`` casts it to text).
BOOLEAN_CODES = ("true", "false")

SERVICE_EPISODE_TABLES = (
    StandardTable(
        "episodes_by_region_service_risk",
        "Service episodes by region, service type and risk level.",
        "episodes",
        ("region", "service_type", "risk_level"),
    ),
    StandardTable(
        "risk_indicators_by_service",
        "Service episodes with each shared risk indicator present, by service type.",
        "episodes_with_indicator",
        ("service_type", "indicator"),
        unpivot=RISK_INDICATOR_COLUMNS,
    ),
    *(
        StandardTable(
            f"{outcome}_by_service",
            f"Service episodes by service type and {outcome.replace('_', ' ')}.",
            "episodes",
            ("service_type", outcome),
        )
        for outcome in _OUTCOMES
    ),
    *(
        StandardTable(
            f"{outcome}_by_{dim}",
            f"Service episodes by {dim.replace('_', ' ')} and {outcome.replace('_', ' ')} (equity view).",
            "episodes",
            (dim, outcome),
        )
        for dim in EQUITY_DIMENSIONS
        for outcome in _OUTCOMES
    ),
)
