"""The embedded warehouse's staged rows as one Parquet file per bundle (``staged_files``): owner-only,
listed by ``record_files``, read through the view, removed with their bundle, and a warehouse
copied, restored without its folder or made before the files handled on its next writable open."""

from __future__ import annotations

import shutil
import stat

import duckdb
import pytest

from dvnet.assets.intake.lib.ingest import CoordinatorContext, ingest_file
from dvnet.assets.warehouse.lib import schema as warehouse
from dvnet.assets.warehouse.lib import staged_files
from dvnet.assets.warehouse.lib.postgres import WarehouseConfigError


@pytest.fixture
def load(kit):
    def _load(name: str, sealed, db=None):
        with duckdb.connect(str(db or kit.paths.warehouse)) as con:
            out = ingest_file(kit.drop(name, sealed.blob), CoordinatorContext.load(kit.root), con)
        assert out.outcome == "loaded", out.reason
        return out

    return _load


def _folder(db):
    return db.with_name(f"{db.name}.staged")


def _rows(ck, db) -> list[tuple]:
    return ck.query(db, "SELECT * FROM staged_service_episode ORDER BY ALL")


def test_each_bundle_is_one_owner_only_file_the_view_reads(ck, kit, load):
    a = load("a", kit.records("shelter-a", n=12, seed=1))
    c = load("c", kit.records("health-c", n=7, seed=2))
    folder = _folder(kit.paths.warehouse)
    on_disk, listed = ck.staged_files_on_disk(kit.paths.warehouse)
    assert on_disk == listed == {f"service_episode/{a.bundle_id}.parquet", f"service_episode/{c.bundle_id}.parquet"}
    for path in [folder, folder / "service_episode", *(folder / f for f in listed)]:
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path
    assert dict(ck.query(kit.paths.warehouse, "SELECT bundle_id, count(*) FROM staged_service_episode GROUP BY ALL")) == {a.bundle_id: 12, c.bundle_id: 7}
    assert ck.query(kit.paths.warehouse, f"SELECT sum(row_count) FROM {staged_files.REGISTRY}") == [(19,)]


def test_a_correction_removes_the_replaced_bundles_file(ck, kit, load):
    first = load("a", kit.records("shelter-a", n=12, seed=1))
    fix = load("fix", kit.records("shelter-a", n=5, seed=3, supersedes=first.bundle_id))
    assert ck.staged_files_on_disk(kit.paths.warehouse) == ({f"service_episode/{fix.bundle_id}.parquet"},) * 2
    assert ck.query(kit.paths.warehouse, "SELECT bundle_id, count(*) FROM staged_service_episode GROUP BY ALL") == [(fix.bundle_id, 5)]


def test_a_file_nobody_lists_is_removed_on_the_next_writable_open(ck, kit, load):
    load("a", kit.records("shelter-a", n=12, seed=1))
    stray = _folder(kit.paths.warehouse) / "service_episode" / f"{'e' * 32}.parquet"  # a load killed before its commit
    shutil.copyfile(next(_folder(kit.paths.warehouse).rglob("*.parquet")), stray)
    assert ck.query(kit.paths.warehouse, "SELECT count(*) FROM staged_service_episode") == [(12,)]  # never read: not listed
    warehouse.connect(kit.paths.warehouse).close()
    assert not stray.exists()
    on_disk, listed = ck.staged_files_on_disk(kit.paths.warehouse)
    assert on_disk == listed and len(listed) == 1


def test_a_copy_with_its_folder_reads_its_own_files_after_its_first_writable_open(ck, kit, load, tmp_path):
    load("a", kit.records("shelter-a", n=12, seed=1))
    before = _rows(ck, kit.paths.warehouse)
    copy = tmp_path / "elsewhere" / "warehouse.duckdb"
    copy.parent.mkdir()
    shutil.copyfile(kit.paths.warehouse, copy)
    shutil.copytree(_folder(kit.paths.warehouse), _folder(copy))
    warehouse.connect(copy).close()
    shutil.rmtree(_folder(kit.paths.warehouse))  # the original's files gone: the copy must not need them
    assert _rows(ck, copy) == before
    load("c", kit.records("health-c", n=7, seed=2), db=copy)  # and it loads into its own folder
    assert ck.query(copy, "SELECT count(*) FROM staged_service_episode") == [(19,)]
    assert ck.staged_files_on_disk(copy)[0] == ck.staged_files_on_disk(copy)[1]


def test_a_copy_opened_read_only_first_reads_its_own_files_not_the_originals(ck, kit, load, tmp_path):
    """A backup restored beside the live network and read first by a read-only command (`extract
    make`, `publish` choosing its period) read the live network's files through views naming their
    absolute path: a bundle the live network has since replaced silently had no rows."""
    first = kit.records("shelter-a", n=12, seed=1)
    load("a", first)
    before = _rows(ck, kit.paths.warehouse)
    copy = tmp_path / "restored" / "warehouse.duckdb"
    copy.parent.mkdir()
    shutil.copyfile(kit.paths.warehouse, copy)
    shutil.copytree(_folder(kit.paths.warehouse), _folder(copy))
    load("a-fix", kit.records("shelter-a", n=5, seed=2, supersedes=first.bundle_id))  # the live network goes on: a's file removed

    with warehouse.connect(copy, read_only=True) as con:
        assert con.execute("SELECT * FROM staged_service_episode ORDER BY ALL").fetchall() == before
    with duckdb.connect(str(copy), read_only=True) as con:
        assert not staged_files.reads_elsewhere(con)  # rebased once, for every later reader


