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
