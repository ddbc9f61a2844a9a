"""A network with a geography of its own, through the commands its people type: regions and parent
areas come from its registry in the agencies' reports, the coordinator's checks and the cubes."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import yaml

from dvnet.assets.intake.lib.ingest import CoordinatorContext, ingest_inbox
from dvnet.assets.warehouse.lib.cubes import rebuild_cubes
from dvnet.common import network as store
from dvnet.pipelines.cli import main
from dvnet.pipelines.contributor.run import ContributionOptions, contribute

pytestmark = pytest.mark.slow

PERIOD = "2026-Q3"
GEOGRAPHY = {
    "regions": [
        {"id": "harbour-ward", "parent_area": "east-county", "postal_prefixes": ["E1A", "E1B"]},
        {"id": "mill-ward", "parent_area": "east-county", "postal_prefixes": ["E2A"]},
        {"id": "moor-ward", "parent_area": "west-county", "postal_prefixes": ["W1A"]},
    ]
}
OWN_REGIONS = {"harbour-ward", "mill-ward", "moor-ward"}


def _join(root: Path, org_id: str, org_type: str, tier: int, region: str) -> int:
    """The agency's side and the coordinator's of the ceremony; the exit code of the registration."""
    folder = store.NetworkPaths(root).agencies / org_id
    assert main(["agency", "init", str(folder), "--id", org_id, "--name", org_id.title(), "--type", org_type, "--tier", str(tier), "--region", region], {}) == 0
    code = main(["network", "register-agency", "--network", str(root), str(folder / "registration.yaml"), *_as_founder(root)], {})
    if code == 0:
        assert main(["agency", "pin-coordinator", str(folder), str(store.NetworkPaths(root).coordinator_public)], {}) == 0
    return code


def _as_founder(root: Path) -> list[str]:
    return ["--as", "coord-ana", "--key", str(root.parent / "ana" / "signing.key")]


@pytest.fixture
def network(tmp_path: Path) -> Path:
    geography = tmp_path / "geography.yaml"
    geography.write_text(yaml.safe_dump(GEOGRAPHY))
    root = tmp_path / "net"
    assert main(["person", "init", str(tmp_path / "ana"), "--id", "coord-ana", "--name", "Ana", "--org", "Eastmoor office"], {}) == 0
    assert main(["network", "init", "--network", str(root), "--name", "Eastmoor network", "--geography", str(geography),
                 "--founder", str(tmp_path / "ana" / "person.yaml"), "--key", str(tmp_path / "ana" / "signing.key")], {}) == 0  # fmt: skip
    for org_id, org_type, tier, region in (("harbour-shelter", "direct_service", 3, "harbour-ward"), ("moor-legal", "justice_legal", 2, "moor-ward")):
        assert _join(root, org_id, org_type, tier, region) == 0
    assert main(["synth", "--network", str(root), "--period", PERIOD, "--scale", "0.3"], {}) == 0
    return root


def _agency(root: Path, agency_id: str = "harbour-shelter") -> store.AgencyConfig:
    return store.load_agency(store.NetworkPaths(root).agencies / agency_id)


def _contribute(root: Path, contract: str = "service_episode") -> None:
    agency = _agency(root)
    result = contribute(agency, ContributionOptions(contract_id=contract, extract=agency.folder / "extracts" / f"{contract}_{PERIOD}.csv", period=PERIOD))
    assert result.status == "sealed", result.to_dict()
    paths = store.NetworkPaths(root)
    for bundle_file in (agency.folder / "outbox").glob("*.dvb"):
        bundle_file.rename(paths.inbox / bundle_file.name)


def _ingest(root: Path) -> list:
    con = duckdb.connect(str(store.NetworkPaths(root).warehouse))
    try:
        return ingest_inbox(CoordinatorContext.load(root), con)
    finally:
        con.close()


def test_an_agency_outside_the_declared_regions_cannot_be_registered(network, capsys):
    capsys.readouterr()
    assert _join(network, "metro-clinic", "health_social_care", 2, "south-metro") == 2  # the agency's own init cannot know the regions
    err = capsys.readouterr().err
    assert "registration.region" in err and "harbour-ward" in err
    assert store.load_network(network).organisation("metro-clinic") is None


def test_the_agency_holds_the_network_geography_and_generalises_to_it(network, tmp_path):
    agency = _agency(network)
    assert set(agency.geography.region_ids) == OWN_REGIONS
    _contribute(network)
    outcomes = _ingest(network)
    assert [o.outcome for o in outcomes] == ["loaded"]
    con = duckdb.connect(str(store.NetworkPaths(network).warehouse))
    try:
        regions = {r[0] for r in con.execute("SELECT DISTINCT region FROM contribution_counts WHERE region IS NOT NULL").fetchall()}
        assert "harbour-ward" in regions and regions <= OWN_REGIONS | {"unknown"}
        rebuild_cubes(con, store.load_network(network))
        provinces = {r[0] for r in con.execute("SELECT DISTINCT province FROM cube_episodes_by_region_service_risk").fetchall()}
    finally:
        con.close()
    assert "east-county" in provinces and provinces <= {"east-county", "west-county", "unknown"}

    out = tmp_path / "dictionary"
    assert main(["contracts", "docs", "--out", str(out), "--agency", str(agency.folder)], {}) == 0
    md = (out / "data-dictionary.md").read_text()
    assert "| harbour-ward |  | east-county | E1A E1B |" in md


def test_the_coordinator_refuses_a_region_its_network_did_not_declare(network):
    # An agency whose agency.yaml holds another geography (stale, or edited) generalises to regions
    # the network never declared: the coordinator quarantines the bundle, naming the column only.
    config = _agency(network).folder / "agency.yaml"
    data = yaml.safe_load(config.read_text())
    data["geography"]["regions"][0]["id"] = "rogue-ward"
    config.write_text(yaml.safe_dump(data))
    _contribute(network)
    (outcome,) = _ingest(network)
    assert outcome.outcome == "quarantined" and outcome.reason == "CONTRACT_VIOLATION"
    assert "region:in_network_geography" in outcome.message and "rogue" not in outcome.message
