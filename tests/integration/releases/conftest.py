"""A small loaded network, built once per session: agencies contributed, the coordinator ingested."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dvnet.pipelines.demo import fresh_network, plan
from dvnet.pipelines.demo_network import demo_geography
from dvnet.pipelines.synth import synthesize

PERIOD = "2026-Q3"


@pytest.fixture(scope="session")
def loaded_network_template(tmp_path_factory, contribute_and_ingest) -> Path:
    root = tmp_path_factory.mktemp("release-net") / "net"
    orgs = fresh_network(root).organisations
    synthesize(orgs, root / "agencies", seed=11, periods=[PERIOD], scale=0.5, geography=demo_geography())
    contribute_and_ingest(root, plan(orgs, [PERIOD]))
    return root


@pytest.fixture
def loaded_network(loaded_network_template, tmp_path) -> Path:
    """A private copy, so a test may publish into it."""
    root = tmp_path / "net"
    shutil.copytree(loaded_network_template, root)
    return root


@pytest.fixture(scope="session")
def published(loaded_network_template, tmp_path_factory):
    """(network root, first release) published once in a private copy; tests only read it."""
    from dvnet.assets.releases.lib.release import build_release

    root = tmp_path_factory.mktemp("published") / "net"
    shutil.copytree(loaded_network_template, root)
    return root, build_release(root, "dv-default", [PERIOD])
