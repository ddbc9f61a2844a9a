"""The publish gate fails closed, and the release checks fail on a release that is broken:

- an audit that leaves cells unchecked at its time limit refuses publication (AUDIT_INCOMPLETE),
  writing nothing (no folder, no ledger row, no audit event);
- ``no_cell_below_threshold`` fails when a small count is published;
- ``no_exact_or_narrow_ranges`` fails when a suppressed cell can be recalculated from the files.

Both checks run through Dagster, on the release folder as an evaluator receives it.
"""

from __future__ import annotations

import shutil

import duckdb
import pandas as pd
import pytest

from dvnet.anonymize.disclosure.tables import TOTAL
from dvnet.assets.releases.lib import release as release_module
from dvnet.assets.releases.lib.verify import reaudit_release, small_published_cells
from dvnet.common import audit
from dvnet.common.network import NetworkPaths
from dvnet.contracts.errors import DvnetError

PERIOD = "2026-Q3"


def test_an_audit_that_runs_out_of_time_refuses_publication_and_writes_nothing(loaded_network):
    paths = NetworkPaths(loaded_network)
    events = len(audit.read(paths.audit_log))
    with pytest.raises(DvnetError) as caught:
        release_module.build_request(loaded_network, "dv-default", [PERIOD], "someone", time_limit=1e-9)  # the deadline is past at once
    assert caught.value.reason == "AUDIT_INCOMPLETE"
    assert list(paths.releases.iterdir()) == []
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        ledger = [t for (t,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall() if t.startswith("release")]
        assert all(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] == 0 for t in ledger)
    assert len(audit.read(paths.audit_log)) == events


@pytest.fixture
def release_copy(published, tmp_path):
    """A private copy of the published network, whose release files a test may break."""
    root, result = published
    copy = tmp_path / "net"
    shutil.copytree(root, copy)
    return copy, copy / "coordinator" / "releases" / result.release_id


def _run_checks(root):
    """The releases group's checks alone, through Dagster, on the network's newest release."""
    from dagster import AssetSelection, DagsterInstance, materialize

    from dvnet.assets.releases.assets import CHECKS, published_release
    from dvnet.assets.resources import build_resources

    with DagsterInstance.ephemeral() as instance:
        result = materialize([published_release, *CHECKS], selection=AssetSelection.checks(*CHECKS), instance=instance, resources=build_resources(root))
        return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_the_release_checks_pass_on_the_release_as_published(release_copy):
    root, _ = release_copy
    checks = _run_checks(root)
    assert {name: e.passed for name, e in checks.items()} == {"no_exact_or_narrow_ranges": True, "no_cell_below_threshold": True}


def _parquet(folder, name: str) -> pd.DataFrame:
    return pd.read_parquet(folder / "parquet" / f"{name}.parquet")


def _write(folder, name: str, frame: pd.DataFrame) -> None:
    frame.to_parquet(folder / "parquet" / f"{name}.parquet", index=False)


def test_no_cell_below_threshold_fails_on_a_published_small_count(release_copy):
    root, folder = release_copy
    frame = _parquet(folder, "referral_flows")
    at = frame.index[frame["status"] != "published"][0]
    frame.loc[at, ["value", "status"]] = [3, "published"]  # a count of 3 under a threshold of 11
    _write(folder, "referral_flows", frame)
    assert small_published_cells(folder) == 1
    checks = _run_checks(root)
    evaluation = checks["no_cell_below_threshold"]
    assert not evaluation.passed and evaluation.metadata["small_published_cells"].value == 1


def _pairs_to_expose(folder):
    """(table, row) of each suppressed cell that, published as 0, leaves exactly one suppressed cell
    beside a published Total: that one is then Total minus the published cells, exactly."""
    manifest_tables = pd.read_json(folder / "manifest.json", typ="series")["tables"]
    for name, info in manifest_tables.items():
        if info["kind"] != "count":
            continue
        frame = _parquet(folder, name)
        dims = [c for c in frame.columns if c not in ("value", "status")]
        for dim in dims:
            others = [d for d in dims if d != dim]
            for _, group in frame.groupby(others, dropna=False) if others else [(None, frame)]:
                total = group[group[dim] == TOTAL]
                cells = group[group[dim] != TOTAL]
                suppressed = cells.index[cells["status"] != "published"]
                if len(total) == 1 and (total["status"] == "published").all() and len(suppressed) == 2:
                    yield name, int(suppressed[0])


def _expose_one(folder):
    """Publish the first such cell as 0 whose 0 the other tables do not contradict (a 0 where
    another table shows the same count at least 1 makes the numbers inconsistent instead)."""
    for name, row in _pairs_to_expose(folder):
        original = _parquet(folder, name)
        frame = original.copy()
        frame.loc[row, ["value", "status"]] = [0, "published"]
        _write(folder, name, frame)
        try:
            return reaudit_release(folder)
        except DvnetError as err:
            assert err.reason == "INVALID_TABLE", err.reason
            _write(folder, name, original)
    return None


def test_no_exact_or_narrow_ranges_fails_when_a_suppressed_cell_can_be_recalculated(release_copy):
    root, folder = release_copy
    report = _expose_one(folder)
    assert report is not None, "the release has no pair of suppressed cells under a published total"
    assert not report.passed
    evaluation = _run_checks(root)["no_exact_or_narrow_ranges"]
    assert not evaluation.passed
