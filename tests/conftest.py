"""Shared fixtures: a fresh network folder with agencies of every tier made through the key
ceremony, registry dicts, and the ``headline`` fixture whose lines ``make test`` prints at the end.

Helpers are fixtures, not importable functions: the test folders have no ``__init__.py`` (an
``__init__.py`` in ``tests/unit/contracts`` would shadow the real ``contracts`` package), so a
test module cannot import a helper module by name.
"""

from __future__ import annotations

import json

import copy
import os
import shutil
from pathlib import Path

import pytest

from dvnet.common import network as store
from dvnet.pipelines.ceremony import FOUNDER, Ceremony
from dvnet.pipelines.demo_network import demo_geography


def pytest_configure(config: pytest.Config) -> None:
    # The umask `dvnet` sets at its entry: files the tests write beside dvnet's (a warehouse opened
    # with duckdb.connect, say) are owner-only too, as dvnet's check on open expects. The writers'
    # own owner-only modes are tested under umask 022 (test_central_file_modes.py).
    os.umask(0o077)


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


def _add(ceremony: Ceremony, spec: dict) -> store.AgencyConfig:
    spec = dict(spec)
    status = spec.pop("status", None)
    contact = {k: spec.pop(k) for k in ("phone", "email", "website", "intake_hours") if k in spec}
    agency = ceremony.add_agency(spec.pop("id"), spec.pop("name"), spec.pop("type"), spec.pop("tier"), spec.pop("region"), contact=contact, **spec)
    if status:
        store.set_status(ceremony.root, agency.agency_id, status, ceremony.as_person(ceremony.founder, "network.suspend"))
    return agency


@pytest.fixture
def agencies() -> tuple[dict, ...]:
    """The specifications the ``network_dir`` fixture registered (copies: edit freely)."""
    return copy.deepcopy(AGENCIES)


@pytest.fixture(scope="session")
def _network_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built once: every write in dvnet.common fsyncs, which makes a build take a second or so.
    root = tmp_path_factory.mktemp("network-template") / "net"
    ceremony = Ceremony.found(root, NETWORK_NAME)
    for spec in AGENCIES:
        _add(ceremony, spec)
    return root


@pytest.fixture
def network_dir(_network_template: Path, tmp_path: Path) -> Path:
    """A fresh network folder made through the key ceremony (``dvnet.pipelines.ceremony``): the
    coordinator's folder, a custodian, ``AGENCIES`` in their own folders (one suspended), and the
    founding coordinator's key under ``people/`` (see ``as_coordinator``).

    Each test gets its own copy (file modes kept), so it may change anything in it.
    """
    root = tmp_path / "net"
    shutil.copytree(_network_template, root, symlinks=True)
    return root


def coordinator_argv(root: Path) -> list[str]:
    """``--as <founding coordinator> --key <their key>`` for a network made by ``Ceremony.found``."""
    return ["--as", FOUNDER[0], "--key", str(Path(root) / "people" / FOUNDER[0] / "signing.key")]


@pytest.fixture
def as_coordinator(network_dir: Path) -> list[str]:
    """The options that run a command as ``network_dir``'s founding coordinator."""
    return coordinator_argv(network_dir)


RESEARCHER = ("ada-researcher", "Dr Ada Okafor (fictional)", "uni-research")
#: The terms of the ``dsa_network`` fixture's agreement (two Tier 4 parties).
DSA_TERMS = {
    "id": "dsa-2026-01",
    "purpose": "Evaluate warm handoffs between shelters and health care",
    "parties": ["valley-health", "uni-research"],
    "contracts": ["research_extract/v1"],
    "fields": ["linkage_token", "age_band", "region", "episode_month"],
    "periods": ["2026-Q2", "2026-Q3"],
    "start": "2026-01-01",
    "end": "2027-12-31",
    "ethics_approval": "REB-2025-0420",
    "ethics_expires": "2027-12-31",
    "researchers": [RESEARCHER[0]],
    "min_cell_size": 5,
    "retention_end": "2028-12-31",
}


@pytest.fixture
def dsa_terms() -> dict:
    """The terms of the ``dsa_network`` fixture's agreement (a copy: edit freely)."""
    return copy.deepcopy(DSA_TERMS)


@pytest.fixture(scope="session")
def researcher_and_dsa():
    """``researcher_and_dsa(root)``: the ``dsa_network`` fixture's researcher and DSA added to the
    network at ``root`` (for fixtures of a wider scope); returns the ceremony that added them."""
    from dvnet.common import agreements
    from dvnet.common.people import PersonFolder

    def add(root: Path) -> Ceremony:
        ceremony = Ceremony(root, FOUNDER[0], {FOUNDER[0]: PersonFolder(root / "people" / FOUNDER[0])})
        ceremony.add_person(*RESEARCHER, ["researcher"])
        agreements.add(root, copy.deepcopy(DSA_TERMS), ceremony.as_person(FOUNDER[0], "dsa.add"))
        return ceremony

    return add


