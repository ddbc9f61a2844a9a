"""The demo network: a coordinator and thirteen fictional agencies of all six types and four tiers.

Synthetic only: invented names, fictional regions, example.org contacts.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path

from dvnet.common import agreements
from dvnet.common import network as store
from dvnet.contracts.geography import Geography
from dvnet.contracts.network import Organisation
from dvnet.pipelines.ceremony import Ceremony

# id, name, type, tier, region, services, eligibility
AGENCIES = (
    ("harbour-house-shelter", "Harbour House Shelter", "direct_service", 4, "south-metro", ("emergency shelter", "counselling", "outreach"), "Women and children experiencing violence"),
    ("northshore-transition-house", "Northshore Transition House", "direct_service", 3, "north-coast", ("transitional housing", "counselling"), "Survivors of any gender, 16+"),
    ("island-outreach", "Island Outreach Collective", "direct_service", 2, "north-islands", ("outreach", "safety planning"), "Island communities"),
    ("metro-general-hospital", "Metro General Hospital DV Team", "health_social_care", 4, "south-metro", ("medical care", "forensic exams"), "Patients disclosing violence"),
    ("valley-community-health", "Valley Community Health Centre", "health_social_care", 3, "south-valley", ("medical care", "counselling"), "Valley residents"),
    ("lakes-child-protection", "Lakes Child Protection Service", "health_social_care", 2, "north-lakes", ("child protection response",), "Families with children"),
    ("metro-dv-court", "Metro Specialised DV Court", "justice_legal", 4, "south-metro", ("court support", "protection orders"), "Parties in DV proceedings"),
    ("plains-legal-aid", "Plains Legal Aid Office", "justice_legal", 2, "south-plains", ("legal advocacy",), "Low-income residents"),
    ("metro-supportive-housing", "Metro Supportive Housing", "housing_homelessness", 3, "south-metro", ("housing support", "landlord mediation"), "People leaving violence"),
    ("hills-emergency-shelter", "Hills Emergency Shelter", "housing_homelessness", 2, "south-hills", ("emergency shelter",), "Anyone without safe housing"),
    ("ministry-social-services", "Ministry of Social Services", "government_funder", 1, "south-metro", ("funding", "policy"), "Partner agencies"),
    ("tundra-wellness-centre", "Tundra Wellness Centre", "health_social_care", 1, "north-tundra", ("counselling",), "Tundra communities"),
    ("riverside-university-evaluation", "Riverside University Evaluation Unit", "research_evaluation", 1, "south-valley", ("evaluation",), "Network partners"),
)
DSA_ID = "dsa-2026-regional-evaluation"
#: The DSA's Tier 4 agencies, whose research contributions its extract links (the evaluation unit
#: is a party too: it holds the project, not client records).
TIER4_PARTIES = ("harbour-house-shelter", "metro-general-hospital", "metro-dv-court")
GEOGRAPHY_FILE = Path(__file__).with_name("demo_geography.yaml")
PERIODS = ("2026-Q2", "2026-Q3")


def demo_organisations() -> list[Organisation]:
    """The demo's agencies as registry organisations without keys or contacts: enough to
    synthesise their extracts (the synth tests and the synth benchmark run on this network)."""
    return [Organisation(id=aid, name=aname, type=atype, tier=tier, region=region) for aid, aname, atype, tier, region, *_ in AGENCIES]


@cache
def demo_geography() -> Geography:
    """The demo network's declared geography: eight made-up regions in two parent areas."""
    return store.read_geography(GEOGRAPHY_FILE)


#: The demo's people besides the founding coordinator, the custodian and one steward per agency.
PEOPLE = (
    ("ben-reviewer", "Ben Reviewer (fictional)", "coalition office", ["reviewer"]),
    ("chen-reviewer", "Chen Reviewer (fictional)", "riverside-university-evaluation", ["reviewer"]),
    ("dara-auditor", "Dara Auditor (fictional)", "regional privacy office", ["auditor"]),
    ("ada-researcher", "Dr. Ada Okafor (fictional)", "riverside-university-evaluation", ["researcher"]),
)
RESEARCHER = "ada-researcher"
REVIEWERS = ("ben-reviewer", "chen-reviewer")  # the two-person check of every release request


def build_demo_network(root: Path, name: str = "Riverside DV Response Network (demo)") -> Ceremony:
    """Run the key ceremony for every party of the demo (each in its own folder under ``root``),
    and add the evaluation DSA as its founding coordinator. Returns the ceremony: its people's key
    folders and what it made."""
    ceremony = Ceremony.found(root, name, geography=demo_geography())
    for aid, aname, atype, tier, region, services, elig in AGENCIES:
        slug = aid.split("-")[0]
        contact = {"phone": f"+1-555-01{len(aid):02d}", "email": f"intake@{slug}.example.org", "website": f"https://{slug}.example.org", "intake_hours": "Mon-Fri 9-17"}
        ceremony.add_agency(aid, aname, atype, tier, region, steward=True, network=name, services=services, eligibility=elig, contact=contact)
    for person_id, person_name, org, roles in PEOPLE:
        ceremony.add_person(person_id, person_name, org, roles)
    # The DSA goes in the way a coordinator adds one (`dvnet dsa add … --as coord-ana`): signed, audited.
    today = dt.date.today()
    end = today + dt.timedelta(days=365)
    agreements.add(root, {
        "id": DSA_ID,
        "purpose": "Regional evaluation of coordinated response outcomes (time-limited)",
        "parties": [*TIER4_PARTIES, "riverside-university-evaluation"],
        "contracts": ["research_extract/v1"],
        "fields": ["linkage_token", "age_band", "region", "service_type", "episode_month", "risk_level", "safety_plan_completed"],
        "periods": list(PERIODS),
        "start": (today - dt.timedelta(days=180)).isoformat(),
        "end": end.isoformat(),
        "ethics_approval": "REB-2026-0142 (fictional)",
        "ethics_expires": end.isoformat(),
        "researchers": [RESEARCHER],
        "min_cell_size": 10,
        "retention_end": (end + dt.timedelta(days=365)).isoformat(),
    }, ceremony.as_person(ceremony.founder, "dsa.add"))  # fmt: skip
    return ceremony
