"""`benchmarks/report.py`: one table from one run, never a figure beside a reference from another."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPORT = Path(__file__).resolve().parents[3] / "benchmarks" / "report.py"

SEALING = {"benchmark": "sealing", "command": "benchmarks/sealing.py --mib 8", "sizes": [
    {"mib": 8, "repeats": 5, "seal_seconds": 0.033, "aead_encrypt_seconds": 0.004, "seal_vs_raw_aead": 8.25, "open_seconds": 0.015,
     "aead_decrypt_seconds": 0.003, "open_vs_raw_aead": 5.0, "sha256_seconds": 0.005}]}
CONTRIBUTOR = {"benchmark": "contributor", "command": "benchmarks/contributor.py", "sizes": [
    {"rows": 1_000_000, "repeats": 3, "whole_process": {}, "scenarios": {
        "dvnet_record": {"median_seconds": 2.0, "rows_per_second_median": 500_000, "peak_rss_mib_max": 1000, "speedup_vs_pandas_median": 6.0}}}]}


def _write(folder: Path, name: str, data: dict, run: str) -> None:
    (folder / f"{name}.json").write_text(json.dumps({**data, "run": run}))


def _report(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPORT), "--results", str(folder), *args], capture_output=True, text=True, timeout=60)


def test_only_the_named_runs_results_are_reported(tmp_path):
    _write(tmp_path, "sealing", SEALING, "run-a")
    _write(tmp_path, "contributor", CONTRIBUTOR, "run-b")  # measured at another time: its figures must not appear
    result = _report(tmp_path, "--run", "run-a")
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "latest.md").read_text()
    assert "run `run-a`" in text and "| 8 | 0.033 | 0.004 | 8.25× |" in text
    assert "Contributor (" not in text and "500,000" not in text
    assert "Not measured in this run, so not reported: contributor, central, suppression" in text


def test_targets_are_judged_from_the_runs_own_figures(tmp_path):
    _write(tmp_path, "contributor", CONTRIBUTOR, "run-b")
    assert _report(tmp_path, "--run", "run-b").returncode == 0
    text = (tmp_path / "latest.md").read_text()
    assert "| contributor ≥ 400,000 rows/s, record mode, 1M rows (in-process) | 500,000 | met |" in text
    assert "| contributor peak ≤ 400 MiB at any size (record mode) | 1,000 MiB at 1,000,000 | **missed** |" in text


def test_a_run_without_results_is_refused_and_no_run_id_is_a_usage_error(tmp_path):
    _write(tmp_path, "sealing", SEALING, "run-a")
    missing = _report(tmp_path, "--run", "run-z")
    assert missing.returncode == 1 and "no results of run run-z" in missing.stderr
    assert not (tmp_path / "latest.md").exists()
    unnamed = subprocess.run([sys.executable, str(REPORT), "--results", str(tmp_path)], capture_output=True, text=True, timeout=60,
                             env={"PATH": "/usr/bin:/bin"})
    assert unnamed.returncode == 2 and "no run id" in unnamed.stderr


def test_the_polars_baseline_is_judged_as_whole_processes_and_named_when_it_did_not_run(tmp_path):
    with_polars = json.loads(json.dumps(CONTRIBUTOR))
    with_polars["sizes"][0]["scenarios"]["polars_record"] = {"median_seconds": 3.0, "rows_per_second_median": 333_333, "peak_rss_mib_max": 900}
    with_polars["sizes"][0]["whole_process"] = {
        "dvnet_record": {"median_seconds": 3.0, "rows_per_second_median": 333_333, "peak_rss_mib_max": 1000, "speedup_vs_polars_median": 1.5},
        "polars_record": {"median_seconds": 4.5, "rows_per_second_median": 222_222, "peak_rss_mib_max": 900}}
    _write(tmp_path, "contributor", with_polars, "run-p")
    assert _report(tmp_path, "--run", "run-p").returncode == 0
    text = (tmp_path / "latest.md").read_text()
    assert "| contributor ≥ 2× the polars baseline, record mode, 1M rows (whole process) | 1.50× | **missed** |" in text
    assert "| 1,000,000 | dvnet_record | 3.00 | 333,333 | 1,000 | — | 1.50× |" in text
    assert "polars baseline of the contributor (not installed" not in text

    _write(tmp_path, "contributor", CONTRIBUTOR, "run-q")  # dvnet and pandas only
    assert _report(tmp_path, "--run", "run-q").returncode == 0
    text = (tmp_path / "latest.md").read_text()
    assert "the polars baseline of the contributor (not installed" in text and "2× the polars baseline" not in text


def _central(small: dict | None) -> dict:
    stage = {"seconds": 10.0, "peak_gib": 0.5}
    return {"benchmark": "central", "command": "benchmarks/central.py", "agencies": 50, "rows_per_agency": 200_000, "rows_total": 10_000_000,
            "ingest": stage, "cubes": {**stage, "seconds": 1.0, "staged_cube_seconds": 0.2}, "dagster": {**stage, "seconds": 22.0},
            "naive_pandas": {**stage, "seconds": 20.0}, "duckdb_over_parquet": {**stage, "seconds": 0.2},
            "summary": {"dagster_vs_core": 2.0, "rounds": 3, "dagster_vs_core_per_round": [1.9, 2.0, 2.1], "dagster_overhead_per_bundle_seconds": 0.22,
                        "speedup_cube_vs_naive": 100.0, "peak_gib": 0.5, "small_bundles": small}}


def test_the_per_bundle_overhead_is_judged_on_small_bundles_when_the_run_measured_them(tmp_path):
    """The issue's target is about small bundles: the large run's per-bundle figure stays in its
    row, and the target is judged on the small-bundle run, named by its size."""
    small = {"agencies": 100, "rows_per_agency": 1000, "core_plus_cubes_seconds": 4.8, "dagster_seconds": 13.9,
             "overhead_per_bundle_seconds": 0.091, "overhead_per_bundle_per_round": [0.088, 0.091, 0.097], "core_seconds_per_bundle": 0.044}
    _write(tmp_path, "central", _central(small), "run-c")
    assert _report(tmp_path, "--run", "run-c").returncode == 0
    text = (tmp_path / "latest.md").read_text()
    assert "| per-bundle orchestration overhead < 0.2 s (100 bundles × 1,000 rows) | 0.091 s | met |" in text
    assert "0.22 s more per bundle (start-up included)" in text and "per round 0.088 s, 0.091 s, 0.097 s" in text
    _write(tmp_path, "central", _central(None), "run-d")  # a run without them is judged on the large bundles, as before
    assert _report(tmp_path, "--run", "run-d").returncode == 0
    assert "| per-bundle orchestration overhead < 0.2 s | 0.22 s | **missed** |" in (tmp_path / "latest.md").read_text()
