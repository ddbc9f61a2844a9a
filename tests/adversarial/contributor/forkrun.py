"""Run many ``dvnet`` commands, each in a process of its own, paying the imports once.

``python forkrun.py JOBS.json`` loads the contributor's modules, then for each job (``argv``,
``out`` folder) forks a child that sets its memory limit, sends its stdout and stderr to
``out/stdout`` and ``out/stderr`` and runs ``dvnet`` with ``argv``. A crash of one job (signal,
traceback, timeout) is that child's exit status only; the next job starts from the untouched
parent. One JSON line per job on stdout: its exit code (negative: the signal that ended it; None:
timed out) and its peak resident memory in KiB (``wait4``).
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import time
import traceback

import dvnet.pipelines.contributor.run  # noqa: F401  the imports every contribution pays
from dvnet.pipelines.cli import main


def _child(argv: list[str], out: str, memory: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for fd, name in ((1, "stdout"), (2, "stderr")):
        target = os.open(os.path.join(out, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(target, fd)
        os.close(target)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    code = 1
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:  # what the interpreter would do with it: the traceback, exit code 1
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _wait(pid: int, timeout: float) -> tuple[int | None, int]:
    deadline = time.monotonic() + timeout
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status), usage.ru_maxrss
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            _, _, usage = os.wait4(pid, 0)
            return None, usage.ru_maxrss
        time.sleep(0.02)


def run_jobs(jobs: dict) -> None:
    for job in jobs["jobs"]:
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            _child(job["argv"], job["out"], jobs["memory"])
        code, rss = _wait(pid, jobs["timeout"])
        print(json.dumps({"name": job["name"], "code": code, "maxrss_kib": rss}), flush=True)


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as f:
        run_jobs(json.load(f))
