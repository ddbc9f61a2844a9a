"""A sensor-started intake run whose worker dies mid-ingest is finished by Dagster, not by a person.

The real ``dagster dev`` (daemon, code server, run queue) runs through ``dvnet ui`` with the
shipped dagster.yaml. The inbox sensor starts an intake run; its worker is killed for real
(``os._exit``) just after the bundle's audit line, before its receipt and archiving. The code
server marks the run failed, the instance's ``run_retries`` starts it again, and the retry (same
bundle, still in the inbox) finishes it: loaded once, one audit line, a receipt, the inbox empty.
With ``run_retries`` off in the shipped dagster.yaml the bundle stays in the inbox and this fails.
"""

from __future__ import annotations

import time

import duckdb
import pytest
from dagster import DagsterRunStatus, RunsFilter
from dagster_dev import free_port, start, stop, wait_until_up

from dvnet.assets.runs import dagster_instance
from dvnet.common import audit

WAIT_SECONDS = 420  # a bound on waiting for the daemon, not an assertion about speed


@pytest.mark.ui
@pytest.mark.slow
def test_a_killed_sensor_run_is_retried_and_finishes_its_bundle(ck, tmp_path):
    kit = ck.make_network(tmp_path / "net")
    sent = kit.records("shelter-a", n=25, seed=7)
    kit.drop("shelter-a-episodes", sent.blob)
    home = ck.dagster_home(tmp_path)
    killed = tmp_path / "killed-once"
    port, log = free_port(), tmp_path / "dvnet-ui.log"
    proc = start(kit.root, home, port, log, env={"DVNET_FAULT_AT": "after_audit", "DVNET_FAULT_ONCE": str(killed)})
    try:
        wait_until_up(port, proc, log)
        deadline = time.monotonic() + WAIT_SECONDS
        while list(kit.inbox.glob("*.dvb")) and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()[-3000:]
            time.sleep(2)
    finally:
        stop(proc, log)
    assert killed.exists(), "the run worker was never killed: the test did not test anything"
    assert not list(kit.inbox.glob("*.dvb")), f"the bundle is still in the inbox after {WAIT_SECONDS}s:\n{log.read_text()[-3000:]}"

    with dagster_instance(home) as instance:
        runs = instance.get_runs(RunsFilter(job_name="intake_job"))
        statuses = sorted(r.status.value for r in runs)
        retries = [r for r in runs if r.tags.get("dagster/parent_run_id")]
    assert statuses == ["FAILURE", "SUCCESS"], statuses
    assert len(retries) == 1 and retries[0].status == DagsterRunStatus.SUCCESS

    with duckdb.connect(str(kit.paths.warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM ledger WHERE bundle_id = ?", [sent.bundle_id]).fetchone() == (1,)
        assert con.execute("SELECT count(*) FROM unfinished_loads").fetchone() == (0,)
    logged = [e for e in audit.read(kit.paths.audit_log) if e["action"] == "bundle_loaded" and e["objects"].get("bundle") == sent.bundle_id]
    assert len(logged) == 1, f"{len(logged)} audit lines for the bundle"
    assert [r["outcome"] for r in ck.receipts(kit).values() if r["bundle_id"] == sent.bundle_id] == ["loaded"]
    assert list(kit.paths.archive.glob("shelter-a-episodes*.dvb"))
