"""Which release is the newest: the one published last, whatever its folder is called."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from dvnet.assets.releases.lib.files import newest_release, published_releases
from dvnet.contracts.errors import DvnetError
from dvnet.pipelines.access.query import query_releases


def _release(root: Path, release_id: str, published_at: str) -> Path:
    """A release folder as ``build_release`` leaves it, reduced to what ordering and query read."""
    folder = root / release_id
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"release_id": release_id, "published_at": published_at}))
    con = duckdb.connect(str(folder / "release.duckdb"))
    try:
        con.execute("CREATE TABLE which AS SELECT ? AS release_id", [release_id])
    finally:
        con.close()
    return folder


def test_newest_is_by_publish_time_not_folder_name(tmp_path):
    # A Q3 release published first, then a Q2 correction: by name Q2 sorts first, by time it is newest.
    q3 = _release(tmp_path, "2026-Q3_dv-default_20261002T090000Z", "2026-10-02T09:00:00+00:00")
    q2 = _release(tmp_path, "2026-Q2_dv-default_20261015T090000Z", "2026-10-15T09:00:00+00:00")
    assert sorted(p.name for p in (q3, q2))[-1] == q3.name  # the folder-name order the old lookup used
    (tmp_path / ".2026-Q4_dv-default_20261101T090000Z.partial").mkdir()  # being written: not a release
    (tmp_path / ".2026-Q4_dv-default_20261101T090000Z.partial" / "manifest.json").write_text('{"published_at": "2026-11-01T09:00:00+00:00"}')

    assert published_releases(tmp_path) == [q3, q2]
    assert newest_release(tmp_path) == q2
    assert query_releases(tmp_path, "SELECT release_id FROM which")["release_id"].tolist() == [q2.name]
    assert query_releases(tmp_path, "SELECT release_id FROM which", release=q3.name)["release_id"].tolist() == [q3.name]


def _withdraw(folder: Path) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["withdrawn"] = {"at": "2026-10-20T09:00:00+00:00", "reason": "a wrong count"}
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_a_query_defaults_to_the_newest_release_not_withdrawn(tmp_path):
    first = _release(tmp_path, "2026-Q3_dv-default_20261002T090000Z", "2026-10-02T09:00:00+00:00")
    second = _release(tmp_path, "2026-Q3_dv-default_20261015T090000Z", "2026-10-15T09:00:00+00:00")
    _withdraw(second)
    assert query_releases(tmp_path, "SELECT release_id FROM which")["release_id"].tolist() == [first.name]
    # still served when named, and as r_<id>
    assert query_releases(tmp_path, "SELECT release_id FROM which", release=second.name)["release_id"].tolist() == [second.name]
    # every release withdrawn: the newest, as before (the warning says so)
    _withdraw(first)
    assert query_releases(tmp_path, "SELECT release_id FROM which")["release_id"].tolist() == [second.name]


def test_no_release_is_a_clear_refusal(tmp_path):
    for call in (lambda: newest_release(tmp_path / "releases"), lambda: query_releases(tmp_path, "SELECT 1", release="x")):
        with pytest.raises(DvnetError) as e:
            call()
        assert e.value.reason == "NO_RELEASES"


def test_a_release_folder_name_is_text_never_sql(tmp_path, monkeypatch):
    """A folder name is put into the ATTACH statement as an SQL string literal: a quote in it ends
    nothing. Before, this name ran its COPY (a file written, with file access still on) before the
    query's sandbox was set."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    name = "2026-Q3_x' AS q1; COPY (SELECT 'pwned') TO 'pwned.csv'; ATTACH 'y"
    _release(tmp_path / "releases", name, "2026-10-02T09:00:00+00:00")
    assert query_releases(tmp_path / "releases", "SELECT release_id FROM which")["release_id"].tolist() == [name]
    assert not list(tmp_path.rglob("pwned*")) and not list(work.iterdir())
    assert sorted(p.name for p in (tmp_path / "releases").iterdir()) == [name]  # nothing attached as a new database file either


def test_a_release_folder_without_its_database_is_a_query_failure(tmp_path):
    _release(tmp_path, "2026-Q3_dv-default_20261002T090000Z", "2026-10-02T09:00:00+00:00")
    broken = _release(tmp_path, "2026-Q3_dv-default_20261015T090000Z", "2026-10-15T09:00:00+00:00")
    (broken / "release.duckdb").write_bytes(b"not a database")
    with pytest.raises(DvnetError) as e:
        query_releases(tmp_path, "SELECT 1")
    assert e.value.reason == "QUERY_FAILED" and broken.name in str(e.value)


@pytest.mark.parametrize("damage", [b"{not json", b"\xff\xfe", b"[1, 2]", b'{"release_id": "x"}', b'{"published_at": "yesterday"}'])
def test_a_damaged_manifest_is_a_typed_refusal_naming_its_release(tmp_path, capsys, damage):
    """A release folder is published text anyone may have edited: every command that reads its
    manifest refuses one that is not a manifest with its publication time, naming the folder,
    instead of a traceback (before: `dvnet query` and `release verify` crashed on the JSON)."""
    from dvnet.pipelines.cli import main

    _release(tmp_path, "2026-Q3_dv-default_20261002T090000Z", "2026-10-02T09:00:00+00:00")
    broken = _release(tmp_path, "2026-Q3_dv-default_20261015T090000Z", "2026-10-15T09:00:00+00:00")
    (broken / "manifest.json").write_bytes(damage)
    with pytest.raises(DvnetError) as e:
        published_releases(tmp_path)
    assert e.value.reason == "RELEASE_MANIFEST_INVALID" and broken.name in str(e.value)
    capsys.readouterr()
    assert main(["query", "--releases", str(tmp_path), "SELECT 1"], {}) == 1
    out = capsys.readouterr()
    text = out.out + out.err
    assert "RELEASE_MANIFEST_INVALID" in text and broken.name in text and "Traceback" not in text, text
