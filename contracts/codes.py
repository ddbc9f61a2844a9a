"""Code lists shared by every contract version 1.

A code list is the closed set of values a coded field may take. Agencies map their own system's
codes onto these with a mapping file; anything else is rejected as ``CODE_UNKNOWN``. A model
field carries its list as an ``isin`` check; ``code_list`` is the one place that reads it back.
"""

from __future__ import annotations

from dataclasses import dataclass

ORG_TYPES = (
    "direct_service",
    "justice_legal",
    "health_social_care",
    "housing_homelessness",
    "government_funder",
    "research_evaluation",
)
ORG_TYPE_LABELS = {
    "direct_service": "Direct service provider",
    "justice_legal": "Justice & legal partner",
    "health_social_care": "Health & social care",
    "housing_homelessness": "Housing & homelessness service",
    "government_funder": "Government & funder",
    "research_evaluation": "Research, evaluation & academic partner",
}

REFERRAL_REASONS = (
    "safety_shelter",
    "legal",
    "health",
    "counselling",
    "housing",
    "child_protection",
    "financial",
    "other",
)
HANDOFF_TYPES = ("warm", "standard")
REFERRAL_OUTCOMES = ("accepted", "declined", "unable_to_contact", "pending", "withdrawn")
RISK_LEVELS = ("low", "medium", "high", "not_assessed")
GENDERS = ("woman", "man", "non_binary", "another_gender", "not_stated")
LANGUAGES = ("english", "french", "indigenous_language", "other_language", "not_stated")
YES_NO_NOT_STATED = ("yes", "no", "not_stated")

SERVICE_TYPES = (
    "emergency_shelter",
    "transitional_housing",
    "outreach",
    "counselling",
    "legal_advocacy",
    "court_support",
    "medical_care",
    "child_protection_response",
    "housing_support",
)
REFERRAL_SOURCE_TYPES = ("self", "police", "family_or_friend", *ORG_TYPES, "other")
PROTECTION_ORDER_STATUSES = ("none", "applied", "granted", "denied", "not_applicable")
HOUSING_AT_EXIT = ("stable_housing", "temporary_housing", "shelter", "homeless", "still_in_service", "unknown")

RISK_INDICATORS = (
    "strangulation",
    "weapon_access",
    "escalation",
    "recent_separation",
    "threats_to_kill",
    "children_in_household",
    "pregnancy",
)

AGE_BANDS = ("0-17", "18-24", "25-34", "35-44", "45-54", "55-64", "65+")
AGE_BAND_LOWER_BOUNDS = (0, 18, 25, 35, 45, 55, 65)

DAYS_TO_CONTACT_BUCKETS = ("0", "1", "2-3", "4-7", "8-14", "15-30", "31+")
DAYS_TO_CONTACT_LOWER_BOUNDS = (0, 1, 2, 4, 8, 15, 31)


@dataclass(frozen=True)
class CodeList:
    """A model field's code list, and the name its rule has in a failure (what
    ``contracts.conformance`` reports for the ``isin`` check)."""

    values: tuple[str, ...]
    rule: str


def code_list(column) -> CodeList | None:
    """The code list of a pandera column of a contract model: the values its ``isin`` check
    allows, when they are all text; None for a field without one."""
    for check in column.checks:
        allowed = (check.statistics or {}).get("allowed_values")
        if check.name == "isin" and allowed is not None and all(isinstance(v, str) for v in allowed):
            return CodeList(tuple(allowed), check.error or check.name)
    return None
