"""The README's main command, end to end, as a user runs it: `dvnet demo` in a subprocess.

A whole simulated network (smaller than the default) goes from synthetic extracts through
contributors, the Dagster intake job and cubes, to a published release; the output names the
release folder, and every record and bundle is accounted for.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb

from dvnet.common.audit_trail import verify_log
from dvnet.pipelines.ceremony import foreign_key_files, private_key_files
from dvnet.common.network import NetworkPaths

ROOT = Path(__file__).resolve().parents[3]


def test_demo_runs_contributors_to_release(tmp_path):
    out, home = tmp_path / "demo-network", tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "COLUMNS": "200"}
    proc = subprocess.run(
        [sys.executable, "-m", "dvnet.pipelines.cli", "demo", "--out", str(out), "--scale", "0.4"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = proc.stdout
    # The key ceremony is shown: who made which key and where it lives; the coordinator holds only its own.
    assert "Key ceremony: who made which key, where it lives" in text
    assert "2 its own (encryption.key, signing.key), 0 of any other party" in text
    match = re.search(r"release:\s+(\S+)", text)
    assert match, text[-2000:]
    release = Path(match.group(1))
    assert (release / "release.duckdb").exists() and (release / "report.html").exists()
    manifest = json.loads((release / "manifest.json").read_text())
    assert manifest["audit"]["passed"]

    paths = NetworkPaths(out)
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        loaded = con.execute("SELECT count(*) FROM ledger").fetchone()[0]
        bad = con.execute("SELECT count(*) FROM ledger WHERE record_count <> rows_loaded").fetchone()[0]
    finally:
        con.close()
    delivered = len(list((paths.coordinator / "archive").glob("*.dvb"))) + len(list(paths.quarantine.glob("*.dvb")))
    assert loaded == delivered > 20, "every delivered bundle is loaded or quarantined"
    assert bad == 0
    assert not list(paths.inbox.glob("*.dvb")), "the inbox is empty afterwards"
    # Each contribution left its steward a report (HTML for people, JSON for scripts) that
    # reconciles, and every audit log verifies.
    reports = sorted(paths.agencies.glob("*/reports/*.json"))
    assert len(reports) >= delivered
    for report in reports:
        assert json.loads(report.read_text())["reconciles"], report
        assert report.with_suffix(".html").exists(), report
    # Every audit log verifies: chain, signatures, signed head; the coordinator's against every
    # receipt and the release manifest too.
    coordinator_log = verify_log(paths.audit_log)
    assert coordinator_log.entries > 0 and coordinator_log.head_signed and coordinator_log.anchors > delivered
    for log in [*paths.agencies.glob("*/audit.log"), out / "custodian" / "audit.log"]:
        assert verify_log(log).head_signed
    # The key ceremony left the coordinator's folder holding its own two keys and nothing else secret.
    assert foreign_key_files(out) == [] and len(private_key_files(paths.coordinator)) == 2
    # Receipts came back to the agencies.
    assert len(list(paths.agencies.glob("*/receipts/*.json"))) == delivered
