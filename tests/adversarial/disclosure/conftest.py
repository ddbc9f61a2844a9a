"""A loaded network to attack (the headline line goes through the shared ``headline`` fixture)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dvnet.pipelines.demo import fresh_network, plan
from dvnet.pipelines.demo_network import demo_geography
from dvnet.pipelines.synth import synthesize

PERIOD = "2026-Q3"


@pytest.fixture(scope="session")
def attack_network_template(tmp_path_factory, contribute_and_ingest) -> Path:
    root = tmp_path_factory.mktemp("attack-net") / "net"
    orgs = fresh_network(root).organisations
    synthesize(orgs, root / "agencies", seed=11, periods=[PERIOD], scale=0.5, geography=demo_geography())
    contribute_and_ingest(root, plan(orgs, [PERIOD]))
    return root


@pytest.fixture
def attack_network(attack_network_template, tmp_path) -> Path:
    root = tmp_path / "net"
    shutil.copytree(attack_network_template, root)
    return root
