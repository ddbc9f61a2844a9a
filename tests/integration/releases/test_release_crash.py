"""A publication killed at each step (for real: ``DVNET_FAULT_AT`` makes `dvnet release publish`
exit on the spot) leaves no release the ledger does not hold: the next request or publication
finishes it (audit line, rename) or removes its unfinished folder; every release folder is then in
the ledger and logged.
"""

from __future__ import annotations

import os
import subprocess
import sys

import duckdb
import pytest

from dvnet.common.faults import RELEASE_POINTS, REQUEST_POINTS, WITHDRAW_POINTS
from fixtures_central import add_reviewers

from dvnet.assets.releases.lib.files import published_releases
from dvnet.assets.releases.lib.release import build_request
from dvnet.assets.releases.lib.review import decide, review_state
from dvnet.common.authority import authorise
from dvnet.common import audit
from dvnet.pipelines.ceremony import FOUNDER

REPO = __import__("pathlib").Path(__file__).resolve().parents[3]


def _publish(root, request_id: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Request ``request_id``, approve it by two reviewers (in-process), publish it with the CLI."""
    build_request(root, "dv-default", ["2026-Q3"], FOUNDER[0], release_id=request_id)
    for person_id, key in add_reviewers(root):
        decide(root, request_id, authorise(root, person_id, key, "review.approve"), "approve", "checked (test)")
    key = root / "people" / FOUNDER[0] / "signing.key"
    return subprocess.run([sys.executable, "-m", "dvnet.pipelines.cli", "release", "publish", "--network", str(root), request_id, "--as", FOUNDER[0],
                           "--key", str(key)], cwd=REPO, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=600)  # fmt: skip


def _cli(root, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    key = root / "people" / FOUNDER[0] / "signing.key"
    return subprocess.run([sys.executable, "-m", "dvnet.pipelines.cli", *args, "--network", str(root), "--as", FOUNDER[0], "--key", str(key)],
                          cwd=REPO, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=600)  # fmt: skip


def _ledger(root) -> set[str]:
    con = duckdb.connect(str(root / "coordinator" / "warehouse" / "warehouse.duckdb"), read_only=True)
    try:
        return {r for (r,) in con.execute("SELECT release_id FROM releases").fetchall()}
    finally:
        con.close()


@pytest.mark.slow
@pytest.mark.parametrize("point", ["before_release_ledger", *RELEASE_POINTS])
def test_a_killed_publication_is_finished_or_removed_by_the_next(loaded_network, point, tally):
    root = loaded_network
    releases = root / "coordinator" / "releases"
    crashed = _publish(root, "first", {"DVNET_FAULT_AT": "after_release_ledger" if point == "before_release_ledger" else point})
    assert crashed.returncode == 86, crashed.stdout + crashed.stderr[-2000:]
    if point == "before_release_ledger":  # as if killed while writing the files: a partial folder, no ledger row
        with duckdb.connect(str(root / "coordinator" / "warehouse" / "warehouse.duckdb")) as con:
            con.execute("DELETE FROM release_cells")
            con.execute("DELETE FROM releases")
    interrupted = {p.name for p in releases.iterdir()}
    assert point == "after_release_rename" or all(n.startswith(".") for n in interrupted)  # nothing served yet

    rerun = _publish(root, "second")
    folders = {p.name for p in published_releases(releases)}
    half_done = [p for p in releases.iterdir() if p.name.startswith(".")]
    logged = [e["objects"]["release"] for e in audit.read(root / "coordinator" / "audit.log") if e["action"] == "release_published"]
    tally("crash consistency", kills=1, partial=int(bool(half_done) or folders != _ledger(root)), duplicate=int(len(logged) > len(set(logged))),
          unrecorded=int(set(logged) != folders), rows_lost=0)  # fmt: skip
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr[-2000:]
    assert not half_done  # nothing left half done
    assert folders == _ledger(root)  # every release folder is in the ledger, and the ledger names no missing folder
    assert sorted(logged) == sorted(folders)  # each logged once
    assert len(folders) == (1 if point == "before_release_ledger" else 2)


@pytest.mark.slow
@pytest.mark.parametrize("point", WITHDRAW_POINTS)
def test_a_killed_withdrawal_is_finished_by_the_next(loaded_network, point, tally):
    """Killed after the manifest says withdrawn and before its audit line: running the withdrawal
    again writes the line (once) and says so, instead of refusing a release already withdrawn."""
    root = loaded_network
    assert _publish(root, "first").returncode == 0
    crashed = _cli(root, "release", "withdraw", "first", "--reason", "a coding error", env={"DVNET_FAULT_AT": point})
    assert crashed.returncode == 86, crashed.stdout + crashed.stderr[-2000:]
    manifest = __import__("json").loads((root / "coordinator" / "releases" / "first" / "manifest.json").read_text())
    assert manifest["withdrawn"]["reason"] == "a coding error"  # killed after the manifest, before the line

    def lines() -> list[dict]:
        return [e for e in audit.read(root / "coordinator" / "audit.log") if e["action"] == "release_withdrawn" and e["objects"].get("release") == "first"]

    unlogged = not lines()
    rerun = _cli(root, "release", "withdraw", "first", "--reason", "again")
    again = _cli(root, "release", "withdraw", "first", "--reason", "once more")
    tally("crash consistency", kills=1, partial=0, duplicate=int(len(lines()) > 1), unrecorded=int(not lines()), rows_lost=0)
    assert unlogged
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr[-2000:]
    assert "audit line" in rerun.stdout
    assert [e["reason"] for e in lines()] == ["a coding error"]  # the manifest's reason, logged once
    assert again.returncode == 1 and "RELEASE_WITHDRAWN" in again.stdout + again.stderr


@pytest.mark.slow
@pytest.mark.parametrize("point", REQUEST_POINTS)
def test_no_release_request_is_ever_without_its_audit_line_even_when_killed(loaded_network, tmp_path, point, tally):
    """`dvnet publish` killed between the request's audit line and the rename that makes the
    request appear leaves a logged attempt and no request, never a request nobody logged (which
    reviewers could approve and publish); the next request removes the attempt's unfinished folder."""
    root = loaded_network
    requests = root / "coordinator" / "release-requests"
    args = ("publish", "--period", "2026-Q3", "--dagster-home", str(tmp_path / "dagster_home"))
    killed = _cli(root, *args, env={"DVNET_FAULT_AT": point})
    assert killed.returncode == 86, killed.stdout + killed.stderr[-2000:]

    def unlogged() -> list[str]:
        logged = {e["objects"]["request"] for e in audit.read(root / "coordinator" / "audit.log") if e["action"] == "release_requested"}
        return [p.name for p in requests.iterdir() if not p.name.startswith(".") and p.name not in logged]

    after_kill, leftovers = unlogged(), [p.name for p in requests.iterdir() if p.name.startswith(".")]
    rerun = _cli(root, *args)
    tally("crash consistency", kills=1, partial=0, duplicate=0, unrecorded=len(after_kill) + len(unlogged()), rows_lost=0)
    assert after_kill == [] and leftovers  # killed before the rename: an unfinished folder, no request
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr[-2000:]
    assert unlogged() == [] and len([p for p in requests.iterdir()]) == 1  # the rerun's request, logged; the leftover gone


@pytest.mark.slow
def test_an_approval_killed_after_its_audit_line_has_not_counted(loaded_network, tally):
    """`dvnet review approve` killed right after its audit line (``after_audit:release_review``)
    leaves no decision that counts; the reviewer's next approval counts (and is logged too)."""
    root = loaded_network
    build_request(root, "dv-default", ["2026-Q3"], FOUNDER[0], release_id="first")
    (reviewer, key), _ = add_reviewers(root)
    approve = [sys.executable, "-m", "dvnet.pipelines.cli", "review", "approve", "first", "--network", str(root), "--comment", "checked (test)",
               "--as", reviewer, "--key", str(key)]  # fmt: skip
    killed = subprocess.run(approve, cwd=REPO, env={**os.environ, "DVNET_FAULT_AT": "after_audit:release_review"}, capture_output=True, text=True)
    assert killed.returncode == 86, killed.stdout + killed.stderr[-2000:]
    counted = len(review_state(root, "first").approvals)
    rerun = subprocess.run(approve, cwd=REPO, capture_output=True, text=True)
    logged = sum(e["action"] == "release_review" for e in audit.read(root / "coordinator" / "audit.log"))
    tally("crash consistency", kills=1, partial=0, duplicate=0, unrecorded=int(counted > 0 and logged == 0), rows_lost=0)
    assert counted == 0  # logged, not counted
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr[-2000:]
    assert len(review_state(root, "first").approvals) == 1 and logged == 2
