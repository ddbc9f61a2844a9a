"""A warehouse file DuckDB cannot open (damaged on disk, not a DuckDB database, held open by a
program other than dvnet) stops `dvnet ingest` with one typed line, WAREHOUSE_UNREADABLE, exit 2,
before anything is read, moved or recorded: DuckDB's error and two stack traces reached the
terminal, and nothing said what to do."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dvnet.assets.warehouse.lib.schema import WAREHOUSE_UNREADABLE

FOREIGN = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])  # a DuckDB shell or a notebook: DuckDB's own lock, not dvnet's
print("held", flush=True)
sys.stdin.readline()
con.close()
"""


def _damage(path) -> None:
    """Every byte after DuckDB's three header blocks inverted: each block's checksum fails."""
    with path.open("r+b") as f:
        f.seek(3 * 4096)
        rest = f.read()
        f.seek(3 * 4096)
        f.write(bytes(b ^ 0xFF for b in rest))


@pytest.mark.parametrize("damage", ["damaged", "not_a_database", "held_by_another_program"])
def test_a_warehouse_file_duckdb_cannot_open_stops_ingest_in_one_typed_line(ck, kit, damage):
    kit.drop("first", kit.counts("shelter-a", n=20, seed=1).blob)
    assert ck.run_cli(["ingest", "--network", str(kit.root), *ck.as_coordinator(kit.root)]).returncode == 0
    other = None
    if damage == "damaged":
        _damage(kit.paths.warehouse)
    elif damage == "not_a_database":
        kit.paths.warehouse.write_bytes(b"not a database " * 1000)
    else:
        other = subprocess.Popen([sys.executable, "-c", FOREIGN, str(kit.paths.warehouse)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert other.stdout.readline().strip() == "held"
    try:
        kit.drop("second", kit.counts("legal-b", n=20, seed=2).blob)
        out = ck.run_cli(["ingest", "--network", str(kit.root), "--wait", "1", *ck.as_coordinator(kit.root)])
    finally:
        if other is not None:
            other.communicate("go\n", timeout=60)
    assert out.returncode == 2, out.stdout[-2000:] + out.stderr[-2000:]
    assert f"error: {WAREHOUSE_UNREADABLE}: the warehouse file warehouse.duckdb could not be opened" in out.stderr
    assert "hint: " in out.stderr and not ck.shows_a_trace(out.stdout + out.stderr), out.stderr[-3000:]
    assert "checksum" not in out.stderr and "Could not set lock" not in out.stderr  # DuckDB's own words are not the message
    assert [p.name for p in kit.inbox.iterdir()] == ["second.dvb"]  # nothing read, moved or recorded
    assert not kit.paths.quarantine.exists() or not any(kit.paths.quarantine.iterdir())


def test_a_full_disk_when_the_warehouse_opens_is_the_disk_not_a_damaged_file(tmp_path, monkeypatch):
    """The disk's fault is told as the disk's (the CLI's DISK_FULL, ``common.disk_errors``), never
    as a damaged warehouse to restore from a backup."""
    import duckdb

    from dvnet.assets.warehouse.lib import schema
    from dvnet.common.disk_errors import disk_error

    def full(*args, **kwargs):
        raise duckdb.IOException("IO Error: Could not write file: No space left on device")

    monkeypatch.setattr(schema.duckdb, "connect", full)
    with pytest.raises(duckdb.IOException) as e:
        schema.connect(tmp_path / "warehouse.duckdb")
    assert disk_error(e.value, "ingest").reason == "DISK_FULL"
