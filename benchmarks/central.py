"""Central ingest and cube rebuild at network scale, beside a naive pandas implementation.

    .venv/bin/python benchmarks/central.py                      # 50 agencies × 200,000 rows
    .venv/bin/python benchmarks/central.py --agencies 5 --rows 20000 --cprofile
    .venv/bin/python benchmarks/central.py --profile scaled     # through the sensor: embedded vs scaled (central_profiles.py)

Setup (not timed): a network of N Tier 3 agencies, each sealing one record-mode
``service_episode`` bundle of R de-identified rows (built with numpy, straight into Arrow).

Measured, each stage in its own child process (peak memory = that child's ru_maxrss):
- ``ingest``: ``ingest_files`` over every bundle, as the intake op runs it (verify, decrypt, re-validate, load rows + counts +
  ledger in one transaction, receipt, audit), into a fresh DuckDB warehouse;
- ``cubes``: the indicator cubes rebuilt from ``contribution_counts`` (``dvnet.assets.warehouse.lib.cubes``),
  plus the episode cube (quarter × region × service type × risk level) as a GROUP BY over staged rows;
- ``dagster``: the same bundles (a copy of the network made before ``ingest``) through ``dvnet ingest``
  as a coordinator runs it: one whole process (imports, Dagster definitions, one run per agency ×
  period, asset checks, cube rebuild), timed from start to exit on an instance that already exists
  (made before the clock starts, as ``dvnet ingest`` makes it). Its reference is ``ingest`` +
  ``cubes`` of the same run;
- ``small bundles``: the per-bundle cost of orchestration where it shows, on many small bundles
  (``--small-agencies`` × ``--small-rows``, default 100 × 1,000): ``ingest`` + ``cubes`` and ``dagster``
  again, round-robin, on their own copy; (Dagster − core − cubes) ÷ bundles, start-up included;
- ``naive``: pandas reads every agency's Parquet, concatenates, groups by the same four dimensions;
- ``duckdb_parquet``: DuckDB straight over the same Parquet files (the floor: no verification).

Targets (issue 5): ingest + cubes < 30 s, peak < 4 GiB, ≥ 5× the naive cube; (issue 18) through
Dagster < 1.3× the core, < 0.2 s of orchestration a bundle on small bundles. Prints a table and writes ``results/central.json`` (``run_info``) at the
default size or when ``make bench-quick`` names a results folder. Times are wall-clock.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import json
import os
import pstats
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from run_info import RESULTS_ENV, header, results_path, whole_process  # noqa: E402

PERIOD = "2026-Q3"
CUBE_DIMS = ("episode_quarter", "region", "service_type", "risk_level")
TARGET_SECONDS, TARGET_PEAK_GIB, TARGET_SPEEDUP, TARGET_DAGSTER_RATIO, TARGET_OVERHEAD_SECONDS = 30.0, 4.0, 5.0, 1.3, 0.2


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 * 1024)  # KiB on Linux


# --- setup ---------------------------------------------------------------------------------------


def _hex_strings(rng, n: int):
    """n random 32-hex-digit strings as an Arrow array, without a Python loop."""
    import numpy as np
    import pyarrow as pa

    raw = rng.integers(0, 256, size=n * 16, dtype=np.uint8)
    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    text = np.empty(n * 32, dtype=np.uint8)
    text[0::2], text[1::2] = digits[raw >> 4], digits[raw & 15]
    offsets = np.arange(0, n * 32 + 1, 32, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(text.tobytes()))


def episode_table(n: int, seed: int):
    """n de-identified service episodes (the contract's output model), codes drawn uniformly."""
    import numpy as np
    import pyarrow as pa

    from dvnet.contracts import codes
    from dvnet.pipelines.demo_network import demo_geography
    from dvnet.contracts.registry import get_contract

    rng = np.random.default_rng(seed)

    def coded(values):
        return pa.array(list(values), pa.string()).take(pa.array(rng.integers(0, len(values), n)))

    flags = ("risk_strangulation", "risk_weapon_access", "risk_escalation", "risk_recent_separation", "risk_threats_to_kill",
             "risk_children_in_household", "risk_pregnancy", "safety_plan_completed")  # fmt: skip
    columns = {
        "episode_pseudonym": _hex_strings(rng, n),
        "client_pseudonym": _hex_strings(rng, n),
        "age_band": coded(codes.AGE_BANDS),
        "region": coded(demo_geography().region_ids),
        "service_type": coded(codes.SERVICE_TYPES),
        "episode_quarter": pa.array([PERIOD], pa.string()).take(pa.array(np.zeros(n, dtype=np.int64))),
        "referral_source_type": coded(codes.REFERRAL_SOURCE_TYPES),
        "risk_level": coded(codes.RISK_LEVELS),
        **{f: pa.array(rng.random(n) < 0.3) for f in flags},
        "protection_order_status": coded(codes.PROTECTION_ORDER_STATUSES),
        "housing_status_at_exit": coded(codes.HOUSING_AT_EXIT),
        "gender": coded(codes.GENDERS),
        "indigenous_identity": coded(codes.YES_NO_NOT_STATED),
        "disability": coded(codes.YES_NO_NOT_STATED),
        "language": coded(codes.LANGUAGES),
    }
    return pa.table({c: columns[c] for c in get_contract("service_episode").output_columns()})


def stage_setup(work: Path, agencies: int, rows: int) -> dict:
    from dvnet import bundle
    from dvnet.anonymize.deidentify import keyed_outputs
    from dvnet.common import network as store
    from dvnet.contracts.registry import get_contract
    from dvnet.pipelines.ceremony import Ceremony
    from dvnet.pipelines.contributor.run import _write_payload

    contract = get_contract("service_episode")

    root = work / "net"
    ceremony = Ceremony.found(root, "Benchmark network", custodian=None)
    regions = store.load_network(root).geography.region_ids
    network_key = bundle.encryption_public_key_from_text(store.load_network(root).coordinator.encryption_public_key)
    (work / "parquet").mkdir()
    inbox = store.NetworkPaths(root).inbox
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    total_bytes = 0
    t0 = time.perf_counter()
    for i in range(agencies):
        agency = f"agency-{i:03d}"
        cfg = ceremony.add_agency(agency, f"Agency {i}", "direct_service", 3, regions[i % len(regions)])
        table = episode_table(rows, seed=i)
        # Written as `dvnet contribute` writes a payload (pseudonyms without a dictionary, no statistics).
        _write_payload([table], str(work / "parquet" / f"{agency}.parquet"), frozenset(keyed_outputs(contract)))
        payload = (work / "parquet" / f"{agency}.parquet").read_bytes()
        sealed = bundle.seal(
            payload, agency_id=agency, contract_id="service_episode", contract_version=1, mode="record", sequence=1,
            period=PERIOD, record_count=rows, signing_key=bundle.load_signing_key(cfg.signing_key_path),
            recipient_public_key=network_key, now=now,
        )  # fmt: skip
        (inbox / f"{agency}.dvb").write_bytes(sealed.blob)
        total_bytes += len(sealed.blob)
    return {"seconds": time.perf_counter() - t0, "bundles": agencies, "bundle_bytes": total_bytes, "peak_gib": _peak_gib()}


# --- measured stages -----------------------------------------------------------------------------


def stage_ingest(work: Path, profile: bool) -> dict:
    from dvnet.assets.intake.lib.ingest import CoordinatorContext, ingest_files, pending_files
    from dvnet.assets.resources import build_resources

    ctx = CoordinatorContext.load(work / "net")
    files = pending_files(ctx.paths.inbox)
    warehouse = build_resources(work / "net")["warehouse"]  # the intake asset's connection, same settings
    profiler = cProfile.Profile() if profile else None
    with warehouse.get_connection() as con:
        t0 = time.perf_counter()
        if profiler:
            profiler.enable()  # (the verification thread is not profiled)
        outcomes = list(ingest_files(files, ctx, con))
        if profiler:
            profiler.disable()
        t1 = time.perf_counter()
        con.execute("CHECKPOINT")  # write the WAL into the file now: part of the ingest, not of whoever opens next
        seconds = time.perf_counter() - t0
        checkpoint = time.perf_counter() - t1
        rows = con.execute("SELECT count(*) FROM staged_service_episode").fetchall()[0][0]
    result = {
        "seconds": seconds,
        "checkpoint_seconds": checkpoint,
        "bundles": len(files),
        "loaded": sum(o.outcome == "loaded" for o in outcomes),
        "reasons": sorted({o.reason for o in outcomes if o.reason}),
        "rows": rows,
        "peak_gib": _peak_gib(),
    }
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(35)
        result["profile"] = out.getvalue()
    return result


def stage_cubes(work: Path) -> dict:
    import duckdb

    from dvnet.assets.warehouse.lib.cubes import CUBE_FAMILIES, rebuild_cubes
    from dvnet.common.network import NetworkPaths, load_network

    network = load_network(work / "net")
    path = str(NetworkPaths(work / "net").warehouse)
    t0 = time.perf_counter()
    duckdb.connect(path).close()
    opened = time.perf_counter() - t0
    cells = {}
    for family in CUBE_FAMILIES:  # one connection per family, as the warehouse assets do
        con = duckdb.connect(path)
        cells[family] = sum(rebuild_cubes(con, network, family).values())
        con.close()
    t_counts = time.perf_counter() - t0
    con = duckdb.connect(path)
    dims = ", ".join(CUBE_DIMS)
    t1 = time.perf_counter()
    con.execute(f"CREATE OR REPLACE TABLE cube_episodes_4d AS SELECT {dims}, count(*) AS n FROM staged_service_episode GROUP BY ALL")
    t_staged = time.perf_counter() - t1
    episode_cells, episodes = con.execute("SELECT count(*), sum(n) FROM cube_episodes_4d").fetchone()
    checksum = con.execute(f"SELECT sum(n * hash({dims})) FROM cube_episodes_4d").fetchone()[0]
    con.close()
    return {
        "seconds": t_counts + t_staged,
        "count_cubes_seconds": t_counts,
        "first_open_seconds": opened,
        "count_cube_cells": cells,
        "staged_cube_seconds": t_staged,
        "staged_cube_cells": episode_cells,
        "episodes": int(episodes),
        "checksum": int(checksum),
        "peak_gib": _peak_gib(),
    }


def stage_dagster(work: Path) -> dict:
    """``dvnet ingest`` over the copy of the inbox, as one whole process on an existing instance."""
    import duckdb

    from dvnet.assets.runs import dagster_home_for
    from dvnet.common.network import NetworkPaths
    from dvnet.pipelines.ceremony import FOUNDER

    root = work / "net-dagster"
    paths = NetworkPaths(root)
    command = [str(Path(sys.executable).with_name("dvnet")), "ingest", "--network", str(root),
               "--as", FOUNDER[0], "--key", str(root / "people" / FOUNDER[0] / "signing.key")]
    dagster_home_for(root, None, os.environ)  # the coordinator's instance already exists: made here, not timed
    timed = whole_process(command, "dvnet ingest")
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    rows = con.execute("SELECT count(*) FROM staged_service_episode").fetchone()[0]
    con.close()
    return {"seconds": timed["seconds"], "rows": rows, "peak_gib": timed["peak_rss_bytes"] / 2**30}


def stage_naive(work: Path) -> dict:
    import pandas as pd

    t0 = time.perf_counter()
    frames = [pd.read_parquet(p) for p in sorted((work / "parquet").glob("*.parquet"))]
    frame = pd.concat(frames, ignore_index=True)
    del frames
    cube = frame.groupby(list(CUBE_DIMS)).size().rename("n").reset_index()
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "rows": len(frame), "cube_cells": len(cube), "episodes": int(cube["n"].sum()), "peak_gib": _peak_gib()}


