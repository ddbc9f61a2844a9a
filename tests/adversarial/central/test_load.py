"""Suite 6, load: many bundles from many agencies arrive at once, with re-deliveries, second
bundles for a quarter already sent, and tampered files; the sensor-driven intake job works through
them while two `dvnet ingest` and a `dvnet publish` run at the same time.

Everything is checked against what each file is: every original loaded exactly once, every
re-delivery recorded as a duplicate, every second bundle for a quarter and every tampered file
quarantined with its reason, the inbox empty, no process or run crashed. Headline:
``load: B bundles, L loaded, Q quarantined, 0 lost, 0 twice, 0 crashed``.
CI sizes it at 10 agencies × 2 contracts × 3 quarters; ``DVNET_ADVERSARIAL_FULL=1`` at 50 × 2 × 9
(over 1,000 files with the extras: the issue's "1,000 bundles from 50 agencies").
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance, DagsterRunStatus

from dvnet.common import audit

FULL = os.environ.get("DVNET_ADVERSARIAL_FULL") == "1"
EXTRA_AGENCIES, QUARTERS = (46, ("2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4", "2026-Q1", "2026-Q2", "2026-Q3", "2024-Q4", "2024-Q3")) if FULL else (8, ("2026-Q1", "2026-Q2", "2026-Q3"))
REPO = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.slow


def _cli(ck, kit, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dvnet.pipelines.cli", *args, "--network", str(kit.root), *ck.as_coordinator(kit.root)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def test_a_flood_of_bundles_with_concurrent_ingests_and_a_publish(ck, tmp_path, headline):
    kit = ck.make_network(tmp_path / "net")
    senders = ["shelter-a", "health-c"]
    for i in range(EXTRA_AGENCIES):
        ck.add_agency(kit, f"shelter-{i:02d}", 3)
        senders.append(f"shelter-{i:02d}")

    expected: dict[str, str] = {}  # inbox file name -> outcome
    bundle_of: dict[str, str] = {}
    for a, agency in enumerate(senders):
        for q, quarter in enumerate(QUARTERS):
            for kind, sealed in (("episodes", kit.records(agency, n=12, seed=a * 100 + q, period=quarter)),
                                 ("referrals", kit.counts(agency, "referral", n=12, seed=a * 100 + q + 50, period=quarter))):  # fmt: skip
                name = f"{agency}-{quarter}-{kind}"
                kit.drop(name, sealed.blob)
                expected[name], bundle_of[name] = "loaded", sealed.bundle_id
                if q == 0 and kind == "referrals":  # delivered twice under another name: the same bytes
                    kit.drop(name + "-copy", sealed.blob)
                    expected[name + "-copy"], bundle_of[name + "-copy"] = "duplicate", sealed.bundle_id
        again = kit.counts(agency, "referral", n=9, seed=a + 7, period=QUARTERS[-1])  # a quarter already sent
        kit.drop(f"{agency}-again", again.blob)
        expected[f"{agency}-again"], bundle_of[f"{agency}-again"] = "quarantined", again.bundle_id
        bad = kit.records(agency, n=5, seed=a + 9, period=QUARTERS[0])
        kit.drop(f"{agency}-tampered", ck.signature_tampered(bad.blob))
        expected[f"{agency}-tampered"], bundle_of[f"{agency}-tampered"] = "quarantined", bad.bundle_id
    total = len(list(kit.inbox.glob("*.dvb")))
    assert total == len(expected)

    crashed: list[str] = []
    sensor_runs: list = []

    def sensor_driven(instance) -> None:
        try:
            cursor = None
            while list(kit.inbox.glob("*.dvb")):
                result, runs = ck.tick(kit, instance, cursor)
                cursor = result.cursor
                sensor_runs.extend(r for _, r in runs)
        except Exception as e:  # noqa: BLE001 - a crash is counted, never hidden
            crashed.append(f"sensor: {type(e).__name__}")

    with DagsterInstance.ephemeral() as instance:
        worker = threading.Thread(target=sensor_driven, args=(instance,))
        worker.start()
        others = [_cli(ck, kit, "ingest"), _cli(ck, kit, "ingest"), _cli(ck, kit, "publish", "--period", QUARTERS[0])]
        outs = [p.communicate(timeout=1800) for p in others]
        worker.join(timeout=1800)
    for p, (out, err) in zip(others, outs, strict=True):
        if p.returncode not in (0, 1) or "Traceback" in err:
            crashed.append(f"{p.args[3]} exit {p.returncode}: {err[-300:]}")
    crashed += [f"run {r.run_id}" for r in sensor_runs if r.dagster_run.status != DagsterRunStatus.SUCCESS]

    # What happened to each file: its last audit line (one per inbox arrival), by the name it had.
    outcome_lines: dict[str, list[str]] = {}
    for e in audit.read(kit.paths.audit_log):
        if e["action"].startswith("bundle_"):
            outcome_lines.setdefault(e["objects"].get("file", "").removesuffix(".dvb"), []).append(e["outcome"])
    got = {name: lines[-1] for name, lines in outcome_lines.items() if name in expected}
    with duckdb.connect(str(kit.paths.warehouse), read_only=True) as con:
        in_ledger = Counter(b for (b,) in con.execute("SELECT bundle_id FROM ledger").fetchall())
    lost = len(list(kit.inbox.glob("*.dvb"))) + sum(name not in got for name in expected)
    twice = sum(len(lines) > 1 for lines in outcome_lines.values()) + sum(n > 1 for n in in_ledger.values())
    loaded, quarantined = Counter(got.values())["loaded"], Counter(got.values())["quarantined"]
    headline("load", f"{total} bundles, {loaded} loaded, {quarantined} quarantined, {lost} lost, {twice} twice, {len(crashed)} crashed")

    assert not crashed, crashed
    # The two deliveries of the same bytes carry the same sequence: either may be the one loaded.
    def by_bundle(outcomes: dict[str, str]) -> dict[tuple[str, str], list[str]]:
        grouped: dict[tuple[str, str], list[str]] = {}
        for name, outcome in outcomes.items():
            grouped.setdefault((bundle_of[name], name.removesuffix("-copy").rsplit("-", 1)[-1]), []).append(outcome)
        return {k: sorted(v) for k, v in grouped.items()}

    assert by_bundle(got) == by_bundle(expected), {k: v for k, v in by_bundle(got).items() if by_bundle(expected).get(k) != v}
    assert lost == 0 and twice == 0
    assert set(in_ledger) == {bundle_of[n] for n, o in expected.items() if o == "loaded"}
    reasons = dict(duckdb.connect(str(kit.paths.warehouse), read_only=True).execute("SELECT file_name, reason FROM quarantine_log").fetchall())
    assert {n.removesuffix(".dvb").rsplit("-", 1)[-1]: r for n, r in reasons.items()} == {"again": "PERIOD_ALREADY_LOADED", "tampered": "SIGNATURE_INVALID"}
