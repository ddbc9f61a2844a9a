"""The realism knobs of the synthetic network: volumes, rates and mixes, as named constants.

Every number here is invented to look plausible for a DV response network, not estimated from any
real data. Downstream features depend on their *shape* (skewed regions so small cells occur,
indicators correlated with risk, expired consents), so change them knowingly: the synth tests
check those shapes, not the exact values.
"""

from __future__ import annotations

from statistics import median

from dvnet.contracts import codes

# --- Geography -----------------------------------------------------------------------------------
# Per-region knobs are keyed by the demo network's regions (pipelines/demo_geography.yaml); a
# network with regions of its own gets the median for each (``region_size``, ``indigenous_share``).
# Relative size of each region's community. Multiplies agency volumes, so an agency in a tiny
# region sees tens of clients a quarter, and weights where people who travel for services live.
REGION_SIZE = {
    "south-metro": 1.0,
    "south-valley": 0.30,
    "north-coast": 0.25,
    "south-plains": 0.18,
    "north-lakes": 0.15,
    "south-hills": 0.03,
    "north-islands": 0.025,
    "north-tundra": 0.02,
}
# Share of an agency's clients who live in the agency's own region; the rest live anywhere,
# weighted by REGION_SIZE (people travel to metro services, or are placed away from an abuser).
HOME_REGION_SHARE = 0.85
# Preference for a second agency in the same region / same province / elsewhere.
REGION_AFFINITY = (1.0, 0.10, 0.01)
# Share of clients whose postal code differs at a second agency (they moved between contacts).
MOVED_SHARE = 0.05
# Agencies whose system stores postal codes without the space (``S1A2B3``).
POSTAL_NO_SPACE_SHARE = 0.25
# Letters used in the last three postal characters (the style of Canadian postal codes).
POSTAL_LETTERS = "ABCEGHJKLMNPRSTVWXYZ"

# --- Volumes -------------------------------------------------------------------------------------
# Rows per quarter for an agency of this type in a region of size 1.0 (south-metro), before
# ``scale``: a metro shelter has thousands of episodes a quarter, a rural legal aid office tens.
EPISODES_PER_QUARTER = {
    "direct_service": 2600,
    "health_social_care": 1900,
    "justice_legal": 950,
    "housing_homelessness": 800,
    "government_funder": 150,
    "research_evaluation": 60,
}
REFERRALS_PER_QUARTER = {
    "direct_service": 1000,
    "health_social_care": 800,
    "justice_legal": 650,
    "housing_homelessness": 320,
    "government_funder": 120,
    "research_evaluation": 30,
}
AGENCY_SIZE_SIGMA = 0.25  # log-normal spread of one agency's size around its type's volume
PERIOD_SIZE_SIGMA = 0.08  # log-normal spread between quarters of one agency
MIN_ROWS = 1  # every extract has at least one row, so each file exercises the contract

# --- People --------------------------------------------------------------------------------------
# How many agencies one person appears at: about a third of people at two or more.
AGENCIES_PER_PERSON = {1: 0.66, 2: 0.22, 3: 0.08, 4: 0.04}
RECORDS_PER_CLIENT = 1.3  # repeat episodes/referrals of the same client at one agency
ADULT_AGE_MIN = 18
AGE_GAMMA = (2.6, 6.0)  # shape, scale of (age - 18): mean about 34
YOUTH_SHARE = 0.02  # clients aged 15-17
AGE_MAX = 92
GENDER_MIX = {"woman": 0.895, "man": 0.075, "non_binary": 0.018, "another_gender": 0.012}
INDIGENOUS_SHARE = {
    "north-coast": 0.28,
    "north-lakes": 0.32,
    "north-islands": 0.50,
    "north-tundra": 0.65,
    "south-metro": 0.05,
    "south-valley": 0.06,
    "south-plains": 0.09,
    "south-hills": 0.08,
}


def region_size(region: str) -> float:
    return REGION_SIZE.get(region, median(REGION_SIZE.values()))


def indigenous_share(region: str) -> float:
    return INDIGENOUS_SHARE.get(region, median(INDIGENOUS_SHARE.values()))
DISABILITY_SHARE = 0.19
# Language mix by person: english, french, indigenous_language, other_language. Indigenous
# language is drawn for Indigenous people only (INDIGENOUS_LANGUAGE_SHARE of them).
LANGUAGE_MIX = {"english": 0.80, "french": 0.12, "other_language": 0.08}
INDIGENOUS_LANGUAGE_SHARE = 0.25

