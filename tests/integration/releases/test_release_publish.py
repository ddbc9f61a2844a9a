"""Publishing a release from a loaded network: files, tidy form, suppression, audit, ledger, query."""

from __future__ import annotations

import json
import re

import duckdb
import pandas as pd
import pytest

from dvnet.anonymize.disclosure.tables import TOTAL
from dvnet.contracts.errors import DvnetError
from dvnet.pipelines.access.query import query_releases
from fixtures_central import add_reviewers, publish_reviewed as build_release
from dvnet.assets.releases.lib.release import build_request
from dvnet.pipelines.ceremony import FOUNDER
from dvnet.pipelines.cli import main
from dvnet.assets.releases.lib.verify import reaudit_release, release_tables, small_published_cells
from dvnet.common.network import NetworkPaths, load_network

PERIOD = "2026-Q3"
STATUSES = {"published", "suppressed"}  # one public mark, whatever the reason


@pytest.fixture
def release(published):
    return published


def test_release_folder_has_the_pinned_layout(release):
    _, r = release
    for name in ("release.duckdb", "csv", "parquet", "manifest.json", "report.html"):
        assert (r.folder / name).exists(), name
    manifest = json.loads((r.folder / "manifest.json").read_text())
    assert manifest["periods"] == [PERIOD]
    assert manifest["profile"]["name"] == "dv-default"
    assert manifest["audit"]["passed"] is True
    assert manifest["contributing_agencies"] >= 8
    assert set(manifest["tables"]) == {p.stem for p in (r.folder / "csv").glob("*.csv")}


def test_every_table_is_tidy_with_value_and_status_and_documented(release):
    _, r = release
    con = duckdb.connect(str(r.folder / "release.duckdb"), read_only=True)
    try:
        comments = dict(con.execute("SELECT table_name, comment FROM duckdb_tables()").fetchall())
        for name, info in r.manifest["tables"].items():
            frame = con.execute(f'SELECT * FROM "{name}"').df()
            assert list(frame.columns[-2:]) == ["value", "status"], name
            assert comments[name], f"{name} has no description"
            if info["kind"] == "count":
                assert set(frame["status"]) <= STATUSES, name
                suppressed = frame["status"] != "published"
                assert frame.loc[suppressed, "value"].isna().all(), f"{name}: a suppressed cell shows a value"
                assert frame.loc[~suppressed, "value"].notna().all()
    finally:
        con.close()


def test_margins_add_up_in_published_tables(release):
    _, r = release
    frame = pd.read_parquet(r.folder / "parquet" / "referral_flows.parquet")
    full = frame[(frame.status == "published")]
    total = full[(full.referring_org_type == TOTAL) & (full.receiving_org_type == TOTAL) & (full.outcome == TOTAL)]
    assert len(total) == 1
    # Sum of published interior cells never exceeds the published grand total.
    interior = full[(full.referring_org_type != TOTAL) & (full.receiving_org_type != TOTAL) & (full.outcome != TOTAL)]
    assert interior["value"].sum() <= int(total["value"].iloc[0])


def test_no_small_count_is_published_and_the_audit_rerun_from_files_passes(release):
    _, r = release
    assert small_published_cells(r.folder) == 0
    report = reaudit_release(r.folder)
    assert report.passed, report.summary
    assert report.n_exact == 0 and report.n_narrow == 0


def test_no_agency_identity_appears_in_any_published_cell(release):
    root, r = release
    ids = {o.id for o in load_network(root).organisations} | {o.name for o in load_network(root).organisations}
    for csv in (r.folder / "csv").glob("*.csv"):
        text = csv.read_text()
        assert not any(i in text for i in ids), csv.name


