"""Fixtures for the UI test: the central test kit, loaded by path (test folders are not packages)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

KIT_NAME = "dvnet_central_kit"
KIT_PATH = Path(__file__).resolve().parents[2] / "integration" / "central" / "central_kit.py"


@pytest.fixture
def ck():
    """The central test kit module (network, sealed bundles, CLI runner)."""
    if KIT_NAME not in sys.modules:
        spec = importlib.util.spec_from_file_location(KIT_NAME, KIT_PATH)
        module = importlib.util.module_from_spec(spec)
        sys.modules[KIT_NAME] = module
        spec.loader.exec_module(module)
    return sys.modules[KIT_NAME]
