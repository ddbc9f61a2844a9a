"""Benchmark: read a 1,000,000-row x 30-column agency extract with ``read_extract``.

    .venv/bin/python benchmarks/reader.py                      # 1,000,000 rows, 5 repeats
    .venv/bin/python benchmarks/reader.py --rows 5000000 --repeats 3

Generates the CSVs into a temporary folder (removed afterwards), then times each scenario in a
fresh process, round-robin, so every run pays for its own fresh memory as the contributor CLI
does (on this microVM touching new memory costs 0.5-2.7 s per GiB and varies by the minute;
the run records that cost beside the figures). Prints rows/s, wall and CPU seconds and peak RSS
(the child's ``ru_maxrss``), and writes ``benchmarks/results/reader.json``.

Scenarios:
- ``fast_lf``: UTF-8, LF, minimal quoting, 1 in 8 notes quoted (some with commas, quotes,
  embedded newlines), empty cells; the common case, served by pyarrow.
- ``fast_crlf_bom``: the same data as a Windows export (BOM, CRLF, every field quoted).
- ``exact``: the LF file forced through the exact path (the cost of a file the fast path
  distrusts: an unterminated-quote look-alike, a bare CR in a cell, ...).
- ``pandas_c``: ``pandas.read_csv(dtype="string[pyarrow]")`` with the C engine, for scale. It
  pads short rows, renames duplicate headers and never reports a line, so it is no substitute.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "reader.json"
SCENARIOS = ["fast_lf", "fast_crlf_bom", "exact", "pandas_c"]

NOTES = [
    "",
    "",
    "",
    "",
    "called, no answer",
    'safety plan "updated"',
    "moved\nout of region",
    "referred to legal aid",
]


def extract_columns(rows: int, seed: int = 7) -> dict[str, pa.Array]:
    """30 columns shaped like a service-episode extract: ids, dates, codes, counts, flags,
    postal codes, a free-text note, accented place names."""
    rng = np.random.default_rng(seed)

    def pick(options: list[str]) -> pa.Array:
        return pc.take(pa.array(options, pa.string()), pa.array(rng.integers(0, len(options), rows)))

    def prefixed(prefix: str, high: int) -> pa.Array:
        return pc.binary_join_element_wise(prefix, pa.array(rng.integers(0, high, rows)).cast(pa.string()), "")

    columns: dict[str, pa.Array] = {
        "episode_id": pc.binary_join_element_wise("EP", pa.array(np.arange(rows)).cast(pa.string()), ""),
        "client_id": prefixed("C", 400_000),
    }
    start = np.datetime64("2020-01-01")
    for i in range(6):
        days = start + rng.integers(0, 2000, rows).astype("timedelta64[D]")
        dates = pa.array(days.astype("datetime64[D]")).cast(pa.string())
        columns[f"date_{i}"] = pc.if_else(pa.array(rng.random(rows) < 0.1), None, dates)
    services = ["shelter", "outreach", "legal", "counselling", "housing", "hotline", "court advocacy", "health"]
    for i in range(10):
        columns[f"code_{i}"] = pick(services)
    for i in range(6):
        columns[f"count_{i}"] = pa.array(rng.integers(0, 100_000, rows)).cast(pa.string())
    columns["postal_code"] = prefixed("K", 9999)
    columns["consent"] = pick(["true", "false"])
    columns["interpreter"] = pick(["Y", ""])
    columns["note"] = pick(NOTES)
    columns["worker"] = prefixed("W", 300)
    columns["region"] = pick(["north", "south", "east", "west", "Montréal", "Zürich"])
    return columns


def _quoted(column: pa.Array, always: bool) -> pa.Array:
    column = pc.fill_null(column, "")
    needs = None if always else pc.match_substring_regex(column, '[,"\r\n]')
    if needs is not None and not pc.any(needs).as_py():
        return column
    doubled = pc.replace_substring(column, '"', '""')
    wrapped = pc.binary_join_element_wise('"', doubled, '"', "")
    return wrapped if needs is None else pc.if_else(needs, wrapped, column)


def write_csv(path: Path, columns: dict[str, pa.Array], *, crlf: bool, quote_all: bool, bom: bool) -> int:
    """Write in C++ (pyarrow compute), not row by row: a few seconds for a million rows."""
    newline = "\r\n" if crlf else "\n"
    names = list(columns)
    header = ",".join(f'"{n}"' if quote_all else n for n in names) + newline
    fields = [_quoted(columns[n], quote_all) for n in names]
    lines = pc.binary_join_element_wise(*fields, ",")
    lines = pc.binary_join_element_wise(lines, newline, "")
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
    body = lines.buffers()[2].to_pybytes()[offsets[0] : offsets[len(lines)]]
    with open(path, "wb") as handle:
        if bom:
            handle.write(b"\xef\xbb\xbf")
        handle.write(header.encode())
        handle.write(body)
    return path.stat().st_size


def child(scenario: str, path: str) -> None:
    """One timed read in this (fresh) process; prints one JSON line."""
    import pandas as pd

    from dvnet.pipelines.contributor import read
    from dvnet.pipelines.contributor.read import csv_fast

    if scenario == "exact":
        csv_fast._suspicion = lambda *args: "benchmark"  # force the exact path
    wall, cpu = time.perf_counter(), time.process_time()
    if scenario == "pandas_c":
        frame = pd.read_csv(path, dtype="string[pyarrow]", keep_default_na=False, na_values=[""])
        records = len(frame)
    else:
        records = read.read_extract(path).records
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rss = peak_rss_bytes()
    print(json.dumps({"seconds": wall, "cpu_seconds": cpu, "peak_rss_bytes": rss, "records": records}))


def peak_rss_bytes() -> int:
    """This process's peak resident set (VmHWM). Not ``ru_maxrss``: on Linux that survives
    exec, so a child would report the generating parent's peak."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def touch_cost() -> float:
    """Seconds to touch 512 MiB of fresh memory, scaled to 1 GiB (the machine's mood)."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import time;t=time.perf_counter();b=bytearray(1<<29);print(time.perf_counter()-t)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return 2 * float(out.stdout)


def run(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="dvnet-reader-bench-") as folder:
        started = time.perf_counter()
        columns = extract_columns(args.rows)
        lf, crlf = Path(folder) / "extract_lf.csv", Path(folder) / "extract_crlf_bom.csv"
        sizes = {
            "fast_lf": write_csv(lf, columns, crlf=False, quote_all=False, bom=False),
            "fast_crlf_bom": write_csv(crlf, columns, crlf=True, quote_all=True, bom=True),
        }
        sizes["exact"] = sizes["pandas_c"] = sizes["fast_lf"]
        files = {"fast_lf": lf, "fast_crlf_bom": crlf, "exact": lf, "pandas_c": lf}
        del columns
        print(
            f"generated {args.rows:,} rows x 30 columns in {time.perf_counter() - started:.1f} s: "
            f"LF {sizes['fast_lf'] / 1e6:.0f} MB, CRLF+BOM {sizes['fast_crlf_bom'] / 1e6:.0f} MB",
            flush=True,
        )
        touch_before = touch_cost()
        runs: dict[str, list[dict]] = {s: [] for s in args.scenarios}
        for repeat in range(args.repeats):
            for scenario in args.scenarios:
                out = subprocess.run(
                    [sys.executable, __file__, "--child", scenario, str(files[scenario])],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                result = json.loads(out.stdout.strip().splitlines()[-1])
                assert result["records"] == args.rows, (scenario, result)
                runs[scenario].append(result)
                print(
                    f"  run {repeat + 1} {scenario:14s} {result['seconds']:6.2f} s wall "
                    f"{result['cpu_seconds']:6.2f} s cpu  {result['peak_rss_bytes'] / 2**20:6.0f} MiB",
                    flush=True,
                )
        touch_after = touch_cost()

    summary = {}
    for scenario, results in runs.items():
        seconds = [r["seconds"] for r in results]
        median = statistics.median(seconds)
        summary[scenario] = {
            "file_bytes": sizes[scenario],
            "median_seconds": round(median, 3),
            "min_seconds": round(min(seconds), 3),
            "max_seconds": round(max(seconds), 3),
            "rows_per_second_median": round(args.rows / median),
            "rows_per_second_best": round(args.rows / min(seconds)),
            "median_cpu_seconds": round(statistics.median(r["cpu_seconds"] for r in results), 3),
            "peak_rss_mib_max": round(max(r["peak_rss_bytes"] for r in results) / 2**20),
            "runs_seconds": [round(s, 3) for s in seconds],
        }
    import pandas as pd

    return {
        "benchmark": "reader",
        "command": "benchmarks/reader.py " + " ".join(sys.argv[1:]),
        "rows": args.rows,
        "columns": 30,
        "repeats": args.repeats,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "pyarrow": pa.__version__,
            "pandas": pd.__version__,
            "fresh_memory_seconds_per_gib_before": round(touch_before, 2),
            "fresh_memory_seconds_per_gib_after": round(touch_after, 2),
            "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        },
        "scenarios": summary,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=SCENARIOS)
    parser.add_argument("--child", nargs=2, metavar=("SCENARIO", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    report = run(args)
    print()
    print(f"{'scenario':16s} {'median s':>9s} {'best s':>7s} {'rows/s (median)':>16s} {'cpu s':>6s} {'peak RSS':>9s}")
    for scenario, s in report["scenarios"].items():
        print(
            f"{scenario:16s} {s['median_seconds']:9.2f} {s['min_seconds']:7.2f} "
            f"{s['rows_per_second_median']:16,d} {s['median_cpu_seconds']:6.2f} {s['peak_rss_mib_max']:6d} MiB"
        )
    m = report["machine"]
    print(
        f"fresh memory: {m['fresh_memory_seconds_per_gib_before']} s/GiB before, "
        f"{m['fresh_memory_seconds_per_gib_after']} s/GiB after; load {m['load_average_1min_at_end']}"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
