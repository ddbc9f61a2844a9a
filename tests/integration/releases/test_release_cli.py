"""`dvnet publish` and `dvnet release publish` as Dagster runs (issues 12 and 15): the network's
instance holds a materialisation of ``release_request`` and, after two reviewers approved through
`dvnet review`, of ``published_release`` with its checks' evaluations; only then does `dvnet query`
serve it. A refused request is still one line and exit 1, and shows as a failed run."""

from __future__ import annotations

import os

from dagster import AssetKey, DagsterInstance, DagsterRunStatus, RunsFilter

from dvnet.assets.runs import latest_check_results
from dvnet.pipelines.ceremony import FOUNDER
from dvnet.pipelines.cli import main
from fixtures_central import add_reviewers

PERIOD = "2026-Q3"


def _as_founder(root) -> list[str]:
    return ["--as", FOUNDER[0], "--key", str(root / "people" / FOUNDER[0] / "signing.key")]


def _as(root, person_id: str) -> list[str]:
    return ["--as", person_id, "--key", str(root / "people" / person_id / "signing.key")]


def test_request_review_and_publish_are_dagster_runs_and_only_the_published_release_is_served(loaded_network, capsys, monkeypatch):
    root = loaded_network
    (one, _), (two, _) = add_reviewers(root)
    code = main(["publish", "--network", str(root), *_as_founder(root)], {})
    out, err = capsys.readouterr()
    assert code == 0, out + err
    release_id = out.split("requested release ", 1)[1].split(":")[0]
    request = root / "coordinator" / "release-requests" / release_id
    assert (request / "manifest.json").is_file() and (request / "disclosure.json").is_file()
    assert not (root / "coordinator" / "releases" / release_id).exists()
    assert main(["query", "--network", str(root), "SELECT 1"], {}) == 1  # NO_RELEASES: a request is not served
    assert "NO_RELEASES" in capsys.readouterr().err

    assert main(["review", "list", "--network", str(root), *_as(root, one)], {}) == 0
    assert release_id in capsys.readouterr().out
    assert main(["review", "show", "--network", str(root), release_id, *_as(root, one)], {}) == 0
    assert "0/2 approvals" in capsys.readouterr().out
    assert main(["review", "approve", "--network", str(root), release_id, "--comment", "tables checked", *_as(root, one)], {}) == 0
    assert "now 1/2 approvals" in capsys.readouterr().out
    assert main(["release", "publish", "--network", str(root), release_id, *_as_founder(root)], {}) == 1
    assert "error: REVIEW_INCOMPLETE:" in capsys.readouterr().err
    assert main(["review", "approve", "--network", str(root), release_id, "--comment", "suppression checked", *_as(root, two)], {}) == 0
    capsys.readouterr()
    code = main(["release", "publish", "--network", str(root), release_id, *_as_founder(root)], {})
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "checks: no_cell_below_threshold passed, no_exact_or_narrow_ranges passed" in out
    assert main(["query", "--network", str(root), "--release", release_id, "SELECT 1 AS one"], {}) == 0  # RELEASE_UNKNOWN (2) if not served
    capsys.readouterr()
    # One way to show a suppressed value, whatever the column's type: an empty cell, as in the CSV.
    for table in ("referral_flows", "referral_acceptance_rate"):  # an integer count, a rate
        assert main(["query", "--network", str(root), f"SELECT value, status FROM {table} WHERE status = 'suppressed' LIMIT 3"], {}) == 0
        shown = capsys.readouterr().out
        assert "suppressed" in shown and not any(mark in shown for mark in ("<NA>", "nan", "None")), shown
    # The example `dvnet query --help` gives runs on a real release, as typed.
    from dvnet.pipelines.commands.query import query as query_command

    example = query_command.help.split('Example: dvnet query --network demo-network "', 1)[1].split('"\n', 1)[0]
    assert main(["query", "--network", str(root), example], {}) == 0, capsys.readouterr().err
    assert " rows" in capsys.readouterr().out
    # A table that is not there: the error says which tables the release holds, and how to list all.
    assert main(["query", "--network", str(root), "SELECT * FROM no_such_table"], {}) == 2
    err = capsys.readouterr().err
    assert "error: QUERY_FAILED: Catalog Error" in err and f"hint: release {release_id} holds the tables " in err
    assert "referral_acceptance_rate" in err or " more;" in err
    assert 'list all with "SHOW ALL TABLES"' in err

    home = root / "coordinator" / "dagster"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with DagsterInstance.from_config(str(home)) as instance:
        for asset in ("release_request", "published_release"):
            (record,) = instance.fetch_materializations(AssetKey(asset), limit=10).records
            assert record.asset_materialization.metadata["release_id"].value == release_id
        (run,) = instance.get_runs(filters=RunsFilter(tags={"dvnet/launched_by": "dvnet release publish"}), limit=1)
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
        assert not instance.fetch_materializations(AssetKey("release_request"), limit=10).records
    assert os.environ.get("DAGSTER_HOME") == str(home)  # the command restored what it found


def test_a_request_that_cannot_be_proven_safe_in_its_time_limit_is_refused_and_says_how_to_proceed(loaded_network, capsys):
    # `--time-limit` reaches suppression and the audit: a limit no audit meets refuses the request
    # (the same network publishes under the default limit, in the test above), writing nothing.
    root = loaded_network
    code = main(["publish", "--network", str(root), "--time-limit", "0.000001", *_as_founder(root)], {})
    out, err = capsys.readouterr()
    assert code == 1, out + err
    assert "error: AUDIT_INCOMPLETE:" in err and "--time-limit" in err and "Traceback" not in out + err, err
    assert not list((root / "coordinator" / "releases").glob("*"))
    assert not list((root / "coordinator" / "release-requests").glob("*/manifest.json"))
