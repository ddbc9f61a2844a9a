"""Bundles arriving at once through the inbox sensor: the embedded profile beside the scaled one.

    .venv/bin/python benchmarks/central.py --profile scaled                       # 200 agencies × 50,000 rows
    .venv/bin/python benchmarks/central.py --profile scaled --agencies 8 --rows 5000

Both profiles get the same network and the same sealed bundles (made once, not timed). For each,
``dvnet ui`` (the real ``dagster dev``: webserver, daemon with the inbox sensor, code server) is
started and up before the clock starts; then every bundle is renamed into the inbox at once, and
the clock runs until the inbox is empty and every intake run has ended.

- embedded: Dagster's SQLite instance, the warehouse file (one run at a time, loads under the lock);
- scaled: ``DVNET_DAGSTER_PG_URL`` and ``DVNET_WAREHOUSE_PG_URL`` on a PostgreSQL server started for
  the benchmark (Debian's binaries, fsync on), ``DVNET_MAX_CONCURRENT_RUNS`` runs at once.

Figures per profile: wall seconds; peak memory (the largest sum of the resident memory of ``dvnet
ui``'s whole process tree, sampled every 0.5 s); runs in flight (the most runs in STARTED at one
sample, and the most whose start..end intervals overlap, from the run records); bundles loaded and
rows in the warehouse, checked equal to what was sent (each bundle once). Writes
``results/central_profiles.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the real dagster dev and PostgreSQL, started as the tests start them

from dagster_dev import free_port, start, stop, wait_until_up  # noqa: E402
from fixtures_postgres import _bindir, _start, _stop  # noqa: E402
from run_info import header, results_path  # noqa: E402

DONE = ("SUCCESS", "FAILURE", "CANCELED")
#: A bound on waiting for the runs, not a target.
LIMIT_SECONDS = 3 * 3600


def _tree_rss_bytes(root_pid: int) -> int:
    """Resident memory of ``root_pid`` and every process below it (from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry.name))
            rss[int(entry.name)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0, [root_pid]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total


class _Runs:
    """The intake runs in the instance's storage: SQLite's runs.db, or PostgreSQL's runs table."""

    def __init__(self, home: Path, server=None):
        self.home, self.server = home, server

    def rows(self) -> list[tuple[str, float | None, float | None]]:
        sql = "SELECT status, start_time, end_time FROM runs WHERE pipeline_name = 'intake_job'"
        if self.server is not None:
            return [(s, a, b) for s, a, b in self.server.query(sql, db="dagster")]
        db = self.home / "history" / "runs.db"
        if not db.exists():
            return []
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
        try:
            return con.execute(sql).fetchall()
        except sqlite3.OperationalError:  # the table is being made, or the file locked: next sample
            return []
        finally:
            con.close()


def _most_overlapping(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


def _one_profile(name: str, network: Path, staged: Path, env: dict[str, str], server, work: Path) -> dict:
    home = work / f"home-{name}"
    port, log = free_port(), work / f"ui-{name}.log"
    proc = start(network, home, port, log, env=env)
    try:
        wait_until_up(port, proc, log)
        runs = _Runs(home, server)
        inbox = network / "coordinator" / "inbox"
        bundles = sorted(staged.glob("*.dvb"))
        peak, in_flight, stop_sampling = [0], [0], threading.Event()

        def sample() -> None:
            while not stop_sampling.is_set():
                peak[0] = max(peak[0], _tree_rss_bytes(proc.pid))
                in_flight[0] = max(in_flight[0], sum(1 for s, *_ in runs.rows() if s == "STARTED"))
                stop_sampling.wait(0.5)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t0 = time.monotonic()
        for path in bundles:  # the whole batch at once: renames, as an agency's delivery ends
            os.replace(path, inbox / path.name)
        print(f"  {name}: {len(bundles)} bundles in the inbox", flush=True)
        while time.monotonic() - t0 < LIMIT_SECONDS:
            assert proc.poll() is None, log.read_text()[-3000:]
            rows = runs.rows()
            if not list(inbox.glob("*.dvb")) and rows and all(s in DONE for s, *_ in rows):
                break
            time.sleep(1)
        seconds = time.monotonic() - t0
        stop_sampling.set()
        sampler.join()
        rows = runs.rows()
    finally:
        stop(proc, log)
    starts_ends = [(a, b) for _, a, b in rows if a is not None and b is not None]
    return {
        "seconds": seconds,
        "bundles": len(bundles),
        "runs": len(rows),
        "runs_by_status": {s: sum(1 for r in rows if r[0] == s) for s in sorted({r[0] for r in rows})},
        "most_runs_started_at_a_sample": in_flight[0],
        "most_runs_overlapping": _most_overlapping(starts_ends),
        "peak_tree_rss_gib": peak[0] / 2**30,
    }


def _warehouse_counts(network: Path, env: dict[str, str]) -> tuple[int, int, int]:
    """(ledger rows, distinct bundles, staged rows) through the warehouse as the profile sees it."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        from dvnet.assets.warehouse.lib import schema

        con = schema.connect(network / "coordinator" / "warehouse" / "warehouse.duckdb")
        try:
            return tuple(con.execute(
                "SELECT (SELECT count(*) FROM ledger), (SELECT count(DISTINCT bundle_id) FROM ledger), (SELECT count(*) FROM staged_service_episode)"
            ).fetchall()[0])  # fmt: skip
        finally:
            con.close()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run(args, stage_setup, run_stage) -> int:
    """The comparison; ``stage_setup`` and ``run_stage`` come from ``central.py`` (one setup for both)."""
    from dvnet.assets.runs import MAX_RUNS_ENV, PG_URL_ENV
    from dvnet.assets.warehouse.lib.postgres import WAREHOUSE_PG_URL_ENV

    bindir = _bindir()
    if bindir is None:
        raise SystemExit("the scaled profile needs PostgreSQL's programs (Debian package postgresql)")
    work = Path(tempfile.mkdtemp(prefix="dvnet-bench-profiles-"))
    server = None
    try:
        print(f"setup: {args.agencies} agencies × {args.rows:,} rows in {work} ...", flush=True)
        setup = run_stage("setup", work, args)
        results = {}
        for name in ("embedded", "scaled"):
            network, staged = work / f"net-{name}", work / f"bundles-{name}"
            shutil.copytree(work / "net", network, symlinks=True)
            staged.mkdir()
            for path in (network / "coordinator" / "inbox").glob("*.dvb"):
                os.replace(path, staged / path.name)  # held back until the UI is up
            env = {PG_URL_ENV: "", WAREHOUSE_PG_URL_ENV: ""}
            if name == "scaled":
                pg_folder = Path(tempfile.mkdtemp(prefix="dvnet-bench-pg-"))  # outside ``work``: the server may run as another user
                server = _start(pg_folder, bindir, fsync=True)
                server.create_database("dagster")
                server.create_database("warehouse")
                env = {PG_URL_ENV: server.url("dagster"), WAREHOUSE_PG_URL_ENV: server.dsn("warehouse"),
                       MAX_RUNS_ENV: os.environ.get(MAX_RUNS_ENV, "4")}  # fmt: skip
            print(f"{name} ...", flush=True)
            results[name] = _one_profile(name, network, staged, env, server if name == "scaled" else None, work)
            ledger, bundles, rows = _warehouse_counts(network, env)
            results[name].update({"ledger_rows": ledger, "bundles_loaded": bundles, "staged_rows": rows})
            assert ledger == bundles == args.agencies and rows == args.agencies * args.rows, (name, ledger, bundles, rows)
    finally:
        if server is not None:
            _stop(server)
            shutil.rmtree(server.folder, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    embedded, scaled = results["embedded"], results["scaled"]
    report = {
        **header("central_profiles", "benchmarks/central.py"),
        "agencies": args.agencies,
        "rows_per_agency": args.rows,
        "setup": setup,
        "embedded": embedded,
        "scaled": scaled,
        "scaled_vs_embedded": embedded["seconds"] / scaled["seconds"],
    }
    print(f"\n{args.agencies} agencies × {args.rows:,} rows arriving at once through the inbox sensor")
    print(f"{'profile':<10} {'wall s':>9} {'peak GiB':>9} {'runs':>6} {'in flight (sampled / overlapping)':>34}")
    for name, r in (("embedded", embedded), ("scaled", scaled)):
        print(f"{name:<10} {r['seconds']:>9.1f} {r['peak_tree_rss_gib']:>9.2f} {r['runs']:>6} "
              f"{r['most_runs_started_at_a_sample']:>17} / {r['most_runs_overlapping']:<16}")  # fmt: skip
    print(f"scaled is {report['scaled_vs_embedded']:.2f}× the embedded profile's speed")
    out = results_path("central_profiles")
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0
