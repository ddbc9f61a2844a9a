"""Destroying rows means they leave the warehouse file: DuckDB keeps deleted rows' bytes until the
file is rewritten (`schema.rewrite_live_rows_only`, used by `dvnet dsa close`)."""

from __future__ import annotations

import hashlib
import os

import duckdb

from dvnet.assets.warehouse.lib.schema import rewrite_live_rows_only


def _token(i: int) -> bytes:
    return hashlib.sha256(str(i).encode()).hexdigest().encode()


def _present(path, numbers) -> int:
    data = path.read_bytes()
    return sum(_token(i) in data for i in numbers)


def test_deleted_rows_stay_in_the_file_until_it_is_rewritten(tmp_path, monkeypatch):
    # Every connection writes uncompressed, so the rows' bytes can be searched for.
    connect = duckdb.connect

    def uncompressed(*args, **kwargs):
        con = connect(*args, **kwargs)
        con.execute("PRAGMA force_compression='uncompressed'")
        return con

    monkeypatch.setattr(duckdb, "connect", uncompressed)
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE staged AS SELECT sha256(i::VARCHAR) AS token, i % 2 AS project FROM range(20000) r(i)")
    con.execute("DELETE FROM staged WHERE project = 0")
    con.execute("CHECKPOINT")
    con.close()
    os.chmod(path, 0o600)
    deleted, kept = range(0, 400, 2), range(1, 400, 2)
    assert _present(path, deleted) == len(deleted), "DuckDB leaves deleted rows in the file (why the rewrite exists)"

    rewrite_live_rows_only(path)

    assert _present(path, deleted) == 0 and _present(path, kept) == len(kept)
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT count(*), min(project) FROM staged").fetchone() == (10000, 1)
