"""Benchmark: generate and write 1,000,000 synthetic rows with ``synthesize``.

Run: ``.venv/bin/python benchmarks/synth.py [--rows N] [--repeats K]``. Prints rows/s and seconds
and writes ``benchmarks/results/synth.json``. Output goes to a temporary folder that is removed.
The network is the demo's (``pipelines/demo_network.py``): organisations of all six types and
four tiers, with agencies in the tiny regions. Timings drift +-25 % between time windows on this machine, so the
repeats run back to back and the median is reported.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.csv as pacsv  # noqa: E402

from dvnet.pipelines.demo_network import demo_geography, demo_organisations  # noqa: E402
from dvnet.pipelines.synth import plan_volumes, rates, synthesize  # noqa: E402
from dvnet.pipelines.synth.writer import CsvFile  # noqa: E402

PERIOD = "2026-Q3"
SEED = 1


NETWORK = demo_organisations()


def scale_for(rows: int) -> float:
    """The scale at which the network writes about ``rows`` rows in one quarter."""
    plan = plan_volumes(NETWORK, seed=SEED, periods=[PERIOD], scale=1.0)
    tier4 = {o.id for o in NETWORK if o.tier >= 4}
    research = sum(n for (a, c, _), n in plan.items() if c == "service_episode" and a in tier4)
    expected = sum(plan.values()) + research * (1 - rates.NAME_MISSING) * (1 - rates.DOB_MISSING)
    return rows / expected


def writer_comparison(path: Path) -> dict[str, float]:
    """Seconds to write one extract with the Arrow writer used here vs ``DataFrame.to_csv``."""
    table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    columns = table.column_names
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        rendered = CsvFile(columns, table)
        Path(tmp, "a.csv").write_bytes(rendered.header)
        with open(Path(tmp, "a.csv"), "ab") as f:
            f.write(memoryview(rendered.body))
        arrow = time.perf_counter() - t
        df = table.to_pandas()
        t = time.perf_counter()
        df.to_csv(Path(tmp, "b.csv"), index=False)
        pandas = time.perf_counter() - t
    return {"rows": table.num_rows, "arrow_seconds": round(arrow, 3), "pandas_to_csv_seconds": round(pandas, 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    scale = scale_for(args.rows)
    runs = []
    largest = None
    for i in range(args.repeats):
        out = Path(tempfile.mkdtemp(prefix="dvnet-synth-bench-"))
        try:
            t = time.perf_counter()
            summary = synthesize(NETWORK, out, seed=SEED, periods=[PERIOD], scale=scale, geography=demo_geography())
            wall = time.perf_counter() - t
            size = sum(p.stat().st_size for p in summary.files)
            runs.append({"rows": summary.total_rows, "seconds": round(wall, 3), "files": len(summary.files), "bytes": size})
            print(f"run {i + 1}: {summary.total_rows:,} rows, {len(summary.files)} files, {size / 2**20:,.0f} MiB in {wall:.2f} s "
                  f"= {summary.total_rows / wall:,.0f} rows/s")
            if i == 0:
                largest = max(summary.files, key=lambda p: p.stat().st_size)
                comparison = writer_comparison(largest)
        finally:
            shutil.rmtree(out, ignore_errors=True)

    median = statistics.median(r["seconds"] for r in runs)
    rows = runs[0]["rows"]
    result = {
        "benchmark": "synth",
        "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "rows": rows,
        "scale": round(scale, 4),
        "organisations": len(NETWORK),
        "period": PERIOD,
        "runs": runs,
        "median_seconds": median,
        "rows_per_second": round(rows / median),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "writer_comparison_largest_file": comparison,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "pyarrow": pa.__version__,
                    "pandas": pd.__version__, "platform": platform.platform()},
    }
    results = ROOT / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "synth.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"median {median:.2f} s for {rows:,} rows = {rows / median:,.0f} rows/s; peak RSS {result['peak_rss_mib']} MiB")
    print(f"writer on the largest file ({comparison['rows']:,} rows): Arrow {comparison['arrow_seconds']} s, "
          f"pandas to_csv {comparison['pandas_to_csv_seconds']} s")
    print(f"wrote {results / 'synth.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
