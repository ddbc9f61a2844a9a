"""Everything holding data is owner-only (files 0600, folders 0700) even under the usual umask 022:
the writers ask for it themselves (the CLI's umask 077 is a second layer, walked in the e2e demo
test). Data folders found open to others are fixed on open, with a warning and an audit line."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from dvnet.assets.intake.lib.ingest import CoordinatorContext, ingest_inbox
from fixtures_central import publish_reviewed as build_release
from dvnet.assets.resources import build_resources
from dvnet.common import audit
from dvnet.common.audit_trail import verify_log
from dvnet.common import network as store
from dvnet.common.files import FileModeWarning
from dvnet.pipelines.contributor.report import write_report
from dvnet.pipelines.contributor.run import ContributionOptions, contribute
from dvnet.pipelines.demo_network import demo_geography
from dvnet.pipelines.synth import synthesize


@pytest.fixture
def open_umask():
    old = os.umask(0o022)
    yield
    os.umask(old)


def open_to_others(root: Path) -> list[str]:
    """Files and folders under ``root`` that group or others could read, enter or write."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames, *([] if dirpath != str(root) else ["."])]:
            path = Path(dirpath) / name
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                continue
            if st.st_mode & 0o077:
                found.append(f"{path.relative_to(root)} {stat.S_IMODE(st.st_mode):04o}")
    return found


def test_a_whole_network_written_under_umask_022_is_owner_only(open_umask, ck, tmp_path):
    kit = ck.make_network(tmp_path / "net")
    orgs = store.load_network(kit.root).organisations
    synthesize(orgs, kit.paths.agencies, seed=3, periods=[ck.PERIOD], faults=frozenset({"ragged_rows"}), geography=demo_geography())  # extracts, ground truth
    shelter = store.load_agency(kit.agency_folder("shelter-a"))
    result = contribute(shelter, ContributionOptions("service_episode", shelter.folder / "extracts" / f"service_episode_{ck.PERIOD}.csv", ck.PERIOD))
    write_report(result, shelter.folder / "reports", "20261001T000000Z")  # outbox, state, report, agency audit log
    for i, agency in enumerate(("shelter-a", "legal-b", "shelter-a")):
        kit.drop(f"b{i}", kit.counts(agency, "referral", n=60, seed=i, period=ck.EARLIER_PERIOD if i == 2 else ck.PERIOD).blob)
    kit.drop("junk", b"not a bundle")  # quarantine
    os.chmod(kit.inbox / "junk.dvb", 0o644)  # delivered readable by everyone
    with build_resources(kit.root)["warehouse"].get_connection() as con:  # warehouse, receipts, archive
        outcomes = ingest_inbox(CoordinatorContext.load(kit.root), con)
    assert [o.outcome for o in outcomes].count("loaded") == 3
    build_release(kit.root, "dv-default", [ck.PERIOD])  # release folder and its records

    assert (kit.paths.quarantine / "junk.dvb").exists() and list(kit.paths.releases.iterdir())
    assert open_to_others(kit.root) == []


def test_data_folders_found_open_are_fixed_reported_and_audited(open_umask, network_dir):
    paths = store.NetworkPaths(network_dir)
    os.chmod(paths.coordinator, 0o755)
    os.chmod(paths.audit_log, 0o644)
    os.chmod(paths.warehouse.parent, 0o777)
    with pytest.warns(FileModeWarning) as caught:
        store.load_network(network_dir)
    # Only the mode warnings: the recorder also catches whatever else fires meanwhile (a
    # ResourceWarning from an earlier test's garbage collected here, under xdist's ordering).
    named = sorted(str(w.message).split(" was readable")[0] for w in caught if issubclass(w.category, FileModeWarning))
    assert named == sorted(map(str, (paths.coordinator, paths.audit_log, paths.warehouse.parent)))
    assert open_to_others(paths.coordinator) == []
    assert audit.read(paths.audit_log)[-1]["action"] == "file_mode_fixed"
    assert verify_log(paths.audit_log).head_signed  # signed by the coordinator, as its other entries

    agency = paths.agencies / "shelter-north"
    os.chmod(agency / "reports", 0o755)
    with pytest.warns(FileModeWarning):
        store.load_agency(agency)
    assert open_to_others(agency) == []
    assert audit.read(agency / "audit.log")[-1]["action"] == "file_mode_fixed"
    assert verify_log(agency / "audit.log").head_signed


def test_a_key_file_open_to_others_is_refused_not_fixed(network_dir):
    """Keys are the exception: a key others could have copied must be replaced, not chmod-ed."""
    from dvnet import bundle

    key = store.NetworkPaths(network_dir).keys / "signing.key"
    os.chmod(key, 0o644)
    with pytest.raises(bundle.BundleError) as caught:
        CoordinatorContext.load(network_dir)
    assert caught.value.reason == "KEY_FILE_INSECURE"
    assert stat.S_IMODE(key.stat().st_mode) == 0o644
