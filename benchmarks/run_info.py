"""What every benchmark records about its run: where results go, which run it belongs to, the machine.

``make bench`` and ``make bench-quick`` set ``DVNET_BENCH_RUN`` (one id for the whole run) and
``DVNET_BENCH_RESULTS`` (the folder: ``benchmarks/results`` for the full run, a git-ignored
``benchmarks/results/quick`` for the quick one). ``benchmarks/report.py`` puts in one table only
the results that carry the same run id, so a figure is never shown beside a reference measured at
another time. Run on its own, a benchmark writes to ``benchmarks/results`` with no run id.
"""

from __future__ import annotations

import compileall
import functools
import importlib.metadata
import os
import re
import platform
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN_ENV, RESULTS_ENV = "DVNET_BENCH_RUN", "DVNET_BENCH_RESULTS"
#: The libraries whose versions decide the figures.
LIBRARIES = ("pandas", "pyarrow", "numpy", "pandera", "duckdb", "dagster", "cryptography", "highspy", "scipy", "polars")


def results_path(name: str) -> Path:
    """``<results folder>/<name>.json``: the folder from ``DVNET_BENCH_RESULTS``, else benchmarks/results."""
    folder = Path(os.environ.get(RESULTS_ENV) or ROOT / "benchmarks" / "results")
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.json"


def run_id() -> str | None:
    return os.environ.get(RUN_ENV) or None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def header(benchmark: str, script: str) -> dict:
    """The fields every result file starts with: what, which run, the command, when, the machine."""
    import datetime as dt
    import sys

    return {"benchmark": benchmark, "run": run_id(), "command": f"{script} " + " ".join(sys.argv[1:]),
            "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "machine": machine()}  # fmt: skip


def machine() -> dict:
    """The machine and library versions, as every result file records them."""
    return {"cpu": _cpu_model(), "cpus": os.cpu_count(), "memory_gib": _memory_gib(), "platform": platform.platform(), **versions()}


@functools.cache
def byte_compile_sources() -> None:
    """Byte-compile the checkout's Python sources (dvnet's and the benchmarks'), once per run.

    An installed dvnet has its bytecode (pip compiles a wheel's modules when it installs it); an
    editable checkout on a machine that sets ``PYTHONDONTWRITEBYTECODE`` (these do) would compile
    about a hundred modules at every start instead, and a whole-process figure would time that."""
    compileall.compile_dir(ROOT, quiet=1, rx=re.compile(r"/(\.venv|\.git|tests|demo-network|dagster_home|build|dist)/"))


def whole_process(command: list[str], what: str) -> dict:
    """``command`` timed from start to exit, as its user experiences it (the sources byte-compiled
    first, as an install leaves them); its peak memory (the child's ``ru_maxrss``). Output goes to
    a file, never an unread pipe; a non-zero exit stops the benchmark with the output's end."""
    byte_compile_sources()
    with tempfile.TemporaryFile("w+") as out:
        t0 = time.perf_counter()
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, text=True)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - t0
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            out.seek(0)
            raise SystemExit(f"{what} exited {code}:\n{out.read()[-4000:]}")
    return {"seconds": seconds, "peak_rss_bytes": usage.ru_maxrss * 1024}
