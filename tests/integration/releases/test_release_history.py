"""The history a re-publication is audited against comes from the release folders, cross-checked
with the ledger: a folder the ledger names that is gone or altered refuses the publish."""

from __future__ import annotations

import shutil

import duckdb
import pandas as pd
import pytest

from dvnet.anonymize.disclosure.errors import DisclosureError
from dvnet.assets.releases.lib.internal import read_reasons
from fixtures_central import publish_reviewed as build_release
from dvnet.common.network import NetworkPaths

PERIOD = "2026-Q3"


@pytest.fixture
def first(published, tmp_path):
    """A private copy of the network with its first release."""
    root = tmp_path / "net"
    shutil.copytree(published[0], root)
    return root, published[1]


def test_re_publishing_under_another_profile_keeps_what_the_first_release_promised(first):
    root, r1 = first
    second = build_release(root, "opensafely", [PERIOD], release_id="second")
    assert second.manifest["audit"]["earlier_cells"] > 0 and second.manifest["audit"]["passed"]
    reasons = read_reasons(NetworkPaths(root).coordinator, "second")
    assert any("earlier" in r for r in reasons.values())  # cells small under dv-default stay hidden under OpenSAFELY
    first_reasons = read_reasons(NetworkPaths(root).coordinator, r1.release_id)
    for name, why in first_reasons.items():
        later = reasons[name]
        assert all(b != "published" for a, b in zip(why, later, strict=True) if a == "primary"), name


def test_without_the_ledger_the_folders_are_the_history(first):
    root, _ = first
    with duckdb.connect(str(NetworkPaths(root).warehouse)) as con:  # the ledger lost: only the folders remain
        for table in ("release_cells", "releases"):
            con.execute(f"DELETE FROM {table}")
    second = build_release(root, "opensafely", [PERIOD], release_id="second")
    assert second.manifest["audit"]["earlier_cells"] > 0


def test_a_missing_or_altered_release_folder_refuses_the_publish(first):
    root, r1 = first
    releases = NetworkPaths(root).releases
    parquet = releases / r1.release_id / "parquet" / "referral_flows.parquet"  # the copy's folder
    frame = pd.read_parquet(parquet)
    shown = frame.index[frame["status"] == "published"][0]
    frame.loc[shown, "value"] = frame.loc[shown, "value"] + 1
    frame.to_parquet(parquet, index=False)
    with pytest.raises(DisclosureError) as err:
        build_release(root, "dv-default", [PERIOD], release_id="second")
    assert err.value.reason == "HISTORY_ALTERED"
    shutil.rmtree(releases / r1.release_id)
    with pytest.raises(DisclosureError) as err:
        build_release(root, "dv-default", [PERIOD], release_id="third")
    assert err.value.reason == "HISTORY_MISSING"
    assert not (releases / "second").exists() and not (releases / "third").exists()
