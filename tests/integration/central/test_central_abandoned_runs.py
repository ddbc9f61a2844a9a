"""A dvnet command killed mid-run (``DVNET_FAULT_AT``: ``os._exit``, no cleanup) leaves its Dagster
run STARTED in the instance's run storage, and the run queue counts it as in progress for ever:
on the embedded instance (one run at a time) no sensor or UI run would start again. The daemon's
sweep sensor, or the next dvnet command that opens the instance, marks it failed and says why.
A run whose process is alive, or another host's, is never touched."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from dvnet.assets.run_owner import PROCESS_TAG, _start_ticks, has_ended, this_process

IN_PROGRESS = ("NOT_STARTED", "STARTING", "STARTED", "CANCELING")


def _runs(home, monkeypatch) -> list[tuple[str, str, dict]]:
    """(run id, status, tags) of every run, read without dvnet's sweep (a bare Dagster instance)."""
    from dagster import DagsterInstance

    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with DagsterInstance.get() as instance:
        return [(r.run_id, r.status.value, dict(r.tags)) for r in instance.get_runs()]


def _failure_message(home, monkeypatch, run_id: str) -> str:
    from dagster import DagsterEventType, DagsterInstance

    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with DagsterInstance.get() as instance:
        (event,) = [e for e in instance.all_logs(run_id) if e.dagster_event and e.dagster_event.event_type == DagsterEventType.RUN_FAILURE]
        return event.dagster_event.message or ""


@pytest.mark.slow
def test_a_run_whose_dvnet_process_was_killed_is_marked_failed_and_the_queue_moves_on(ck, kit, tmp_path, monkeypatch):
    from dagster import DagsterInstance, build_sensor_context

    from dvnet.assets.run_sensors import abandoned_runs_sensor

    home = ck.dagster_home(tmp_path)
    args = ["ingest", "--network", str(kit.root), "--dagster-home", str(home), *ck.as_coordinator(kit.root)]
    kit.drop("first", kit.records("shelter-a", n=30, seed=1).blob)
    assert ck.run_cli(args, env={"DVNET_FAULT_AT": "after_commit"}).returncode == 86
    (killed,) = [(rid, tags) for rid, status, tags in _runs(home, monkeypatch) if status in IN_PROGRESS]
    assert PROCESS_TAG in killed[1] and has_ended(killed[1][PROCESS_TAG])

    # The daemon's sweep, as dagster dev evaluates it.
    with DagsterInstance.get() as instance:
        result = abandoned_runs_sensor(build_sensor_context(instance=instance))
    assert "marked 1 abandoned run(s) failed" in result.skip_message
    assert not [r for r in _runs(home, monkeypatch) if r[1] in IN_PROGRESS]  # what the run queue counts
    assert "ended before the run did" in _failure_message(home, monkeypatch, killed[0])

    # Killed again; this time the next dvnet command sweeps (and finishes the load).
    kit.drop("second", kit.counts("legal-b", "referral", n=30, seed=2).blob)
    assert ck.run_cli(args, env={"DVNET_FAULT_AT": "after_commit"}).returncode == 86
    (again,) = [rid for rid, status, _ in _runs(home, monkeypatch) if status in IN_PROGRESS]
    done = ck.run_cli(args)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    statuses = {rid: status for rid, status, _ in _runs(home, monkeypatch)}
    assert statuses[again] == "FAILURE" and not [s for s in statuses.values() if s in IN_PROGRESS]
    assert "ended before the run did" in _failure_message(home, monkeypatch, again)


def test_only_a_process_known_to_have_ended_is_taken_for_gone():
    host, pid = socket.gethostname(), os.getpid()
    mine = this_process()[PROCESS_TAG]
    assert mine == f"{host}:{pid}:{_start_ticks(pid)}" and not has_ended(mine)  # alive
    assert has_ended(f"{host}:{pid}:1")  # the pid now belongs to a later process than the run's
    unused = max(int(Path("/proc/sys/kernel/pid_max").read_text()) - 1, 2)
    while True:  # a pid no process holds
        try:
            os.kill(unused, 0)
        except ProcessLookupError:
            break
        except PermissionError:
            pass
        unused -= 1
    assert has_ended(f"{host}:{unused}:5")
    assert not has_ended(f"another-host:{unused}:5")  # its processes are not ours to see
    assert not has_ended("not a tag") and not has_ended("")