# Per-record missingness, as real agency systems have it.
NAME_MISSING = 0.04  # anonymous or unnamed intakes (never in research extracts)
DOB_MISSING = 0.03
POSTAL_MISSING = 0.05
GENDER_NOT_STATED = 0.03
INDIGENOUS_NOT_STATED = 0.07
DISABILITY_NOT_STATED = 0.09
# Name spelling at one agency: as canonical, UPPER, lower, accents dropped, double space,
# stray leading/trailing space. Some systems store every name in upper case.
NAME_VARIANTS = (0.80, 0.05, 0.03, 0.07, 0.03, 0.02)
UPPER_CASE_SYSTEM_SHARE = 0.15

# --- Timing --------------------------------------------------------------------------------------
WEEKEND_WEIGHT = 0.45  # fewer intakes on Saturdays and Sundays
EXTRACT_LAG_DAYS = 14  # the extract is taken this many days after the period ends
LATE_IN_PERIOD_DAYS = 14  # referrals this close to the extract are more often still pending

# --- Risk ----------------------------------------------------------------------------------------
RISK_MIX = {  # low, medium, high, not_assessed
    "direct_service": (0.18, 0.40, 0.34, 0.08),
    "justice_legal": (0.20, 0.40, 0.30, 0.10),
    "health_social_care": (0.25, 0.35, 0.20, 0.20),
    "housing_homelessness": (0.30, 0.40, 0.15, 0.15),
    "government_funder": (0.30, 0.35, 0.15, 0.20),
    "research_evaluation": (0.30, 0.35, 0.15, 0.20),
}
assert tuple(codes.RISK_LEVELS) == ("low", "medium", "high", "not_assessed")
# Overall rate of each indicator, and how strongly it rises with risk (multiplier at low,
# medium, high, not_assessed; normalised so the overall rate holds for each agency's risk mix).
INDICATOR_RATES = {
    "strangulation": (0.15, (0.3, 0.9, 2.0, 0.8)),
    "weapon_access": (0.10, (0.3, 0.9, 2.0, 0.8)),
    "escalation": (0.35, (0.4, 1.0, 1.6, 0.9)),
    "recent_separation": (0.40, (0.7, 1.0, 1.3, 0.9)),
    "threats_to_kill": (0.20, (0.25, 0.9, 2.1, 0.8)),
    "children_in_household": (0.50, (0.9, 1.0, 1.1, 1.0)),
    "pregnancy": (0.07, (0.8, 1.0, 1.3, 1.0)),
}
assert tuple(INDICATOR_RATES) == codes.RISK_INDICATORS
PREGNANCY_AGE_MAX = 49  # pregnancy is drawn only for women aged 15-49
SAFETY_PLAN_BY_RISK = (0.55, 0.74, 0.84, 0.38)  # low, medium, high, not_assessed: ~70 % overall

# --- Consent -------------------------------------------------------------------------------------
CONSENT_SHARE = 0.76
CONSENT_EXPIRED_SHARE = 0.14  # of consents: expiry before the period end
CONSENT_EXPIRING_SOON_SHARE = 0.10  # of consents: expiry within 90 days after the period end
CONSENT_TERMS_DAYS = (365, 730, 1095)

