"""No bundle waits in the outbox that the agency's log does not name (``pipelines/contributor/outbox.py``).

`dvnet contribute` killed for real (``DVNET_FAULT_AT=after_contribution_audit``) between its
``contribution`` line and naming its bundle leaves a whole, logged bundle under a hidden name:
the next `dvnet contribute` or `dvnet send` gives it its name (and the contribute refuses a second
bundle for the quarter). A hidden bundle nobody logged is never sent, and removed once a day old.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from dvnet import bundle
from dvnet.common import audit
from dvnet.common import network as store
from dvnet.pipelines.cli import main
from dvnet.pipelines.contributor import outbox

REPO = Path(__file__).resolve().parents[3]
PERIOD = "2026-Q3"


def _contribute(agency, env: dict | None = None) -> subprocess.CompletedProcess:
    extract = agency.folder / "extracts" / f"referral_{PERIOD}.csv"
    command = [sys.executable, "-m", "dvnet.pipelines.cli", "contribute", "--agency", str(agency.folder), "--contract", "referral",
               "--extract", str(extract), "--period", PERIOD]  # fmt: skip
    return subprocess.run(command, cwd=REPO, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=300)


def _sealed_ids(agency) -> list[str]:
    return [e["objects"]["bundle"] for e in audit.read(agency.audit_log) if e["action"] == "contribution" and e["outcome"] == "sealed"]


def _named(agency) -> list[Path]:
    return sorted(outbox.folder(agency).glob(f"*{outbox.BUNDLE_SUFFIX}"))


def test_a_contribution_killed_after_its_line_is_named_by_the_next_run(synthesized, tally):
    agency = synthesized
    killed = _contribute(agency, {"DVNET_FAULT_AT": "after_contribution_audit"})
    assert killed.returncode == 86, killed.stdout + killed.stderr[-2000:]
    logged = _sealed_ids(agency)
    hidden = list(outbox.folder(agency).glob(".*"))
    assert len(logged) == 1 and _named(agency) == [] and len(hidden) == 1  # logged, whole, not yet named

    rerun = _contribute(agency)
    named = _named(agency)
    tally("crash consistency", kills=1, partial=0, duplicate=int(len(named) > 1), unrecorded=int(len(named) == 0), rows_lost=0)
    assert rerun.returncode == 2 and "USAGE_PERIOD_IN_OUTBOX" in rerun.stdout + rerun.stderr  # the killed run had sealed it: it waits to be sent
    assert len(named) == 1 and not list(outbox.folder(agency).glob(".*"))
    assert bundle.peek_header(named[0].read_bytes()[:outbox.HEAD_BYTES])["bundle_id"] == logged[0]


def test_send_names_a_logged_bundle_and_never_sends_an_unlogged_one(synthesized, tally):
    agency = synthesized
    assert _contribute(agency, {"DVNET_FAULT_AT": "after_contribution_audit"}).returncode == 86
    stray = outbox.folder(agency) / f".{agency.agency_id}_referral_2026-Q2_000009.dvb.abcdefgh.tmp"  # a seal that died before its line
    stray.write_bytes(next(outbox.folder(agency).glob(".*")).read_bytes()[:100])  # cut short where the kill fell
    odd = outbox.folder(agency) / f".{agency.agency_id}_referral_2026-Q1_000008.dvb.zzzzzzzz.tmp"
    odd.mkdir()  # a folder named like one: left alone
    paths = store.NetworkPaths(agency.folder.parent.parent)
    inbox = paths.inbox
    assert main(["drop", "set", "--agency", str(agency.folder), "--inbox", str(inbox), "--receipts", str(paths.receipts / agency.agency_id)]) == 0
    assert main(["send", "--agency", str(agency.folder)]) == 0
    delivered = [p.name for p in inbox.glob("*.dvb")]
    tally("crash consistency", kills=1, partial=0, duplicate=0, unrecorded=int(len(delivered) != 1), rows_lost=0)
    assert delivered == [f"{agency.agency_id}_referral_{PERIOD}_000001.dvb"] and stray.exists()  # the logged one sent; the stray kept a day
    assert outbox.finish_interrupted(agency, now=time.time() + outbox.UNLOGGED_KEPT.total_seconds() + 60) == [] and not stray.exists()
    assert odd.is_dir()
