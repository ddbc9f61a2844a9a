"""Benchmark: suppression and audit of a demo network's period, in-process, as a release request runs it.

The release step is most of `make demo` and of every test that publishes. This times ``protect``
on the tables and per-agency contributions ``build_request`` reads from the warehouse (opened
read-only; nothing is written), and prints what protection cost in cells.

    make demo                                             # makes demo-network/
    .venv/bin/python benchmarks/release_demo.py           # demo-network, its latest period, dv-default
    .venv/bin/python benchmarks/release_demo.py --repeat 3 --profile opensafely

Exit codes: 0 done, 2 no such network or warehouse.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", type=Path, default=Path("demo-network"), help="a network folder (default: demo-network)")
    parser.add_argument("--profile", default="dv-default", help="the disclosure profile (default: dv-default)")
    parser.add_argument("--method", default="auto", help="protect's method: auto, milp or heuristic (default: auto)")
    parser.add_argument("--repeat", type=int, default=1, help="runs in this process (default: 1)")
    args = parser.parse_args(argv)

    from dvnet.anonymize.disclosure import protect
    from dvnet.anonymize.disclosure.profiles import get_profile
    from dvnet.assets.releases.lib.release import _tables, latest_periods
    from dvnet.assets.warehouse.lib import schema as warehouse_schema
    from dvnet.assets.warehouse.lib.cubes import load_organisations, single_member_categories
    from dvnet.common.network import NetworkPaths, load_network

    paths = NetworkPaths(args.network.resolve())
    if not warehouse_schema.exists(paths.warehouse):
        print(f"no warehouse in {args.network} (run `make demo` first)", file=sys.stderr)
        return 2
    network = load_network(paths.root)
    periods = latest_periods(paths.root)
    con = warehouse_schema.connect(paths.warehouse, read_only=True)
    try:
        load_organisations(con, network)
        tables, contributions = _tables(con, periods)
    finally:
        con.close()
    profile = get_profile(args.profile)
    seconds = []
    for i in range(args.repeat):
        t0 = time.perf_counter()
        release = protect(tables, profile, contributions=contributions, sole_categories=single_member_categories(network), method=args.method)
        seconds.append(time.perf_counter() - t0)
        s = release.stats
        print(f"run {i + 1}/{args.repeat}: {seconds[-1]:.1f} s; {len(tables)} tables, {s.cells:,} cells; suppressed {s.primary} primary, "
              f"{s.dominance} dominance, {s.complementary} complementary; method {s.method}; audit {'passed' if release.audit.passed else 'FAILED'}", flush=True)
    print(f"{', '.join(periods)} under {profile.name}: median {statistics.median(seconds):.1f} s over {args.repeat} run(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