def stage_duckdb_parquet(work: Path) -> dict:
    import duckdb

    con = duckdb.connect()
    t0 = time.perf_counter()
    cells = con.execute(
        f"SELECT count(*) FROM (SELECT {', '.join(CUBE_DIMS)}, count(*) FROM read_parquet(?) GROUP BY ALL)", [str(work / "parquet" / "*.parquet")]
    ).fetchone()[0]
    return {"seconds": time.perf_counter() - t0, "cube_cells": cells, "peak_gib": _peak_gib()}


STAGES = {"setup": stage_setup, "ingest": stage_ingest, "cubes": stage_cubes, "dagster": stage_dagster, "naive": stage_naive,
          "duckdb_parquet": stage_duckdb_parquet}


def _median_round(rounds: list[dict], name: str) -> dict:
    """Stage ``name``'s result in the round of median time, with every round's seconds and the
    largest peak."""
    runs = sorted((r[name] for r in rounds), key=lambda x: x["seconds"])
    return {**runs[len(runs) // 2], "seconds_per_round": [round(x["seconds"], 2) for x in runs], "peak_gib": max(x["peak_gib"] for x in runs)}


def _rounds(work: Path, args: argparse.Namespace) -> tuple[dict, list[dict]]:
    """Set up ``args.agencies`` bundles of ``args.rows`` rows in ``work``; then ``args.repeats``
    rounds of core, cubes and Dagster, round-robin, each on fresh copies of the same bundles."""
    work.mkdir()
    setup = run_stage("setup", work, args)
    shutil.copytree(work / "net", work / "pristine", symlinks=True)  # the bundles as delivered, for every round
    rounds: list[dict] = []
    for r in range(args.repeats):
        for copy in ("net", "net-dagster"):
            shutil.rmtree(work / copy, ignore_errors=True)
            shutil.copytree(work / "pristine", work / copy, symlinks=True)
        rounds.append({})
        for name in ("ingest", "cubes", "dagster"):
            print(f"round {r + 1}/{args.repeats}: {name} ({args.agencies} × {args.rows:,} rows) ...", flush=True)
            rounds[-1][name] = run_stage(name, work, args)
    return setup, rounds


def _small_bundles(work: Path, args: argparse.Namespace) -> dict:
    """The orchestration a bundle costs where bundles are small (issue 18: < 0.2 s), measured as
    the large run is: medians of round-robin rounds, Dagster against core + cubes."""
    small = argparse.Namespace(**{**vars(args), "agencies": args.small_agencies, "rows": args.small_rows, "cprofile": False})
    _, rounds = _rounds(work, small)
    ingest, cubes, dagster = (_median_round(rounds, name) for name in ("ingest", "cubes", "dagster"))
    core = ingest["seconds"] + cubes["seconds"]
    per_round = sorted(round((r["dagster"]["seconds"] - r["ingest"]["seconds"] - r["cubes"]["seconds"]) / small.agencies, 3) for r in rounds)
    return {
        "agencies": small.agencies,
        "rows_per_agency": small.rows,
        "core_plus_cubes_seconds": round(core, 2),
        "dagster_seconds": round(dagster["seconds"], 2),
        "overhead_per_bundle_seconds": round((dagster["seconds"] - core) / small.agencies, 3),
        "overhead_per_bundle_per_round": per_round,
        "core_seconds_per_bundle": round(ingest["seconds"] / small.agencies, 3),
    }


def run_stage(name: str, work: Path, args: argparse.Namespace) -> dict:
    """Run one stage in a fresh interpreter; its JSON result is the last line of its stdout."""
    cmd = [sys.executable, __file__, "--stage", name, "--work", str(work), "--agencies", str(args.agencies), "--rows", str(args.rows)]
    if args.cprofile:
        cmd.append("--cprofile")
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if out.returncode != 0:
        raise SystemExit(f"stage {name} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agencies", type=int, help="agencies, one bundle each (default 50; 200 with --profile scaled)")
    parser.add_argument("--rows", type=int, help="rows per bundle (default 200,000; 50,000 with --profile scaled)")
    parser.add_argument("--cprofile", action="store_true", help="cProfile the ingest and print where its time goes")
    parser.add_argument("--profile", choices=("scaled",), help="scaled: bundles through the inbox sensor, the embedded profile beside "
                        "the scaled one (PostgreSQL instance and warehouse); benchmarks/central_profiles.py")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of core, cubes and dvnet ingest, round-robin on fresh copies (default 3); medians reported")
    parser.add_argument("--small-agencies", type=int, default=100, help="small-bundle run: bundles (default 100; 0 skips it)")
    parser.add_argument("--small-rows", type=int, default=1000, help="small-bundle run: rows per bundle (default 1,000)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    scaled = args.profile == "scaled"
    args.agencies = args.agencies or (200 if scaled else 50)
    args.rows = args.rows or (50_000 if scaled else 200_000)

    if args.stage:  # child process
        fn = STAGES[args.stage]
        if args.stage == "setup":
            result = fn(args.work, args.agencies, args.rows)
        elif args.stage == "ingest":
            result = fn(args.work, args.cprofile)
        else:
            result = fn(args.work)
        print(json.dumps(result))
        return 0

    if scaled:
        from central_profiles import run as compare_profiles

        return compare_profiles(args, stage_setup, run_stage)
    work = Path(tempfile.mkdtemp(prefix="dvnet-bench-central-"))
    small = None
    try:
        print(f"setup: {args.agencies} agencies × {args.rows:,} rows in {work} ...", flush=True)
        setup, rounds = _rounds(work / "large", args)
        results = {}
        for name in ("naive", "duckdb_parquet"):
            print(f"{name} ...", flush=True)
            results[name] = run_stage(name, work / "large", args)
        if args.small_agencies:
            print(f"small bundles: {args.small_agencies} agencies × {args.small_rows:,} rows ...", flush=True)
            small = _small_bundles(work / "small", args)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    ingest, cubes, dagster = (_median_round(rounds, name) for name in ("ingest", "cubes", "dagster"))
    paired = sorted(round(r["dagster"]["seconds"] / (r["ingest"]["seconds"] + r["cubes"]["seconds"]), 3) for r in rounds)
    naive, direct = results["naive"], results["duckdb_parquet"]
    profile = ingest.pop("profile", None)
    total_rows = args.agencies * args.rows
    ours = ingest["seconds"] + cubes["seconds"]
    peak = max(ingest["peak_gib"], cubes["peak_gib"])
    assert ingest["rows"] == dagster["rows"] == total_rows and cubes["episodes"] == naive["episodes"] == total_rows
    assert cubes["staged_cube_cells"] == naive["cube_cells"] == direct["cube_cells"]
    report = {
        **header("central", "benchmarks/central.py"),
        "agencies": args.agencies,
        "rows_per_agency": args.rows,
        "rows_total": total_rows,
        "setup": setup,
        "ingest": ingest,
        "cubes": cubes,
        "dagster": dagster,
        "naive_pandas": naive,
        "duckdb_over_parquet": direct,
        "summary": {
            "ingest_plus_cubes_seconds": round(ours, 2),
            "ingest_rows_per_second": round(total_rows / ingest["seconds"]),
            "peak_gib": round(peak, 2),
            "speedup_cube_vs_naive": round(naive["seconds"] / cubes["staged_cube_seconds"], 1),
            "speedup_all_cubes_vs_naive": round(naive["seconds"] / cubes["seconds"], 1),
            "dagster_vs_core": round(dagster["seconds"] / ours, 2),
            "rounds": len(rounds),
            "dagster_vs_core_per_round": paired,
            "dagster_overhead_per_bundle_seconds": round((dagster["seconds"] - ours) / args.agencies, 3),
            "small_bundles": small,
            "targets": {
                "ingest_plus_cubes_under_30s": ours < TARGET_SECONDS,
                "peak_under_4gib": peak < TARGET_PEAK_GIB,
                "at_least_5x_naive": naive["seconds"] / cubes["seconds"] >= TARGET_SPEEDUP,
                "dagster_under_1_3x_core": dagster["seconds"] / ours < TARGET_DAGSTER_RATIO,
                **({"small_bundle_overhead_under_0_2s": small["overhead_per_bundle_seconds"] < TARGET_OVERHEAD_SECONDS} if small else {}),
            },
        },
    }
    written = None
    if (args.agencies == 50 and args.rows == 200_000) or os.environ.get(RESULTS_ENV):
        written = results_path("central")
        written.write_text(json.dumps(report, indent=2) + "\n")
    s = report["summary"]
    print(f"\n{'stage':<38}{'seconds':>10}{'peak GiB':>10}")
    for label, r in (
        (f"ingest {total_rows:,} rows ({args.agencies} bundles)", ingest),
        ("cubes: contribution_counts + staged 4-d", cubes),
        ("dvnet ingest through Dagster (process)", dagster),
        ("naive pandas read+concat+groupby", naive),
        ("duckdb straight over parquet (floor)", direct),
    ):
        print(f"{label:<38}{r['seconds']:>10.2f}{r['peak_gib']:>10.2f}")
    print(f"\ningest + cubes {s['ingest_plus_cubes_seconds']} s ({s['ingest_rows_per_second']:,} rows/s), peak {s['peak_gib']} GiB")
    print(f"cube vs naive: {s['speedup_cube_vs_naive']}× (4-d staged cube), {s['speedup_all_cubes_vs_naive']}× (every cube)")
    print(f"through Dagster: {s['dagster_vs_core']}× ingest + cubes, medians of {len(rounds)} rounds (each round: {paired}); "
          f"{s['dagster_overhead_per_bundle_seconds']} s more per bundle")
    if small:
        print(f"small bundles ({small['agencies']} × {small['rows_per_agency']:,} rows): {small['dagster_seconds']} s through Dagster against "
              f"{small['core_plus_cubes_seconds']} s core + cubes, {small['overhead_per_bundle_seconds']} s of orchestration a bundle "
              f"(per round {small['overhead_per_bundle_per_round']})")
    print("targets: " + ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in s["targets"].items()))
    if profile:
        print("\nwhere ingest time goes (cProfile, cumulative):\n" + profile)
    if written:
        print(f"written to {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
