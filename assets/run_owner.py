"""Which dvnet process executes a Dagster run, and the runs whose process is gone.

Runs dvnet executes in its own process (``dvnet ingest``, ``dvnet publish``, the release steps:
Dagster's ``execute_in_process``) have no run worker for Dagster's run monitoring to watch. Killed
(SIGKILL, out of memory, a power cut) they stay STARTED in the run storage for ever, and the run
queue counts them as in progress: on the embedded instance (one run at a time) no sensor or UI
run would ever start again; on PostgreSQL, none of that partition's.

So each such run carries ``dvnet/process``: the host, the pid and the process's start time (so a
pid the system has since given to another process is not taken for it). Every dvnet command that
opens the instance first marks failed, saying why, the runs of this host whose process has ended.
Runs of another host are left to that host's commands: this one cannot see its processes.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

PROCESS_TAG = "dvnet/process"
ABANDONED = (
    "marked failed by dvnet: the process that ran it ({where}) ended before the run did (killed, out of "
    "memory or a power cut). What it had written is rolled back or finished by the next run of the same "
    "step (see the audit log); the run queue no longer counts this run as in progress."
)


def _start_ticks(pid: int) -> str:
    """The process's start time in clock ticks since boot (``/proc/<pid>/stat``, field 22), or ""."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return ""
    fields = stat.rsplit(")", 1)[-1].split()  # the command name, in parentheses, may hold spaces
    return fields[19] if len(fields) > 19 else ""


def this_process() -> dict[str, str]:
    """The tag naming this process, for every run it executes."""
    pid = os.getpid()
    return {PROCESS_TAG: f"{socket.gethostname()}:{pid}:{_start_ticks(pid)}"}


def _parse(value: str) -> tuple[str, int, str] | None:
    """(host, pid, start ticks) of a ``dvnet/process`` tag, or None when it cannot be read."""
    host, _, rest = value.rpartition(":")
    host, _, pid = host.rpartition(":")
    return (host, int(pid), rest) if host and pid.isdigit() else None


def has_ended(value: str, host: str | None = None) -> bool:
    """Whether the process a ``dvnet/process`` tag names is known to have ended (False for another
    host's process, or a tag that cannot be read: nothing is marked failed on a guess)."""
    parsed = _parse(value)
    if parsed is None or parsed[0] != (host or socket.gethostname()):
        return False
    _, pid, ticks = parsed
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        pass
    now = _start_ticks(pid)
    return bool(ticks) and bool(now) and now != ticks  # the pid now belongs to a later process


def fail_abandoned_runs(instance) -> list[str]:
    """Mark failed every in-progress run of this host whose dvnet process has ended; their ids."""
    from dagster import DagsterRunStatus, RunsFilter

    in_progress = [DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]
    host, failed = socket.gethostname(), []
    for record in instance.get_run_records(filters=RunsFilter(statuses=in_progress)):
        run = record.dagster_run
        value = run.tags.get(PROCESS_TAG, "")
        if has_ended(value, host):
            _, pid, _ = _parse(value)
            instance.report_run_failed(run, ABANDONED.format(where=f"pid {pid} on {host}"))
            failed.append(run.run_id)
    return failed
