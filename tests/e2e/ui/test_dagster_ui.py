"""The Dagster UI as coalition staff open it: `dvnet ui` on 127.0.0.1, lineage, partitions, checks.

Starts the real ``dagster dev`` (webserver + daemon) through ``dvnet ui`` against a temporary
DAGSTER_HOME (a copy of the committed dagster.yaml) and a small network whose bundles were
ingested with ``dvnet ingest``; asks GraphQL for the asset graph; screenshots the lineage page and
the intake partitions with headless Debian chromium. Screenshots go to the test's output folder
and to ``test-output/ui/`` at the repo root. The server is always stopped with SIGTERM.
"""

from __future__ import annotations

import shutil
import socket
import struct
import subprocess
from pathlib import Path

import pytest
from dagster_dev import GRAPH_QUERY, free_port, graphql, start, stop, wait_until_up

REPO = Path(__file__).resolve().parents[3]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PARTITIONS_QUERY = """
{ assetNodeOrError(assetKey: {path: ["intake"]}) { ... on AssetNode {
    partitionKeysByDimension { name partitionKeys } } } }
"""


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

    port = free_port()
    log = tmp_path / "dvnet-ui.log"
    proc = start(kit.root, home, port, log)
    try:
        wait_until_up(port, proc, log)

        nodes = {"/".join(n["assetKey"]["path"]): n for n in graphql(port, GRAPH_QUERY)["assetNodes"]}
        intake = {k: n for k, n in nodes.items() if n["groupName"] == "intake"}
        assert set(intake) == {"intake", "staged_referrals", "staged_service_episodes", "staged_research_extracts", "contribution_counts"}
        deps = {k: {"/".join(d["path"]) for d in n["dependencyKeys"]} for k, n in intake.items()}
        assert deps["staged_service_episodes"] == {"intake"}
        assert deps["contribution_counts"] == {"intake", "staged_referrals", "staged_service_episodes"}
        checks = {k: {c["name"] for c in n["assetChecksOrError"]["checks"]} for k, n in intake.items()}
        assert checks["intake"] == {"bundles_reconcile", "loaded_rows_conform", "quarantine_explained", "agencies_contributed_this_period"}

        dims = {d["name"]: set(d["partitionKeys"]) for d in graphql(port, PARTITIONS_QUERY)["assetNodeOrError"]["partitionKeysByDimension"]}
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
        stop(proc, log)
    assert proc.returncode == 0, log.read_text()[-3000:]  # stopped cleanly by SIGTERM
    assert "dagster dev stopped" in log.read_text()
    with socket.socket() as s:  # nothing listens on the port any more (TIME_WAIT leftovers are fine)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen()
