"""One table of every benchmark figure beside its reference from the same run: ``latest.md``.

    .venv/bin/python benchmarks/report.py --results benchmarks/results --run <id>

``make bench`` and ``make bench-quick`` call it last. It reads ``contributor``, ``central``,
``suppression`` and ``sealing`` JSON from the results folder and keeps only files whose ``run``
is the given id: a figure is never printed beside a reference measured at another time, and a
benchmark that did not run in this run is listed as not measured, with no figure. Each
benchmark pairs its figures inside itself (the same process, or children started round-robin),
so every ratio below is within one run of one script.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from contributor import BASELINES  # noqa: E402
from run_info import RUN_ENV, machine  # noqa: E402

BENCHMARKS = ("contributor", "central", "suppression", "sealing")


def _load(folder: Path, run: str) -> dict[str, dict]:
    found = {}
    for name in BENCHMARKS:
        path = folder / f"{name}.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if data.get("run") == run:
            found[name] = data
    return found


def _table(header: list[str], rows: list[list]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if i else "---" for i in range(len(header))) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out + [""]


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def contributor(data: dict, targets: list[list]) -> list[str]:
    lines = ["## Contributor (`dvnet contribute`, service_episode)", "", f"`{data['command']}`. Medians of {data['sizes'][0]['repeats']} fresh "
             "processes per scenario, round-robin. *In-process*: the work inside one process, imports excluded (the stages). "
             "*Whole process*: the command the way its user runs it, start to exit, imports and report included (the checkout's "
             "sources byte-compiled first, as an install leaves them). The references "
             "are the straightforward pandas and polars versions of the same steps (`benchmarks/contributor.py`, "
             "`benchmarks/polars_baseline.py`), in the same run, checked to send what dvnet sends; they run only up to their row "
             "limit.", ""]
    for kind, label in (("scenarios", "In-process"), ("whole_process", "Whole process")):
        rows = []
        for size in data["sizes"]:
            for scenario, r in size.get(kind, {}).items():
                ratios = [r.get(f"speedup_vs_{b}_median") for b in BASELINES]
                rows.append([f"{size['rows']:,}", scenario, f"{r['median_seconds']:.2f}", f"{r['rows_per_second_median']:,}",
                             f"{r['peak_rss_mib_max']:,}", *(f"{x:.2f}×" if x else "—" for x in ratios)])
        if rows:
            lines += [f"**{label}**", ""] + _table(["rows", "scenario", "median s", "rows/s", "peak MiB", *(f"vs {b}" for b in BASELINES)], rows)
    sizes = data["sizes"]
    if len(sizes) > 1:  # growth against the smallest size of the same run
        base, rows = sizes[0], []
        kind = "whole_process" if base.get("whole_process") else "scenarios"
        for size in sizes[1:]:
            for scenario, r in size[kind].items():
                if scenario.startswith("dvnet") and scenario in base[kind]:
                    b = base[kind][scenario]
                    rows.append([f"{base['rows']:,} → {size['rows']:,}", scenario, f"×{size['rows'] / base['rows']:.0f}",
                                 f"×{r['median_seconds'] / b['median_seconds']:.2f}", f"×{r['peak_rss_mib_max'] / b['peak_rss_mib_max']:.2f}"])
        lines += [f"**Growth** ({kind.replace('_', ' ')}; the reference is the smallest size of this run)", ""]
        lines += _table(["rows", "scenario", "rows ×", "time ×", "peak memory ×"], rows)
    by_rows = {s["rows"]: s for s in sizes}
    if 1_000_000 in by_rows:
        s = by_rows[1_000_000]
        for kind in ("scenarios", "whole_process"):
            r = s.get(kind, {}).get("dvnet_record")
            if r:
                what = "in-process" if kind == "scenarios" else "whole process"
                targets.append(["contributor ≥ 400,000 rows/s, record mode, 1M rows (" + what + ")", f"{r['rows_per_second_median']:,}",
                                _verdict(r["rows_per_second_median"] >= 400_000)])
        for mode in ("record", "aggregate"):
            ratio = s.get("whole_process", {}).get(f"dvnet_{mode}", {}).get("speedup_vs_polars_median")
            if ratio:
                targets.append([f"contributor ≥ 2× the polars baseline, {mode} mode, 1M rows (whole process)", f"{ratio:.2f}×", _verdict(ratio >= 2)])
    peaks = {s["rows"]: s["scenarios"]["dvnet_record"]["peak_rss_mib_max"] for s in sizes if "dvnet_record" in s["scenarios"]}
    if peaks and max(peaks) >= 1_000_000:  # the target is about large extracts: a small run says nothing about it
        targets.append(["contributor peak ≤ 400 MiB at any size (record mode)", ", ".join(f"{p:,} MiB at {r:,}" for r, p in peaks.items()),
                        _verdict(max(peaks.values()) <= 400)])
    return lines


def central(data: dict, targets: list[list]) -> list[str]:
    s, ingest, cubes, dagster = data["summary"], data["ingest"], data["cubes"], data["dagster"]
    core = ingest["seconds"] + cubes["seconds"]
    rows = [
        [f"ingest core ({data['agencies']} bundles, {data['rows_total']:,} rows)", f"{ingest['seconds']:.2f}", f"{ingest['peak_gib']:.2f}", "the core of the next row"],
        ["cubes rebuilt (every count cube + staged 4-d)", f"{cubes['seconds']:.2f}", f"{cubes['peak_gib']:.2f}", ""],
        ["`dvnet ingest` through Dagster, whole process", f"{dagster['seconds']:.2f}", f"{dagster['peak_gib']:.2f}",
         f"{s['dagster_vs_core']}× core + cubes (medians of {s.get('rounds', 1)} round-robin rounds; per round "
         f"{', '.join(f'{x}×' for x in s.get('dagster_vs_core_per_round', []))}); {s['dagster_overhead_per_bundle_seconds']} s more per bundle (start-up included)"],
        ["staged 4-d cube alone", f"{cubes['staged_cube_seconds']:.2f}", "", f"{s['speedup_cube_vs_naive']}× faster than naive pandas"],
        ["naive pandas read + concat + groupby (reference)", f"{data['naive_pandas']['seconds']:.2f}", f"{data['naive_pandas']['peak_gib']:.2f}", ""],
        ["DuckDB straight over the Parquet (floor, no verification)", f"{data['duckdb_over_parquet']['seconds']:.2f}",
         f"{data['duckdb_over_parquet']['peak_gib']:.2f}", ""],
    ]
    targets.append([f"through Dagster < 1.3× the ingest core ({data['agencies']} × {data['rows_per_agency']:,} rows)",
                    f"{s['dagster_vs_core']}×", _verdict(s["dagster_vs_core"] < 1.3)])
    small = s.get("small_bundles")
    if small:  # the target is about small bundles, where orchestration is most of a bundle's cost
        rows.insert(3, [f"small bundles: core + cubes ({small['agencies']} bundles × {small['rows_per_agency']:,} rows)",
                        f"{small['core_plus_cubes_seconds']:.2f}", "", "the core of the next row"])
        rows.insert(4, ["small bundles: `dvnet ingest` through Dagster, whole process", f"{small['dagster_seconds']:.2f}", "",
                        f"{small['overhead_per_bundle_seconds']} s more per bundle, start-up included (medians of "
                        f"{s.get('rounds', 1)} round-robin rounds; per round {', '.join(f'{x} s' for x in small['overhead_per_bundle_per_round'])})"])
        targets.append([f"per-bundle orchestration overhead < 0.2 s ({small['agencies']} bundles × {small['rows_per_agency']:,} rows)",
                        f"{small['overhead_per_bundle_seconds']} s", _verdict(small["overhead_per_bundle_seconds"] < 0.2)])
    else:
        targets.append(["per-bundle orchestration overhead < 0.2 s", f"{s['dagster_overhead_per_bundle_seconds']} s",
                        _verdict(s["dagster_overhead_per_bundle_seconds"] < 0.2)])
    if data["agencies"] == 50 and data["rows_per_agency"] == 200_000:
        targets.append(["central core (ingest + cubes) < 15 s, 50 × 200k rows", f"{core:.1f} s", _verdict(core < 15)])
        targets.append(["central core peak < 1 GiB", f"{s['peak_gib']} GiB", _verdict(s["peak_gib"] < 1)])
    return ["## Coordinator (central ingest and cubes)", "", f"`{data['command']}`. Each stage in its own fresh process on the same "
            "bundles; the Dagster path is a copy of the network made before the core ingest ran.", ""] + _table(
        ["stage", "seconds", "peak GiB", "beside its reference"], rows)


def suppression(data: dict, targets: list[list]) -> list[str]:
    rows = []
    for r in data["results"]:
        a = r["audit"]
        rows.append([f"{r['cells']:,}", r["case"], f"{r['suppressed_cells']:,}", f"{r['suppressed_total']:,}", f"{r['solve_seconds']:.1f}",
                     f"{r['audit_seconds']:.1f}", f"{'passed' if a['passed'] else 'failed'} (exact {a['exact']:,}, narrow {a['narrow']:,}, "
                     f"unchecked {a['unchecked']:,})"])
    return ["## Disclosure control (suppression and its audit)", "", f"`{data['command']}`. Synthetic releases shaped like dvnet's; "
            "the reference for each size is primary suppression alone on the same release (its audit shows what it leaves "
            "open).", ""] + _table(["cells", "case", "suppressed", "their total", "solve s", "audit s", "audit"], rows)


def sealing(data: dict, targets: list[list]) -> list[str]:
    rows = []
    for r in data["sizes"]:
        rows.append([f"{r['mib']}", f"{r['seal_seconds']:.3f}", f"{r['aead_encrypt_seconds']:.3f}", f"{r['seal_vs_raw_aead']}×",
                     f"{r['open_seconds']:.3f}", f"{r['aead_decrypt_seconds']:.3f}", f"{r['open_vs_raw_aead']}×", f"{r['sha256_seconds']:.3f}"])
    return ["## Bundles (seal and open beside the raw AEAD)", "", f"`{data['command']}`. Medians of {data['sizes'][0]['repeats']} calls "
            "in one process on the same random bytes.", ""] + _table(
        ["MiB", "seal s", "ChaCha20-Poly1305 encrypt s", "seal ÷ AEAD", "open s", "decrypt s", "open ÷ AEAD", "one SHA-256 pass s"], rows)


SECTIONS = {"contributor": contributor, "central": central, "suppression": suppression, "sealing": sealing}


def render(found: dict[str, dict], run: str, variant: str) -> str:
    m = machine()
    lines = [f"# dvnet benchmarks: {variant} run `{run}`", "",
             f"Written {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')} by `benchmarks/report.py` from the results of this run only "
             "(every figure beside its reference measured in the same run; nothing carried over from another).", "",
             f"**Machine**: {m['cpu']}, {m['cpus']} cores, {m['memory_gib']} GiB, {m['platform']}.", "",
             "**Versions**: " + ", ".join(f"{k} {v}" for k, v in m.items() if k not in ("cpu", "cpus", "memory_gib", "platform")) + ".", ""]
    targets: list[list] = []
    for name in BENCHMARKS:
        if name in found:
            lines += SECTIONS[name](found[name], targets)
    missing = [n for n in BENCHMARKS if n not in found]
    lines += ["## Targets (issue 18) from this run", ""] + _table(["target", "this run", ""], targets)
    if "contributor" in found and not any("polars" in sc for size in found["contributor"]["sizes"] for sc in size["scenarios"]):
        missing.append("the polars baseline of the contributor (not installed: `pip install -e '.[bench]'`)")
    lines += ["Not measured in this run, so not reported: " + (", ".join(missing) if missing else "nothing") + ".", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, required=True, help="the folder the run wrote its JSON to")
    parser.add_argument("--run", help=f"the run id (default: ${RUN_ENV})")
    parser.add_argument("--variant", default="full", help="how the run is named in the title (full or quick)")
    args = parser.parse_args(argv)
    import os

    run = args.run or os.environ.get(RUN_ENV)
    if not run:
        parser.error(f"no run id: pass --run or set {RUN_ENV}")
    found = _load(args.results, run)
    if not found:
        print(f"no results of run {run} in {args.results}", file=sys.stderr)
        return 1
    out = args.results / "latest.md"
    out.write_text(render(found, run, args.variant))
    print(f"wrote {out} ({', '.join(found)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