def test_a_warehouse_without_its_files_is_refused_on_open_naming_the_folder(ck, kit, load, tmp_path):
    load("a", kit.records("shelter-a", n=12, seed=1))
    copy = tmp_path / "restored.duckdb"
    shutil.copyfile(kit.paths.warehouse, copy)  # a backup of the file alone
    with pytest.raises(WarehouseConfigError) as refused:
        warehouse.connect(copy)
    assert refused.value.reason == "WAREHOUSE_FILES_MISSING" and "restored.duckdb.staged" in refused.value.hint


def test_a_warehouse_made_before_the_files_has_its_staged_table_written_out(ck, kit, load):
    load("a", kit.records("shelter-a", n=12, seed=1))
    load("c", kit.records("health-c", n=7, seed=2))
    before = _rows(ck, kit.paths.warehouse)
    with duckdb.connect(str(kit.paths.warehouse)) as con:  # the staged table as a warehouse made before kept it
        con.execute("CREATE TABLE staged_old AS SELECT * FROM staged_service_episode")
        con.execute("DROP VIEW staged_service_episode")
        con.execute("ALTER TABLE staged_old RENAME TO staged_service_episode")
        con.execute(f"DELETE FROM {staged_files.REGISTRY}")
    shutil.rmtree(_folder(kit.paths.warehouse))
    warehouse.connect(kit.paths.warehouse).close()
    assert _rows(ck, kit.paths.warehouse) == before
    kinds = ck.query(kit.paths.warehouse, "SELECT table_type FROM information_schema.tables WHERE table_name = 'staged_service_episode'")
    assert kinds == [("VIEW",)]
    on_disk, listed = ck.staged_files_on_disk(kit.paths.warehouse)
    assert on_disk == listed and len(listed) == 2


def test_a_check_of_some_bundles_reads_their_files_only(ck, kit, load):
    """Scoped checks read the files of their bundles, not the view (which opens every file: a
    cost that would grow with the warehouse on every run)."""
    from dvnet.assets.warehouse.lib.writes import NO_ROWS, staged_source

    a = load("a", kit.records("shelter-a", n=12, seed=1))
    c = load("c", kit.records("health-c", n=7, seed=2))
    with duckdb.connect(str(kit.paths.warehouse)) as con:
        source = staged_source(con, "service_episode", [a.bundle_id])
        assert a.bundle_id in source and c.bundle_id not in source
        assert con.execute(f"SELECT bundle_id, count(*) FROM {source} GROUP BY ALL").fetchall() == [(a.bundle_id, 12)]
        assert staged_source(con, "service_episode", ["f" * 32]) == NO_ROWS


def test_a_listed_bundles_file_is_never_written_over(ck, kit, load):
    import pyarrow as pa

    a = load("a", kit.records("shelter-a", n=12, seed=1))
    path = _folder(kit.paths.warehouse) / "service_episode" / f"{a.bundle_id}.parquet"
    before = path.read_bytes()
    with duckdb.connect(str(kit.paths.warehouse)) as con, pytest.raises(ValueError):
        keys = {"bundle_id": a.bundle_id, "agency_id": "shelter-a", "period": "2026-Q3", "contract_id": "service_episode"}
        staged_files.write(con, "service_episode", staged_files.encode(keys, pa.table({"x": ["other content"]})))
    assert path.read_bytes() == before


def _read_back(encoded: staged_files.Encoded, tmp_path) -> list[dict]:
    path = tmp_path / f"{encoded.bundle_id}.parquet"
    path.write_bytes(encoded.data)
    with duckdb.connect() as con:
        cursor = con.execute(f"SELECT * FROM read_parquet('{path}')")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]


KEYS = {"bundle_id": "e" * 32, "agency_id": "shelter-a", "period": "2026-Q3", "contract_id": "service_episode"}


@pytest.mark.parametrize("contract_id", ["service_episode", "referral"])
def test_the_staged_file_verification_encodes_holds_exactly_the_rows_it_validated(kit, contract_id, tmp_path):
    """``loaded_rows_conform`` takes a stored file with the bytes verification encoded as the rows
    verification validated, so the encoding must be faithful: what DuckDB reads from those bytes
    is the validated table, value for value under each column's name, the bundle's keys in front;
    and the SHA-256 handed on is that of the bytes."""
    import hashlib

    from dvnet.assets.intake.lib import ingest

    path = kit.drop("a", kit.records("shelter-a", contract_id, n=60, seed=4).blob)
    v = ingest._verify(path, CoordinatorContext.load(kit.root), ingest._now(), encode=True)
    assert v.before_replay is None and v.after_replay is None and v.staged is not None
    assert v.staged.sha256 == hashlib.sha256(v.staged.data).hexdigest() and v.staged.rows == v.table.num_rows == 60
    keys = {"bundle_id": v.header["bundle_id"], "agency_id": "shelter-a", "period": str(v.manifest["period"]), "contract_id": contract_id}
    assert _read_back(v.staged, tmp_path) == [{**keys, **row} for row in v.table.to_pylist()]


def test_every_type_a_payload_column_can_have_survives_the_staged_encoding(tmp_path):
    """The payload's columns as a contributor may write them (plain, large and dictionary text,
    booleans, 64-bit integers), nulls and awkward values included, read back as they went in."""
    import pyarrow as pa

    text = ["", "ü ñ 中文 🙂", "quote \" and ' and ,", "x" * 5000, None]
    rows = pa.table({
        "plain": pa.array(text, pa.string()),
        "large": pa.array(text, pa.large_string()),
        "coded": pa.array(text, pa.string()).dictionary_encode(),
        "flag": pa.array([True, False, None, True, False], pa.bool_()),
        "number": pa.array([0, -1, 2**63 - 1, -(2**63), None], pa.int64()),
    })  # fmt: skip
    assert _read_back(staged_files.encode(KEYS, rows), tmp_path) == [{**KEYS, **row} for row in rows.to_pylist()]
