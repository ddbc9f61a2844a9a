"""The first release of the small loaded network (``loaded_network_template``, tests/conftest.py)."""

from __future__ import annotations

import shutil

import pytest


PERIOD = "2026-Q3"


@pytest.fixture(scope="session")
def published(loaded_network_template, tmp_path_factory):
    """(network root, first release) published once in a private copy; tests only read it."""
    from fixtures_central import publish_reviewed as build_release

    root = tmp_path_factory.mktemp("published") / "net"
    shutil.copytree(loaded_network_template, root)
    return root, build_release(root, "dv-default", [PERIOD])
