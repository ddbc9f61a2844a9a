"""The Dagster UI as coalition staff open it: `dvnet ui` on 127.0.0.1, lineage, partitions, checks.

Starts the real ``dagster dev`` (webserver + daemon) through ``dvnet ui`` against a temporary
DAGSTER_HOME (a copy of the committed dagster.yaml) and a small network whose bundles were
ingested with ``dvnet ingest``; asks GraphQL for the asset graph; screenshots the lineage page and
the intake partitions with headless Debian chromium. Screenshots go to the test's output folder
and to ``test-output/ui/`` at the repo root. The server is always stopped with SIGTERM.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
STARTUP_LIMIT_SECONDS = 180  # a bound on waiting, not an assertion about speed
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
GRAPH_QUERY = """
{ assetNodes { assetKey { path } groupName dependencyKeys { path }
    assetChecksOrError { ... on AssetChecks { checks { name } } } } }
"""
PARTITIONS_QUERY = """
{ assetNodeOrError(assetKey: {path: ["intake"]}) { ... on AssetNode {
    partitionKeysByDimension { name partitionKeys } } } }
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, data: bytes | None = None) -> bytes:
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read()


def _graphql(port: int, query: str) -> dict:
    return json.loads(_get(f"http://127.0.0.1:{port}/graphql", json.dumps({"query": query}).encode()))["data"]


def _wait_until_up(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_LIMIT_SECONDS
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"dvnet ui exited early:\n{log.read_text()[-3000:]}"
        try:
            _get(f"http://127.0.0.1:{port}/server_info")
            # The webserver answers before the code location has loaded; wait for the assets too.
            if any(n["groupName"] == "intake" for n in _graphql(port, GRAPH_QUERY)["assetNodes"]):
                return
        except (urllib.error.URLError, ConnectionError, KeyError, TypeError, json.JSONDecodeError):
            pass
        time.sleep(1)
    raise AssertionError(f"the UI did not come up within {STARTUP_LIMIT_SECONDS}s:\n{log.read_text()[-3000:]}")


def _screenshot(url: str, out: Path, profile: Path) -> None:
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", f"--screenshot={out}", "--window-size=1400,900", "--virtual-time-budget=15000", url],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def _stop(proc: subprocess.Popen, log: Path) -> None:
    """SIGTERM to dvnet ui's process group (it forwards to dagster dev), then make sure all is gone."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    found = re.search(r"dagster dev started \(pid (\d+), process group (\d+)\)", log.read_text())
    if found:  # safety net: nothing of dagster dev may outlive the test
        try:
            os.killpg(int(found.group(2)), signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.ui
@pytest.mark.slow
def test_dagster_ui_shows_the_intake_lineage_partitions_and_checks(ck, tmp_path):
    out_dir = tmp_path / "ui-output"
    out_dir.mkdir()
    kit = ck.make_network(tmp_path / "net")
    kit.drop("shelter-a-episodes", kit.records("shelter-a", n=40, seed=1).blob)
    kit.drop("shelter-a-referrals", kit.counts("shelter-a", "referral", n=40, seed=2).blob)
    kit.drop("legal-b-referrals", kit.records("legal-b", "referral", n=30, seed=3).blob)
    kit.drop("tampered", ck.signature_tampered(kit.records("shelter-a", n=5, seed=4).blob))
    home = ck.dagster_home(tmp_path)
    ingested = ck.run_cli(["ingest", "--network", str(kit.root), "--dagster-home", str(home), *ck.as_coordinator(kit.root)])
    assert ingested.returncode == 1 and "SIGNATURE_INVALID" in ingested.stdout, ingested.stderr[-3000:]

    port = _free_port()
    log = tmp_path / "dvnet-ui.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dvnet.pipelines.cli", "ui", "--network", str(kit.root), "--port", str(port), "--dagster-home", str(home)],
            cwd=REPO, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        _wait_until_up(port, proc, log)

        nodes = {"/".join(n["assetKey"]["path"]): n for n in _graphql(port, GRAPH_QUERY)["assetNodes"]}
        intake = {k: n for k, n in nodes.items() if n["groupName"] == "intake"}
        assert set(intake) == {"intake", "staged_referrals", "staged_service_episodes", "staged_research_extracts", "contribution_counts"}
        deps = {k: {"/".join(d["path"]) for d in n["dependencyKeys"]} for k, n in intake.items()}
        assert deps["staged_service_episodes"] == {"intake"}
        assert deps["contribution_counts"] == {"intake", "staged_referrals", "staged_service_episodes"}
        checks = {k: {c["name"] for c in n["assetChecksOrError"]["checks"]} for k, n in intake.items()}
        assert checks["intake"] == {"bundles_reconcile", "loaded_rows_conform", "quarantine_explained", "agencies_contributed_this_period"}

        dims = {d["name"]: set(d["partitionKeys"]) for d in _graphql(port, PARTITIONS_QUERY)["assetNodeOrError"]["partitionKeysByDimension"]}
        assert dims["agency"] == {"shelter-a", "legal-b", "_unverified"} and dims["period"] == {ck.PERIOD, "_unknown"}

        base = f"http://127.0.0.1:{port}"
        shots = {
            "lineage.png": f"{base}/asset-groups",  # every group, with the edges between them
            "intake-group.png": f"{base}/locations/__repository__@dvnet.assets.definitions/asset-groups/intake",
            "intake-partitions.png": f"{base}/assets/intake?view=partitions",  # agency × period
        }
        for name, url in shots.items():
            _screenshot(url, out_dir / name, tmp_path / f"chromium-{name}")
            assert _png_size(out_dir / name) == (1400, 900)
            assert (out_dir / name).stat().st_size > 20_000, f"{name} looks blank"
        published = REPO / "test-output" / "ui"
        published.mkdir(parents=True, exist_ok=True)
        for name in shots:
            shutil.copy2(out_dir / name, published / name)
    finally:
        _stop(proc, log)
    assert proc.returncode == 0, log.read_text()[-3000:]  # stopped cleanly by SIGTERM
    assert "dagster dev stopped" in log.read_text()
    with socket.socket() as s:  # nothing listens on the port any more (TIME_WAIT leftovers are fine)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen()
