"""A loaded network to attack, and the headline line printed at the end of the run.

The headline hook is minimal on purpose: a shared mechanism for every adversarial suite's
headline belongs in tests/conftest.py (another branch adds one); this one only prints lines the
disclosure suite recorded.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dvnet.assets.intake.lib.ingest import CoordinatorContext, ingest_inbox
from dvnet.assets.warehouse.lib import schema as warehouse
from dvnet.pipelines.demo import deliver, fresh_network, plan, run_contributions
from dvnet.pipelines.synth import synthesize

PERIOD = "2026-Q3"
_HEADLINES: list[str] = []


@pytest.fixture(scope="session")
def attack_network_template(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("attack-net") / "net"
    orgs = fresh_network(root)
    synthesize(orgs, root / "agencies", seed=11, periods=[PERIOD], scale=0.5)
    results = run_contributions(root, plan(orgs, [PERIOD]))
    assert all(r.status == "sealed" for r in results)
    deliver(root)
    ctx = CoordinatorContext.load(root)
    con = warehouse.connect(ctx.paths.warehouse)
    try:
        assert {o.outcome for o in ingest_inbox(ctx, con)} == {"loaded"}
    finally:
        con.close()
    return root


@pytest.fixture
def attack_network(attack_network_template, tmp_path) -> Path:
    root = tmp_path / "net"
    shutil.copytree(attack_network_template, root)
    return root


@pytest.fixture
def headline(record_property):
    """``headline(text)`` records a line printed in the terminal summary (through the test's
    report, so it reaches the controller under pytest-xdist too)."""
    return lambda text: record_property("headline", text)


def pytest_runtest_logreport(report):
    if report.when == "call":
        _HEADLINES.extend(v for k, v in report.user_properties if k == "headline")


def pytest_terminal_summary(terminalreporter):
    for line in _HEADLINES:
        terminalreporter.write_line(f"disclosure attack: {line}")