# --- Service episodes ----------------------------------------------------------------------------
SERVICE_MIX = {
    "direct_service": {"emergency_shelter": 0.40, "transitional_housing": 0.10, "outreach": 0.25, "counselling": 0.25},
    "justice_legal": {"legal_advocacy": 0.55, "court_support": 0.45},
    "health_social_care": {"medical_care": 0.55, "counselling": 0.30, "child_protection_response": 0.15},
    "housing_homelessness": {"housing_support": 0.60, "transitional_housing": 0.25, "emergency_shelter": 0.15},
    "government_funder": {"child_protection_response": 0.60, "housing_support": 0.40},
    "research_evaluation": {"counselling": 0.70, "outreach": 0.30},
}
# Mean episode length in days (gamma with shape 1.5): an episode still running at the extract
# date is open (empty end, housing ``still_in_service``).
EPISODE_DAYS = {
    "emergency_shelter": 21,
    "transitional_housing": 200,
    "outreach": 45,
    "counselling": 90,
    "legal_advocacy": 120,
    "court_support": 50,
    "medical_care": 1.5,
    "child_protection_response": 60,
    "housing_support": 150,
}
SOURCE_MIX = {  # self, police, family_or_friend, six org types, other
    "direct_service": (0.34, 0.20, 0.10, 0.05, 0.06, 0.12, 0.05, 0.02, 0.00, 0.06),
    "justice_legal": (0.15, 0.40, 0.05, 0.20, 0.08, 0.04, 0.02, 0.02, 0.00, 0.04),
    "health_social_care": (0.45, 0.15, 0.12, 0.08, 0.02, 0.10, 0.02, 0.01, 0.00, 0.05),
    "housing_homelessness": (0.25, 0.05, 0.05, 0.35, 0.03, 0.08, 0.12, 0.04, 0.00, 0.03),
    "government_funder": (0.10, 0.30, 0.10, 0.15, 0.10, 0.15, 0.03, 0.02, 0.00, 0.05),
    "research_evaluation": (0.40, 0.05, 0.10, 0.25, 0.05, 0.10, 0.00, 0.00, 0.00, 0.05),
}
PROTECTION_ORDER_MIX = {  # none, applied, granted, denied, not_applicable
    "justice_legal": (0.22, 0.25, 0.38, 0.08, 0.07),
    "default": (0.55, 0.10, 0.12, 0.03, 0.20),
}
HOUSING_EXIT_MIX = {  # stable, temporary, shelter, homeless, (still_in_service), unknown
    "sheltered": (0.32, 0.30, 0.14, 0.06, 0.18),  # emergency shelter, transitional, housing support
    "default": (0.55, 0.12, 0.05, 0.03, 0.25),
}
SHELTERED_SERVICES = ("emergency_shelter", "transitional_housing", "housing_support")

# --- Referrals -----------------------------------------------------------------------------------
# Which type of organisation each type refers to (rows and columns in codes.ORG_TYPES order).
REFERRAL_FLOWS = {
    "direct_service": (0.25, 0.25, 0.15, 0.30, 0.05, 0.00),
    "justice_legal": (0.35, 0.40, 0.10, 0.10, 0.05, 0.00),
    "health_social_care": (0.50, 0.10, 0.20, 0.15, 0.05, 0.00),
    "housing_homelessness": (0.40, 0.10, 0.15, 0.30, 0.05, 0.00),
    "government_funder": (0.35, 0.15, 0.20, 0.25, 0.05, 0.00),
    "research_evaluation": (0.40, 0.20, 0.20, 0.20, 0.00, 0.00),
}
RECEIVER_REGION_WEIGHT = (3.0, 1.0, 0.3)  # same region / same province / elsewhere
# Main reason by the receiving organisation's type (codes.REFERRAL_REASONS order).
REASON_BY_RECEIVER = {
    "direct_service": (0.50, 0.02, 0.02, 0.35, 0.03, 0.02, 0.03, 0.03),
    "justice_legal": (0.02, 0.85, 0.00, 0.02, 0.00, 0.05, 0.03, 0.03),
    "health_social_care": (0.02, 0.00, 0.55, 0.30, 0.00, 0.08, 0.00, 0.05),
    "housing_homelessness": (0.10, 0.00, 0.00, 0.00, 0.80, 0.00, 0.07, 0.03),
    "government_funder": (0.00, 0.02, 0.00, 0.00, 0.10, 0.45, 0.35, 0.08),
    "research_evaluation": (0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 1.00),
}
WARM_SHARE = {
    "direct_service": 0.50,
    "justice_legal": 0.35,
    "health_social_care": 0.55,
    "housing_homelessness": 0.40,
    "government_funder": 0.20,
    "research_evaluation": 0.20,
}
WARM_SHIFT_BY_RISK = (-0.10, 0.0, 0.15, -0.05)  # low, medium, high, not_assessed
# accepted, declined, unable_to_contact, pending, withdrawn
OUTCOME_MIX = {"standard": (0.58, 0.08, 0.14, 0.12, 0.08), "warm": (0.70, 0.06, 0.06, 0.11, 0.07)}
LATE_PENDING_FACTOR = 3.0
# Share of referrals with a first contact, by outcome (unable_to_contact never has one).
CONTACTED_BY_OUTCOME = (1.0, 1.0, 0.0, 0.25, 0.7)
WARM_CONTACT_P = 0.7  # geometric: most warm handoffs are contacted the same or next day
STANDARD_CONTACT_NB = (1.4, 0.28)  # negative binomial: mean ~3.6 days with a long tail
