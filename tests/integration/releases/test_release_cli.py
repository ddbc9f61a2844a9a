"""`dvnet publish` as a Dagster run (issue 12, point 5): the network's instance holds a
materialisation of ``published_release`` naming the release, and its checks' evaluations; a
refused release is still one line and exit 1, and shows in the instance as a failed run."""

from __future__ import annotations

import os

from dagster import AssetKey, DagsterInstance, DagsterRunStatus, RunsFilter

from dvnet.assets.runs import latest_check_results
from dvnet.pipelines.ceremony import FOUNDER
from dvnet.pipelines.cli import main

PERIOD = "2026-Q3"


def _as_founder(root) -> list[str]:
    return ["--as", FOUNDER[0], "--key", str(root / "people" / FOUNDER[0] / "signing.key")]


def test_publish_is_a_dagster_run_whose_materialisation_names_the_release_and_whose_checks_ran(loaded_network, capsys, monkeypatch):
    root = loaded_network
    code = main(["publish", "--network", str(root), *_as_founder(root)], {})
    out, err = capsys.readouterr()
    assert code == 0, out + err
    release_id = out.split("published release ", 1)[1].split()[0]
    assert (root / "coordinator" / "releases" / release_id / "manifest.json").is_file()
    assert "checks: no_cell_below_threshold passed, no_exact_or_narrow_ranges passed" in out
    assert f"folder: {root / 'coordinator' / 'releases' / release_id}" in out

    home = root / "coordinator" / "dagster"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with DagsterInstance.from_config(str(home)) as instance:
        (record,) = instance.fetch_materializations(AssetKey("published_release"), limit=10).records
        metadata = record.asset_materialization.metadata
        assert metadata["release_id"].value == release_id and metadata["periods"].value == PERIOD
        (run,) = instance.get_runs(filters=RunsFilter(tags={"dvnet/launched_by": "dvnet publish"}))
        assert run.status == DagsterRunStatus.SUCCESS
    checks = {name: result for name, result in latest_check_results(root, home).items() if name.startswith("published_release:")}
    assert checks == {"published_release:no_exact_or_narrow_ranges": (True, "ERROR"), "published_release:no_cell_below_threshold": (True, "ERROR")}


def test_a_refused_release_is_one_line_and_exit_1_and_a_failed_run_in_the_instance(loaded_network, capsys, monkeypatch):
    root = loaded_network
    code = main(["publish", "--network", str(root), "--period", "2026-Q1", *_as_founder(root)], {})  # nothing loaded for it
    out, err = capsys.readouterr()
    assert code == 1, out + err
    assert "error: NOTHING_TO_PUBLISH:" in err and "Traceback" not in out + err and "dagster" not in (out + err).lower()
    assert not any(p.name.startswith("2026-Q1") for p in (root / "coordinator" / "releases").glob("*"))
    home = root / "coordinator" / "dagster"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with DagsterInstance.from_config(str(home)) as instance:
        (run,) = instance.get_runs(filters=RunsFilter(tags={"dvnet/launched_by": "dvnet publish"}))
        assert run.status == DagsterRunStatus.FAILURE
        assert not instance.fetch_materializations(AssetKey("published_release"), limit=10).records
    assert os.environ.get("DAGSTER_HOME") == str(home)  # the command restored what it found
