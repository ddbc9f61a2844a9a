"""Shared fixtures: a fresh network folder with agencies of every tier, and registry dicts.

Helpers are fixtures, not importable functions: the test folders have no ``__init__.py`` (an
``__init__.py`` in ``tests/unit/contracts`` would shadow the real ``contracts`` package), so a
test module cannot import a helper module by name.
"""

from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path

import pytest

from dvnet.common import network as store

def pytest_configure(config: pytest.Config) -> None:
    # The umask `dvnet` sets at its entry: files the tests write beside dvnet's (a warehouse opened
    # with duckdb.connect, say) are owner-only too, as dvnet's check on open expects. The writers'
    # own owner-only modes are tested under umask 022 (test_central_file_modes.py).
    os.umask(0o077)


# --- headline figures ------------------------------------------------------------------------------
#: A test records one quotable line with ``record_property("headline", text)``; the line is shown
#: in the terminal summary of the run (``make test``'s output). Report properties travel from
#: pytest-xdist workers to the controller with each test report, so this works under ``-n``.
HEADLINE = "headline"
_headlines: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        _headlines.extend(str(value) for name, value in report.user_properties if name == HEADLINE)


def pytest_terminal_summary(terminalreporter) -> None:
    if _headlines:
        terminalreporter.section("headlines")
        for line in sorted(set(_headlines)):
            terminalreporter.write_line(line)


NETWORK_NAME = "Riverside DV Response Network"

#: The agencies of the ``network_dir`` fixture: every organisation type, every tier, one suspended.
AGENCIES: tuple[dict, ...] = (
    dict(
        id="shelter-north",
        name="Northern Lights Shelter",
        type="direct_service",
        tier=3,
        region="north-coast",
        services=("emergency shelter", "safety planning"),
        eligibility="Women and children fleeing violence",
        phone="555-0101",
        email="intake@northernlights.example",
        website="https://northernlights.example",
        intake_hours="24/7",
    ),
    dict(
        id="legal-aid-south",
        name="Southside Legal Clinic",
        type="justice_legal",
        tier=2,
        region="south-metro",
        services=("protection orders", "family law"),
        eligibility="Anyone experiencing abuse",
        phone="555-0102",
        email="help@southsidelegal.example",
    ),
    dict(
        id="valley-health",
        name="Valley Community Health Centre",
        type="health_social_care",
        tier=4,
        region="south-valley",
        services=("forensic nursing",),
        eligibility="Adults 16 and over",
        phone="555-0103",
    ),
    dict(
        id="lakes-housing",
        name="Lakes Housing Collective",
        type="housing_homelessness",
        tier=1,
        region="north-lakes",
        services=("rapid rehousing",),
        phone="555-0104",
        website="https://lakeshousing.example",
    ),
    dict(
        id="province-funder",
        name="Southland Ministry of Community Safety",
        type="government_funder",
        tier=1,
        region="south-plains",
        email="grants@southland.example",
    ),
    dict(
        id="uni-research",
        name="Hills University Violence Research Unit",
        type="research_evaluation",
        tier=4,
        region="south-hills",
        services=("evaluation",),
        email="vru@hills.example",
    ),
    dict(
        id="islands-outreach",
        name="Islands Outreach Circle",
        type="direct_service",
        tier=2,
        region="north-islands",
        services=("mobile outreach",),
        phone="555-0199",
        email="circle@islandsoutreach.example",
        status="suspended",
    ),
)


def _add(root: Path, spec: dict) -> store.AgencyConfig:
    spec = dict(spec)
    spec.pop("status", None)
    org = store.organisation(
        spec.pop("id"), spec.pop("name"), spec.pop("type"), spec.pop("tier"), spec.pop("region"), **spec
    )
    return store.add_agency(root, org)


@pytest.fixture
def agencies() -> tuple[dict, ...]:
    """The specifications the ``network_dir`` fixture registered (copies: edit freely)."""
    return copy.deepcopy(AGENCIES)


@pytest.fixture(scope="session")
def _network_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built once: every write in dvnet.common.network fsyncs, which makes a build take ~0.3 s.
    root = tmp_path_factory.mktemp("network-template") / "net"
    store.init_network(root, NETWORK_NAME)
    for spec in AGENCIES:
        _add(root, spec)
        if spec.get("status"):
            store.set_status(root, spec["id"], spec["status"])
    return root


@pytest.fixture
def network_dir(_network_template: Path, tmp_path: Path) -> Path:
    """A fresh network folder made through ``dvnet.common.network``: coordinator keys, a custodian
    linkage key, and ``AGENCIES`` registered with their own agency folders (one suspended).

    Each test gets its own copy (file modes kept), so it may change anything in it.
    """
    root = tmp_path / "net"
    shutil.copytree(_network_template, root, symlinks=True)
    return root


KEY_ID_A = "0123456789abcdef"
KEY_ID_B = "fedcba9876543210"
KEY_ID_C = "00112233aabbccdd"
KEY_ID_D = "aabbccddeeff0011"


def _valid_registry() -> dict:
    return {
        "name": NETWORK_NAME,
        "schema_version": 1,
        "coordinator": {
            "id": "coordinator",
            "name": "Riverside coordinator",
            "encryption_key_id": KEY_ID_A,
            "encryption_public_key": "A" * 43 + "=",
            "signing_key_id": KEY_ID_B,
            "signing_public_key": "B" * 43 + "=",
            "key_epoch": 1,
        },
        "organisations": [
            {
                "id": "shelter-north",
                "name": "Northern Lights Shelter",
                "type": "direct_service",
                "tier": 3,
                "region": "north-coast",
                "services": ["emergency shelter"],
                "eligibility": "Women and children",
                "contact": {"phone": "555-0101", "email": "", "website": "", "intake_hours": "24/7"},
                "status": "active",
                "signing_key_id": KEY_ID_C,
                "signing_public_key": "C" * 43 + "=",
                "joined": "2026-01-15",
            },
            {
                "id": "uni-research",
                "name": "Hills University Violence Research Unit",
                "type": "research_evaluation",
                "tier": 4,
                "region": "south-hills",
                "signing_key_id": KEY_ID_D,
            },
            {
                "id": "lakes-housing",
                "name": "Lakes Housing Collective",
                "type": "housing_homelessness",
                "tier": 1,
                "region": "north-lakes",
            },
        ],
        "agreements": [
            {
                "id": "dsa-2026-01",
                "purpose": "Evaluate warm handoffs between shelters and health care",
                "parties": ["shelter-north", "uni-research"],
                "contracts": ["research_extract/v1"],
                "fields": ["age_band", "region", "linkage_token"],
                "start": "2026-01-01",
                "end": "2027-12-31",
                "ethics_approval": "REB-2025-0420",
                "researchers": [{"id": "r-okafor", "name": "Dr Ada Okafor"}],
                "status": "active",
            }
        ],
    }


@pytest.fixture
def valid_registry() -> dict:
    """A registry as a plain dict (what ``registry.yaml`` loads to) that validates; a fresh copy."""
    return _valid_registry()