def test_second_release_is_audited_against_the_first(published, tmp_path, capsys):
    import shutil

    root = tmp_path / "net"
    shutil.copytree(published[0], root)
    second = build_release(root, "dv-default", [PERIOD], release_id="second")
    assert second.manifest["audit"]["earlier_cells"] > 0
    assert "earlier published cells" in second.summary
    con = duckdb.connect(str(NetworkPaths(root).warehouse), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM releases").fetchone()[0] == 2
        assert con.execute("SELECT count(DISTINCT release_id) FROM release_cells").fetchone()[0] == 2
    finally:
        con.close()

    # A third request sees two earlier releases showing (largely) the same cells: each cell once (a
    # margin two tables share is one cell: a Total coordinate is no coordinate).
    third = build_request(root, "dv-default", [PERIOD], FOUNDER[0], release_id="third")
    shown = set()
    for folder in (published[1].folder, second.folder):
        manifest, tables = release_tables(folder)
        for t in tables:
            f = t.frame[t.frame["status"] == "published"]
            shown |= {(t.measure, tuple(sorted((d, v) for d, v in row.items() if v != TOTAL))) for row in f[list(t.dims)].astype(str).to_dict("records")}
    assert third.manifest["audit"]["earlier_cells"] == len(shown)
    assert f"with {len(shown)} earlier published cells" in third.summary
    # The coordinator's per-reason counts add up to the suppressed cells, earlier releases' included.
    reviewer = add_reviewers(root)[0][0]
    code = main(["review", "show", "--network", str(root), "third", "--as", reviewer, "--key", str(root / "people" / reviewer / "signing.key")], {})
    out = capsys.readouterr().out
    counts = re.search(r"cells ([\d,]+)  published ([\d,]+)  suppressed ([\d,]+): primary ([\d,]+), dominance ([\d,]+), complementary ([\d,]+), earlier ([\d,]+)", out)
    assert code == 0 and counts, out
    cells, published_, suppressed, *reasons = (int(n.replace(",", "")) for n in counts.groups())
    assert suppressed == cells - published_ == sum(reasons) and reasons[-1] > 0, out


def test_query_reads_releases_only(release):
    root, r = release
    releases = NetworkPaths(root).releases
    frame = query_releases(releases, "SELECT count(*) AS n FROM referral_flows")
    assert int(frame["n"].iloc[0]) == r.manifest["tables"]["referral_flows"]["cells"]
    warehouse = NetworkPaths(root).warehouse
    for sql in (f"ATTACH '{warehouse}' AS w", f"SELECT * FROM read_parquet('{r.folder}/parquet/referral_flows.parquet')", "CREATE TABLE x AS SELECT 1"):
        with pytest.raises(DvnetError) as e:
            query_releases(releases, sql)
        assert e.value.reason == "QUERY_FAILED"


def test_release_id_is_never_reused(release):
    root, r = release
    with pytest.raises(DvnetError) as e:
        build_release(root, "dv-default", [PERIOD], release_id=r.release_id)
    assert e.value.reason == "RELEASE_EXISTS"


def test_a_profile_that_suppresses_zeros_is_refused_before_anything_is_written(loaded_network):
    """Release tables list the combinations the data holds, so a zero is published by its row's
    absence: a profile treating zeros as disclosive (ACRO's ``custom(zeros="suppress")``) would be
    published with a disclosure record claiming zeros were hidden (found 2026-12-08: the demo's
    (age 0-17, homeless) zero was simply missing from a ``zeros=suppress`` release). Refused."""
    requests = NetworkPaths(loaded_network).coordinator / "release-requests"
    before = sorted(requests.rglob("*")) if requests.is_dir() else []
    with pytest.raises(DvnetError) as e:
        build_request(loaded_network, "custom", [PERIOD], FOUNDER[0], overrides={"zeros": "suppress"})
    assert e.value.reason == "INVALID_PROFILE" and "leaving its row out" in str(e.value)
    assert (sorted(requests.rglob("*")) if requests.is_dir() else []) == before
    assert not NetworkPaths(loaded_network).releases.is_dir() or not any(NetworkPaths(loaded_network).releases.iterdir())
