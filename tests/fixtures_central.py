"""Fixtures for the central tests (integration, adversarial, UI): the shared kit
(``integration/central/central_kit.py``), a network, an in-memory Dagster instance. Each folder's
``conftest.py`` re-exports them. The kit is loaded by path once and shared under one module name.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

KIT_NAME = "dvnet_central_kit"
KIT_PATH = Path(__file__).resolve().parent / "integration" / "central" / "central_kit.py"


def load_kit():
    if KIT_NAME not in sys.modules:
        spec = importlib.util.spec_from_file_location(KIT_NAME, KIT_PATH)
        module = importlib.util.module_from_spec(spec)
        sys.modules[KIT_NAME] = module
        spec.loader.exec_module(module)
    return sys.modules[KIT_NAME]


@pytest.fixture
def ck():
    """The central test kit module (frames, sealing, tampering, snapshots, sensor ticks)."""
    return load_kit()


@pytest.fixture
def kit(ck, tmp_path: Path):
    """A fresh network: shelter-a (tier 3), legal-b (tier 2), health-c (tier 3), housing-d (tier 1)."""
    return ck.make_network(tmp_path / "net")


@pytest.fixture
def instance():
    """An in-memory Dagster instance (runs, partitions and events vanish with the test)."""
    from dagster import DagsterInstance

    with DagsterInstance.ephemeral() as inst:
        yield inst


REVIEWERS = ("rev-one", "rev-two")


def add_reviewers(root: Path) -> list[tuple[str, Path]]:
    """Two reviewers (``rev-one``, ``rev-two``, keys under ``people/``) in the network at ``root``,
    registered once by the founding coordinator; (id, key file) each."""
    from dvnet.common import network as store
    from dvnet.common.authority import authorise
    from dvnet.common.people import init_person, read_person_file
    from dvnet.pipelines.ceremony import FOUNDER

    out = []
    for person_id in REVIEWERS:
        folder = Path(root) / "people" / person_id
        if store.load_network(root).person(person_id) is None:
            made = init_person(folder, person_id, f"Reviewer {person_id} (fictional)", "coalition")
            founder = authorise(root, FOUNDER[0], Path(root) / "people" / FOUNDER[0] / "signing.key", "network.add-person")
            store.add_person(root, read_person_file(made.public_file), ["reviewer"], founder)
        out.append((person_id, folder / "signing.key"))
    return out


def publish_reviewed(root: Path, profile: str, periods: list[str], **kw):
    """Request a release as the founding coordinator, approve it by two reviewers and publish it:
    the one way a test gets a published release (the product has no other). The request's
    ``ReleaseResult`` with ``folder`` the published folder."""
    import dataclasses

    from dvnet.assets.releases.lib.release import build_request
    from dvnet.assets.releases.lib.review import decide, publish_request
    from dvnet.common.authority import authorise
    from dvnet.pipelines.ceremony import FOUNDER

    reviewers = add_reviewers(root)
    result = build_request(root, profile, periods, FOUNDER[0], **kw)
    for person_id, key in reviewers:
        decide(root, result.release_id, authorise(root, person_id, key, "review.approve"), "approve", "checked (test)", now=kw.get("now"))
    folder = publish_request(root, result.release_id, now=kw.get("now"))
    return dataclasses.replace(result, folder=folder)
