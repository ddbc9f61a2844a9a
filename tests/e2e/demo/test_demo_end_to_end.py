"""The README's main command, end to end, as a user runs it: `dvnet demo` in a subprocess.

A whole simulated network (smaller than the default) goes from synthetic extracts through
contributors, the Dagster intake job and cubes, to a published release; the output names the
release folder, and every record and bundle is accounted for. Every Dagster asset check was
evaluated, on the instance the demo ran on, with the result it must have; and everything the
demo wrote (the whole network, Dagster's storage) is owner-only.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from dvnet.assets.runs import latest_check_results
from dvnet.common.audit_trail import verify_log
from dvnet.pipelines.ceremony import foreign_key_files, private_key_files
from dvnet.common import agreements
from dvnet.common import network as store
from dvnet.common.network import NetworkPaths
from dvnet.pipelines.demo_network import DSA_ID, RESEARCHER

#: Every asset check and the result the demo must leave (passed, severity). The demo network's
#: Tier 2+ agencies all contribute for the latest period, so the freshness warning passes too.
EXPECTED_CHECKS = {
    "intake:bundles_reconcile": (True, "ERROR"),
    "intake:loaded_rows_conform": (True, "ERROR"),
    "intake:quarantine_explained": (True, "ERROR"),
    "intake:agencies_contributed_this_period": (True, "WARN"),
    "service_indicator_cubes:service_indicator_cubes_reconcile": (True, "ERROR"),
    "equity_cubes:equity_cubes_reconcile": (True, "ERROR"),
    "referral_flow_cubes:referral_flow_cubes_reconcile": (True, "ERROR"),
    "published_release:no_exact_or_narrow_ranges": (True, "ERROR"),
    "published_release:no_cell_below_threshold": (True, "ERROR"),
}


def _open_to_others(root: Path, skip: set[Path] = frozenset()) -> list[str]:
    """Files and folders under ``root`` (itself included) that group or others could reach."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        for path in [Path(dirpath), *(Path(dirpath) / n for n in filenames)]:
            st = os.lstat(path)
            if path not in skip and not stat.S_ISLNK(st.st_mode) and st.st_mode & 0o077:
                found.append(f"{path} {stat.S_IMODE(st.st_mode):04o}")
    return found

ROOT = Path(__file__).resolve().parents[3]


def test_demo_runs_contributors_to_release(tmp_path):
    out = tmp_path / "demo-network"
    home = out / "coordinator" / "dagster"  # the network's own instance, made by the demo
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "elsewhere"), "COLUMNS": "200"}  # not read: never the network's instance
    proc = subprocess.run(
        [sys.executable, "-m", "dvnet.pipelines.cli", "demo", "--out", str(out), "--scale", "0.4"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = proc.stdout
    assert "refused (see" not in text, "every planned contribution is sealed: " + text[-500:]
    # The key ceremony is shown: who made which key and where it lives; the coordinator holds only its own.
    assert "Key ceremony: who made which key, where it lives" in text
    assert "2 its own (encryption.key, signing.key), 0 of any other party" in text
    match = re.search(r"^release:\s+(\S+)", text, re.M)  # the summary line, not the stage title "... release: requested, ..."
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

    # Every asset check's latest evaluation on the demo's instance, and the table the demo printed.
    assert latest_check_results(out, home) == EXPECTED_CHECKS
    for name in EXPECTED_CHECKS:
        assert re.search(rf"{name.split(':')[1]}\s+│ passed", text), name
    # The demo's runs are in its own instance, made from the shipped template (telemetry off).
    assert (home / "dagster.yaml").read_text() == (ROOT / "dagster_home" / "dagster.yaml").read_text()
    assert not (tmp_path / "elsewhere").exists()
    # Owner-only: the whole network, what Dagster stored included.
    assert _open_to_others(out) == []
    _research_extract_shown_without_values(out, text)


def _research_extract_shown_without_values(out: Path, text: str) -> None:
    """The named researcher opened the DSA's extract: three Tier 4 agencies' research rows, people
    linked across them; the output says in plain words what it holds, and shows none of its values."""
    dsa = agreements.require(out, DSA_ID)
    tier4 = [p for p in dsa.parties if store.load_network(out).organisation(p).tier == 4]
    assert len(tier4) >= 3, dsa.parties
    table = pq.read_table(out / "people" / RESEARCHER / "extracts" / f"{DSA_ID}.parquet")
    assert tuple(table.column_names) == dsa.fields and table.num_rows > 0
    flat = " ".join(text.split())  # rich wraps long lines
    assert f"extract holds {table.num_rows:,} rows (one per service episode) of {len(dsa.fields)} fields: {', '.join(dsa.fields)}." in flat
    linked = re.search(r"They are ([\d,]+) people, .*?; ([\d,]+) of them were seen at two or more of the (\d+) Tier 4 agencies", flat)
    assert linked, flat[-3000:]
    people = len(set(table.column("linkage_token").to_pylist()))
    assert int(linked.group(1).replace(",", "")) == people and int(linked.group(2).replace(",", "")) > 0 and int(linked.group(3)) == len(tier4)
    tokens = set(table.column("linkage_token").to_pylist())
    assert not [t for t in tokens if t in text], "no linkage token is printed"