@pytest.fixture
def dsa_network(network_dir: Path, researcher_and_dsa) -> Path:
    """``network_dir`` with a researcher (``ada-researcher``, key under ``people/``) and the DSA of
    ``DSA_TERMS`` (version 1), added by the founding coordinator through ``common.agreements``."""
    researcher_and_dsa(network_dir)
    return network_dir


@pytest.fixture(scope="session")
def contribute_and_ingest():
    """``contribute_and_ingest(root, items)``: each planned contribution (``pipelines.demo.plan``
    items) sealed by its agency, delivered, and loaded by the coordinator's ingest (no Dagster);
    every one must seal and load."""
    from dvnet.assets.intake.lib.ingest import CoordinatorContext, ingest_inbox
    from dvnet.assets.warehouse.lib import schema as warehouse
    from dvnet.pipelines.demo import deliver, run_contributions

    def run(root: Path, items: list) -> None:
        results = run_contributions(root, items)
        assert [r.status for r in results] == ["sealed"] * len(items)
        deliver(root)
        ctx = CoordinatorContext.load(root)
        con = warehouse.connect(ctx.paths.warehouse)
        try:
            assert {o.outcome for o in ingest_inbox(ctx, con)} == {"loaded"}
        finally:
            con.close()

    return run


# Headlines: one line per standing suite, printed at the end of `make test` -----------------------

LOADED_PERIOD = "2026-Q3"


@pytest.fixture(scope="session")
def loaded_network_template(tmp_path_factory, contribute_and_ingest) -> Path:
    """A small network built as the demo builds its own (demo geography, synthetic agencies),
    contributed and ingested once per session, period 2026-Q3."""
    from dvnet.pipelines.demo import fresh_network, plan
    from dvnet.pipelines.synth import synthesize

    root = tmp_path_factory.mktemp("release-net") / "net"
    orgs = fresh_network(root).organisations
    synthesize(orgs, root / "agencies", seed=11, periods=[LOADED_PERIOD], scale=0.5, geography=demo_geography())
    contribute_and_ingest(root, plan(orgs, [LOADED_PERIOD]))
    return root


@pytest.fixture
def loaded_network(loaded_network_template, tmp_path) -> Path:
    """A private copy, so a test may publish (and change records) in it."""
    root = tmp_path / "net"
    shutil.copytree(loaded_network_template, root)
    return root


HEADLINE = "dvnet-headline"


@pytest.fixture
def headline(record_property):
    """``headline(name, text)``: a line printed under "headlines" at the end of the run (also
    under xdist: it travels on the test's report)."""

    def record(name: str, text: str) -> None:
        record_property(HEADLINE, f"{name}: {text}")

    return record


TALLY = "dvnet-tally"
#: Headlines summed over many tests (each adds its counts with the ``tally`` fixture): name -> line.
TALLIES = {
    "crash consistency": "{kills} kills, {partial} partial, {duplicate} duplicate, {unrecorded} unrecorded, {rows_lost} rows lost",
}


@pytest.fixture
def tally(record_property):
    """``tally(name, **counts)``: counts added up over every test that reports them, printed as
    one headline (``TALLIES[name]``) at the end of the run, under xdist too."""

    def record(name: str, **counts: int) -> None:
        assert name in TALLIES, name
        record_property(TALLY, json.dumps([name, counts]))

    return record


def _properties(terminalreporter, wanted: str) -> list:
    """The properties named ``wanted`` of every test's call report (the workers' too, under xdist)."""
    return [
        value
        for reports in terminalreporter.stats.values()
        for report in reports
        if getattr(report, "when", None) == "call"
        for key, value in getattr(report, "user_properties", ())
        if key == wanted
    ]


def _tallied(terminalreporter) -> set[str]:
    sums: dict[str, dict[str, int]] = {}
    for value in _properties(terminalreporter, TALLY):
        name, counts = json.loads(value)
        for k, v in counts.items():
            sums.setdefault(name, {}).setdefault(k, 0)
            sums[name][k] += int(v)
    return {f"{name}: " + TALLIES[name].format_map({k: 0 for k in _fields(TALLIES[name])} | got) for name, got in sums.items()}


def _fields(template: str) -> list[str]:
    import string

    return [f for _, f, _, _ in string.Formatter().parse(template) if f]


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    lines = set(_properties(terminalreporter, HEADLINE)) | _tallied(terminalreporter)
    if lines:
        terminalreporter.section("headlines")
        for line in sorted(lines):
            terminalreporter.write_line(line)


KEY_ID_A = "0123456789abcdef"
KEY_ID_B = "fedcba9876543210"
KEY_ID_C = "00112233aabbccdd"
KEY_ID_D = "aabbccddeeff0011"


def _valid_registry() -> dict:
    return {
        "name": NETWORK_NAME,
        "schema_version": 1,
        "geography": demo_geography().to_dict(),
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
    }


@pytest.fixture
def valid_registry() -> dict:
    """A registry as a plain dict (what ``registry.yaml`` loads to) that validates; a fresh copy."""
    return _valid_registry()
