"""Benchmark: one contribution of a 1,000,000-row ``service_episode`` extract, end to end.

    .venv/bin/python benchmarks/contributor.py                       # 1M rows, 3 round-robin repeats
    .venv/bin/python benchmarks/contributor.py --rows 1000000 5000000   # and 5M (the baselines only up to 1M)
    .venv/bin/python benchmarks/contributor.py --rows 1000000 --profile dvnet_record   # cProfile summary

``contribute()`` runs read -> validate -> consent -> de-identify -> k-anonymity (record mode) or
standard count tables (aggregate mode) -> seal, exactly as ``dvnet contribute`` does. Beside it, in
the same run, ``pandas_*`` is the straightforward version of the same steps a careful analyst
would write: ``pd.read_csv``, type conversion, the contract's pandera model, the consent rule,
``hmac.new`` per row, pandas generalisation, ``groupby`` for k-anonymity or the count tables,
``to_parquet`` and the same ``bundle.seal``; ``polars_*`` the same steps the straightforward polars
way (``polars_baseline.py``, the ``bench`` extra; skipped, and said so, when polars is missing).
All must agree on what they send (checked). Issue 18 measures dvnet against polars as whole
processes (imports included).

Every measurement runs in a fresh child process (round-robin, so the machine's drift hits every
scenario alike; each starts ``SETTLE_SECONDS`` after the previous child exited) and reports its own peak memory: ``VmHWM`` and ``ru_maxrss`` of that child, and
the peak and CPU time of the keyed-hash worker processes dvnet's record mode starts (two, one per
pseudonym column, each alive only while it hashes; their memory is sampled from this process, so the
sampling costs the measured interpreter nothing). The extract is generated in a child too, so no child inherits a large parent. The synthetic network
is one Tier 3 shelter in the metro region; ``pipelines.synth`` is scaled to the row count and its
file trimmed to exactly that many records.

Then, unless ``--no-whole-process``, each scenario again as a whole process the way its user runs
it, timed from start to exit (imports included): ``dvnet contribute`` itself, and the pandas
version as a script. That is the comparison a steward experiences. Writes ``results/contributor.json``
(the folder from ``run_info``).

Targets (issue 4, on this 2-core machine): >= 400,000 rows/s end to end, peak <= 1.5 GiB, and
>= 3x the straightforward version.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from run_info import machine, results_path, run_id, whole_process  # noqa: E402

PERIOD = "2026-Q3"
AGENCY = "metro-shelter"
CONTRACT = "service_episode"
SEED = 20261125
K = 5
# At a million rows, about 0.4 % of consenting records sit in classes below k=5: the agency
# allows withholding up to 1 % so that record mode seals (a refusal would skip the seal step).
# Smaller trial runs need more (--max-withheld-share); the children read it from the environment.
MAX_WITHHELD = float(os.environ.get("DVNET_BENCH_MAX_WITHHELD", "0.01"))
SCENARIOS = ["dvnet_record", "dvnet_aggregate", "pandas_record", "pandas_aggregate", "polars_record", "polars_aggregate"]
#: The straightforward versions dvnet is measured against (each skipped when its library is missing).
BASELINES = ("pandas", "polars")
# Each measured child starts this long after the previous one exited: this VM releases a large
# exited process's memory in the background, and the run right after a 1.3 GB pandas child was up
# to ~0.3 s slower (hog-then-run probes: 2.64/2.65/2.41 s at once, 2.39/2.44/2.50 s after 3 s).
SETTLE_SECONDS = 2.0


# --- setup (in child processes) --------------------------------------------------------------------


def make_network(folder: Path) -> Path:
    from dvnet.pipelines.ceremony import Ceremony

    root = folder / "network"
    Ceremony.found(root, "Benchmark network", custodian=None).add_agency(AGENCY, "Metro Shelter", "direct_service", 3, "south-metro")
    return root


def generate(rows: int, network: Path, out: Path) -> None:
    """A ``service_episode`` extract of exactly ``rows`` records from ``pipelines.synth``."""
    from dvnet.common.network import load_network
    from dvnet.pipelines.demo_network import demo_geography
    from dvnet.pipelines.synth import plan_volumes, synthesize

    orgs = load_network(network).organisations
    per_unit = plan_volumes(orgs, seed=SEED, periods=[PERIOD], scale=1.0)[(AGENCY, CONTRACT, PERIOD)]
    scratch = out.parent / "synth"
    synthesize(orgs, scratch, seed=SEED, periods=[PERIOD], scale=rows * 1.002 / per_unit, geography=demo_geography())
    data = (scratch / AGENCY / "extracts" / f"{CONTRACT}_{PERIOD}.csv").read_bytes()
    shutil.rmtree(scratch)
    # synth never quotes a field, so a record is a line: keep the header and ``rows`` records
    end = -1
    for _ in range(rows + 1):
        end = data.index(b"\n", end + 1)
    if end < 0:
        raise SystemExit("synth made too few rows")
    out.write_bytes(data[: end + 1])


# --- the straightforward version ------------------------------------------------------------------


def pandas_contribution(network: Path, extract: Path, mode: str, mark) -> dict:
    """The same steps as ``contribute()``, written the plain pandas way."""
    import hashlib
    import hmac
    import io

    import numpy as np
    import pandas as pd
    import pandera.pandas as pa

    from dvnet import bundle
    from dvnet.contracts.codes import AGE_BAND_LOWER_BOUNDS, AGE_BANDS
    from dvnet.pipelines.demo_network import demo_geography
    from dvnet.contracts.periods import Period
    from dvnet.contracts.registry import get_contract
    from dvnet.contracts.roles import Transform
    from dvnet.common.network import NetworkPaths, load_agency

    agency = load_agency(NetworkPaths(network).agencies / AGENCY)
    contract = get_contract(CONTRACT)
    period = Period.parse(PERIOD)
    schema = contract.source.to_schema()

    mark("read")
    df = pd.read_csv(extract, dtype=str, keep_default_na=False, na_values=[""])
    read = len(df)

    mark("validate")
    for name, col in schema.columns.items():
        kind = str(col.dtype)
        if kind.startswith("datetime64"):
            df[name] = pd.to_datetime(df[name], format="%Y-%m-%d", errors="coerce")
        elif kind == "boolean":
            df[name] = df[name].str.strip().str.lower().map({"true": True, "false": False}).astype("boolean")
        else:
            df[name] = df[name].astype("string")
    bad = np.zeros(len(df), dtype=bool)
    try:
        schema.validate(df, lazy=True)
    except pa.errors.SchemaErrors as e:
        bad[e.failure_cases["index"].dropna().astype(int).unique()] = True
    start = df[contract.event_date]
    bad |= (start < pd.Timestamp(period.start)) | (start > pd.Timestamp(period.end))
    df = df[~bad].reset_index(drop=True)

    mark("consent")
    excluded = 0
    if mode == "record":
        ok = df["consent_to_share"].fillna(False).astype(bool) & (
            df["consent_expiry"].isna() | (df["consent_expiry"] >= pd.Timestamp(period.end))
        )
        excluded = int((~ok).sum())
        df = df[ok].reset_index(drop=True)

    mark("de-identify")
    key = bundle.read_secret(agency.pseudonym_key_path)
    out = pd.DataFrame()
    for f in contract.fields():
        target = f.output or f.name
        if f.transform is Transform.PSEUDONYM:
            if mode == "record":
                prefix = f.name.encode() + b"\x00"
                out[target] = [hmac.new(key, prefix + v.encode(), hashlib.sha256).hexdigest()[:32] for v in df[f.name]]
                out[target] = out[target].astype("string")
        elif f.transform is Transform.AGE_BAND:
            born, at = df[f.name], df[f.at]
            years = at.dt.year - born.dt.year - ((at.dt.month * 100 + at.dt.day) < (born.dt.month * 100 + born.dt.day))
            bands = pd.cut(years, bins=[*AGE_BAND_LOWER_BOUNDS, 10_000], right=False, labels=list(AGE_BANDS))
            out[target] = bands.astype("string").fillna("unknown")
        elif f.transform is Transform.POSTAL_REGION:
            out[target] = df[f.name].str.slice(0, 3).str.upper().map(demo_geography().region_of_prefix).fillna("unknown").astype("string")
        elif f.transform is Transform.QUARTER:
            out[target] = df[f.name].dt.to_period("Q").astype(str).str.replace("Q", "-Q").astype("string")
        elif f.transform is Transform.KEEP:
            out[target] = df[f.name]
    output_schema = contract.output.to_schema()
    if mode == "aggregate":
        output_schema = output_schema.remove_columns(["episode_pseudonym", "client_pseudonym"])
    output_schema.validate(out, lazy=True)

    mark("disclosure check")
    withheld = 0
    if mode == "record":
        qis = contract.quasi_identifiers()
        sizes = out.groupby(qis, dropna=False)[qis[0]].transform("size")
        small = (sizes < K).to_numpy()
        if small.sum() / max(len(out), 1) > MAX_WITHHELD:
            raise SystemExit("k-anonymity refused")
        withheld = int(small.sum())
        out = out[~small]
        payload = out
    else:
        tables = []
        for t in contract.standard_tables:
            if t.unpivot:
                for col in t.unpivot:
                    other = [d for d in t.dims if d != "indicator"]
                    counts = out[out[col].fillna(False)].groupby(other, dropna=False).size().reset_index(name="n")
                    counts["indicator"] = col.removeprefix("risk_")
                    counts["table_name"] = t.name
                    tables.append(counts)
            else:
                counts = out.groupby(list(t.dims), dropna=False).size().reset_index(name="n")
                counts["table_name"] = t.name
                tables.append(counts)
        payload = pd.concat(tables, ignore_index=True)
        for c in payload.columns:
            if c not in ("n", "table_name"):
                payload[c] = payload[c].astype("string").str.lower()  # booleans as true/false

    mark("seal")
    sink = io.BytesIO()
    payload.to_parquet(sink, compression="zstd", index=False)
    seal_baseline(agency, contract, mode, sink.getvalue(), len(payload), "pandas")
    return {"records_read": read, "rejected": int(bad.sum()), "excluded_consent": excluded, "withheld_k": withheld,
            "sent": len(out), "payload_rows": len(payload), "status": "sealed"}


def seal_baseline(agency, contract, mode: str, parquet: bytes, rows: int, name: str) -> None:
    """A baseline's payload sealed with dvnet's own ``bundle.seal`` into the agency's outbox (as
    ``<name>_<sequence>.dvb``): sealing is the same library call for every version measured."""
    import datetime as dt

    from dvnet import bundle
    from dvnet.common.files import atomic_write
    from dvnet.pipelines.contributor import sequence

    with sequence.reserve(agency.sequence_path) as seq:
        sealed = bundle.seal(
            parquet,
            agency_id=AGENCY,
            contract_id=contract.id,
            contract_version=contract.version,
            mode=mode,
            sequence=seq,
            period=PERIOD,
            record_count=rows,
            signing_key=bundle.load_signing_key(agency.signing_key_path),
            recipient_public_key=bundle.encryption_public_key_from_text(agency.coordinator["encryption_public_key"]),
            now=dt.datetime.now(dt.UTC).replace(microsecond=0),
        )
    atomic_write(agency.folder / "outbox" / f"{name}_{seq:06d}.dvb", sealed.blob)


# --- one measurement ------------------------------------------------------------------------------


def peak_rss() -> dict:
    """This process's peak memory: VmHWM (the kernel's high-water mark of this process) and
    ru_maxrss (which Linux can carry over from the parent across exec, hence both); and the CPU
    time of its child processes (dvnet's keyed-hash workers)."""
    hwm = None
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) * 1024
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)  # the keyed-hash worker processes
    return {"peak_rss_bytes": hwm, "ru_maxrss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "worker_cpu_seconds": workers.ru_utime + workers.ru_stime}


def worker_memory(child: subprocess.Popen) -> dict:
    """Waits for ``child`` while sampling, every 20 ms, the peak memory (VmHWM) of the processes
    it starts (dvnet's keyed-hash workers). Sampled from this process, not the measured one: a
    sampling thread there took the measured interpreter's lock every 20 ms and cost it about
    0.1-0.2 s of a 2.6 s run. (``ru_maxrss`` of children is no use: Linux carries the parent's
    over the fork.)"""
    peaks: dict[int, int] = {}
    tasks = Path(f"/proc/{child.pid}/task")
    while child.poll() is None:
        for children in tasks.glob("*/children"):
            try:
                pids = children.read_text().split()
            except OSError:
                continue
            for pid in pids:
                try:
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                        if line.startswith("VmHWM:"):
                            peaks[int(pid)] = max(peaks.get(int(pid), 0), int(line.split()[1]) * 1024)
                except (OSError, ValueError):
                    pass
        time.sleep(0.02)
    return {"worker_peak_rss_bytes": max(peaks.values(), default=0), "worker_peak_rss_sum_bytes": sum(peaks.values()), "workers": len(peaks)}


def child(scenario: str, network: str, extract: str, profile: str | None) -> None:
    stamps: list[tuple[str, float]] = []

    def mark(stage: str) -> None:
        stamps.append((stage, time.perf_counter()))

    kind, mode = scenario.split("_")
    if kind == "dvnet":
        from dvnet.kernels.arrow_memory import use_system_allocator
        from dvnet.pipelines.contributor.run import ContributionOptions, contribute
        from dvnet.common.network import NetworkPaths, load_agency

        use_system_allocator()  # as `dvnet contribute` does at its entry (the pandas_* scenarios keep Arrow's default)

        agency = load_agency(NetworkPaths(Path(network)).agencies / AGENCY)
        opts = ContributionOptions(contract_id=CONTRACT, extract=Path(extract), period=PERIOD, mode=mode, k=K, max_withheld_share=MAX_WITHHELD,
                                   resend=True)  # the same quarter again, every repeat

        def work() -> dict:
            r = contribute(agency, opts, mark)
            assert r.status == "sealed", r.refusal
            return {"records_read": r.records_read, "rejected": r.rejected, "excluded_consent": r.excluded_consent,
                    "withheld_k": r.withheld_k, "sent": r.sent, "payload_rows": r.sent if mode == "record" else r.cube_cells,
                    "status": r.status, "bundle_bytes": r.bundle_bytes}
    elif kind == "polars":
        import polars  # noqa: F401  (imports are not part of the measurement, as for dvnet)

        def work() -> dict:
            return _polars(Path(network), Path(extract), mode, mark)
    else:
        import pandas  # noqa: F401  (imports are not part of the measurement, as for dvnet)
        import pandera.pandas  # noqa: F401

        def work() -> dict:
            return pandas_contribution(Path(network), Path(extract), mode, mark)

    import pyarrow  # noqa: F401

    import dvnet.pipelines.contributor.run  # noqa: F401  (warm the imports for both scenarios)

    # pandera imports its strategies (and hypothesis, when the dev extra installed it) at the first
    # check it runs: an import, not work, and absent from an agency's install.
    import pandas as pd
    import pandera.pandas as pa

    pa.Check(lambda s: s.notna())(pd.Series([1]))

    wall, cpu = time.perf_counter(), time.process_time()
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        result = profiler.runcall(work)
        profiler.dump_stats(profile)
    else:
        result = work()
    end = time.perf_counter()
    wall, cpu = end - wall, time.process_time() - cpu
    stamps.append(("end", end))
    stages = {name: round(stamps[i + 1][1] - t, 3) for i, (name, t) in enumerate(stamps[:-1])}
    print(json.dumps({"seconds": wall, "cpu_seconds": cpu, "stages": stages, **peak_rss(), **result}))


def run_process(kind: str, mode: str, network: Path, extract: Path) -> dict:
    """One contribution as a whole process, the way its user runs it, timed from start to exit:
    ``dvnet contribute`` (imports, options, report and all), or a baseline (pandas, polars) as a script."""
    if kind == "dvnet":
        command = [str(Path(sys.executable).with_name("dvnet")), "contribute", "--agency", str(network / "agencies" / AGENCY),
                   "--contract", CONTRACT, "--extract", str(extract), "--period", PERIOD, "--mode", mode, "--k", str(K),
                   "--max-withheld-share", os.environ.get("DVNET_BENCH_MAX_WITHHELD", str(MAX_WITHHELD)), "--resend"]  # --resend: the same quarter again, every repeat
    else:
        command = [sys.executable, __file__, "--baseline-process", f"{kind}_{mode}", str(network), str(extract)]
    return whole_process(command, f"{kind} {mode} as a process")


def touch_cost() -> float:
    """Seconds to touch 1 GiB of fresh memory in a new process (this machine's mood)."""
    code = "import time;t=time.perf_counter();b=bytearray(1<<29);print(time.perf_counter()-t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return 2 * float(out.stdout)


def run_child(*args: str) -> dict:
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        child = subprocess.Popen([sys.executable, __file__, *args], stdout=stdout, stderr=stderr, text=True)
        workers = worker_memory(child)
        stdout.seek(0), stderr.seek(0)
        if child.returncode != 0:
            raise SystemExit(f"child {args[:2]} failed:\n{stderr.read()[-3000:]}")
        return {**json.loads(stdout.read().strip().splitlines()[-1]), **workers}


def measure(rows: int, scenarios: list[str], repeats: int, profile: str | None, whole: bool = True) -> dict:
    with tempfile.TemporaryDirectory(prefix="dvnet-contributor-bench-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        out = subprocess.run([sys.executable, __file__, "--generate", str(rows), str(folder)], capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(out.stderr[-3000:])
        network, extract = folder / "network", folder / "extract.csv"
        size = extract.stat().st_size
        print(f"{rows:,} rows: generated a {size / 1e6:,.0f} MB extract in {time.perf_counter() - started:.1f} s", flush=True)
        if profile:
            stats = folder / "profile.out"
            r = run_child("--child", profile, str(network), str(extract), "--profile-to", str(stats))
            print(f"profiled {profile}: {r['seconds']:.2f} s under cProfile; stages {r['stages']}")
            import pstats

            pstats.Stats(str(stats)).sort_stats("cumulative").print_stats(35)
            pstats.Stats(str(stats)).sort_stats("tottime").print_stats(20)
            return {}
        touch_before = touch_cost()
        runs: dict[str, list[dict]] = {s: [] for s in scenarios}
        for repeat in range(repeats):
            for scenario in scenarios:
                time.sleep(SETTLE_SECONDS)
                r = run_child("--child", scenario, str(network), str(extract))
                assert r["records_read"] == rows, (scenario, r)
                runs[scenario].append(r)
                print(
                    f"  run {repeat + 1} {scenario:17s} {r['seconds']:7.2f} s  {rows / r['seconds']:>9,.0f} rows/s  "
                    f"cpu {r['cpu_seconds']:6.2f} s (+{r['worker_cpu_seconds']:.2f} s in workers)  peak {r['peak_rss_bytes'] / 2**20:6,.0f} MiB "
                    f"(+{r['workers']} workers, {r['worker_peak_rss_sum_bytes'] / 2**20:,.0f} MiB)  stages {r['stages']}",
                    flush=True,
                )
        processes: dict[str, list[dict]] = {s: [] for s in scenarios} if whole else {}
        for repeat in range(repeats if whole else 0):
            for scenario in scenarios:
                time.sleep(SETTLE_SECONDS)
                r = run_process(*scenario.split("_"), network, extract)
                processes[scenario].append(r)
                print(f"  process {repeat + 1} {scenario:17s} {r['seconds']:7.2f} s  peak {r['peak_rss_bytes'] / 2**20:6,.0f} MiB", flush=True)
        touch_after = touch_cost()
    for mode in ("record", "aggregate"):  # the two implementations must have sent the same thing
        done = [runs[s][0] for s in scenarios if s.endswith(mode)]
        keys = ("records_read", "rejected", "excluded_consent", "withheld_k", "sent", "payload_rows")
        assert all({k: d[k] for k in keys} == {k: done[0][k] for k in keys} for d in done), f"{mode}: outcomes differ: {done}"
    summary = {}
    for scenario, results in runs.items():
        seconds = [r["seconds"] for r in results]
        median = statistics.median(seconds)
        best = min(results, key=lambda r: r["seconds"])
        summary[scenario] = {
            "median_seconds": round(median, 3),
            "min_seconds": round(min(seconds), 3),
            "max_seconds": round(max(seconds), 3),
            "rows_per_second_median": round(rows / median),
            "rows_per_second_best": round(rows / min(seconds)),
            "median_cpu_seconds": round(statistics.median(r["cpu_seconds"] for r in results), 3),
            "peak_rss_mib_max": round(max(r["peak_rss_bytes"] for r in results) / 2**20),
            "worker_peak_rss_mib_max": round(max(r["worker_peak_rss_bytes"] for r in results) / 2**20),
            "worker_peak_rss_sum_mib_max": round(max(r["worker_peak_rss_sum_bytes"] for r in results) / 2**20),
            "median_worker_cpu_seconds": round(statistics.median(r["worker_cpu_seconds"] for r in results), 3),
            "ru_maxrss_mib_max": round(max(r["ru_maxrss_bytes"] for r in results) / 2**20),
            "stages_of_fastest_run": best["stages"],
            "outcome": {k: best[k] for k in ("records_read", "rejected", "excluded_consent", "withheld_k", "sent", "payload_rows")},
            "runs_seconds": [round(s, 3) for s in seconds],
        }
    _speedups(summary)
    whole_process = {}
    for scenario, results in processes.items():
        median = statistics.median(r["seconds"] for r in results)
        whole_process[scenario] = {"median_seconds": round(median, 3), "rows_per_second_median": round(rows / median),
                                   "peak_rss_mib_max": round(max(r["peak_rss_bytes"] for r in results) / 2**20),
                                   "runs_seconds": [round(r["seconds"], 3) for r in results]}
    _speedups(whole_process)
    return {
        "rows": rows,
        "extract_bytes": size,
        "repeats": repeats,
        "fresh_memory_seconds_per_gib_before": round(touch_before, 2),
        "fresh_memory_seconds_per_gib_after": round(touch_after, 2),
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        "scenarios": summary,
        "whole_process": whole_process,
    }


def _speedups(scenarios: dict) -> None:
    """``speedup_vs_<baseline>_median`` on each dvnet scenario whose baseline ran beside it."""
    for mode in ("record", "aggregate"):
        for baseline in BASELINES:
            a, b = scenarios.get(f"dvnet_{mode}"), scenarios.get(f"{baseline}_{mode}")
            if a and b:
                a[f"speedup_vs_{baseline}_median"] = round(b["median_seconds"] / a["median_seconds"], 2)


def _polars(network: Path, extract: Path, mode: str, mark) -> dict:
    from polars_baseline import polars_contribution

    return polars_contribution(network, extract, mode, mark)


def _installed(baseline: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(baseline) is not None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=SCENARIOS)
    parser.add_argument("--no-baseline", action="store_true", help="skip the pandas_* and polars_* scenarios")
    parser.add_argument("--baseline-max-rows", type=int, default=1_000_000, help="skip pandas_* and polars_* above this many rows (default 1,000,000)")
    parser.add_argument("--profile", choices=SCENARIOS, help="run one scenario once under cProfile and print where the time goes")
    parser.add_argument("--max-withheld-share", type=float, default=MAX_WITHHELD, help="record mode (default 0.01)")
    parser.add_argument("--no-whole-process", action="store_true", help="skip timing each scenario as a whole process (command start to exit)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--baseline-process", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--profile-to", help=argparse.SUPPRESS)
    parser.add_argument("--generate", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ["DVNET_BENCH_MAX_WITHHELD"] = str(args.max_withheld_share)
    if args.generate:
        rows, folder = int(args.generate[0]), Path(args.generate[1])
        generate(rows, make_network(folder), folder / "extract.csv")
        return 0
    if args.child:
        child(*args.child, args.profile_to)
        return 0
    if args.baseline_process:
        scenario, network, extract = args.baseline_process
        kind, mode = scenario.split("_")
        (_polars if kind == "polars" else pandas_contribution)(Path(network), Path(extract), mode, lambda stage: None)
        return 0
    missing = [b for b in BASELINES if not _installed(b)]
    if missing:
        print(f"not installed, so not measured: {', '.join(missing)} (pip install -e '.[bench]')", flush=True)
    sizes = []
    for rows in args.rows:
        baseline = not args.no_baseline and rows <= args.baseline_max_rows
        scenarios = [s for s in args.scenarios if s.split("_")[0] not in missing and (baseline or s.startswith("dvnet"))]
        result = measure(rows, scenarios, args.repeats, args.profile, whole=not args.no_whole_process)
        if result:
            sizes.append(result)
    if args.profile:
        return 0

    for kind, title in (("scenarios", "in-process (imports excluded)"), ("whole_process", "as whole processes (command start to exit, imports included)")):
        if not any(s[kind] for s in sizes):
            continue
        print(f"\n{title}\n{'rows':>10s} {'scenario':17s} {'median s':>9s} {'rows/s':>10s} {'peak MiB':>9s} {'vs pandas':>9s} {'vs polars':>9s}")
        for s in sizes:
            for scenario, r in s[kind].items():
                ratios = [r.get(f"speedup_vs_{b}_median") for b in BASELINES]
                print(f"{s['rows']:>10,d} {scenario:17s} {r['median_seconds']:9.2f} {r['rows_per_second_median']:>10,d} "
                      f"{r['peak_rss_mib_max']:>9,d} " + " ".join(f"{f'{x:.2f}x' if x else '':>9s}" for x in ratios))
    if len(sizes) > 1:
        base = sizes[0]
        for s in sizes[1:]:
            for scenario, r in s["scenarios"].items():
                if scenario in base["scenarios"]:
                    b = base["scenarios"][scenario]
                    print(f"growth {base['rows']:,} -> {s['rows']:,} rows ({s['rows'] / base['rows']:.0f}x), {scenario}: "
                          f"time x{r['median_seconds'] / b['median_seconds']:.2f}, peak memory x{r['peak_rss_mib_max'] / b['peak_rss_mib_max']:.2f}")
    report = {
        "benchmark": "contributor",
        "run": run_id(),
        "command": "benchmarks/contributor.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "contract": CONTRACT,
        "k": K,
        "max_withheld_share": args.max_withheld_share,
        "targets": {"rows_per_second": 400_000, "peak_rss_mib": 1536, "speedup_vs_pandas": 3.0, "speedup_vs_polars_whole_process": 2.0},
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(),
        "sizes": sizes,
    }
    out = results_path("contributor")
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
