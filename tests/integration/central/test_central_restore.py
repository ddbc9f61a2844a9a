"""A warehouse restored from a backup on its own, older than the audit log: the next ingest
refuses before loading anything (``WAREHOUSE_BEHIND_AUDIT_LOG``, exit 2), instead of going on
while receipts and the log say loaded for bundles the warehouse lost (and logging re-sent ones
as loaded twice). Restored together, the two go on."""

from __future__ import annotations

import shutil

from dvnet.common import audit


def _copy_warehouse(src_db, dst_dir):
    dst_dir.mkdir()
    shutil.copy2(src_db, dst_dir / src_db.name)
    shutil.copytree(src_db.with_name(src_db.name + ".staged"), dst_dir / (src_db.name + ".staged"))


def _restore_warehouse(backup_dir, db):
    shutil.rmtree(db.with_name(db.name + ".staged"))
    shutil.copy2(backup_dir / db.name, db)
    shutil.copytree(backup_dir / (db.name + ".staged"), db.with_name(db.name + ".staged"))


def test_a_warehouse_older_than_the_audit_log_is_refused_before_anything_loads(ck, kit, tmp_path):
    home = ck.dagster_home(tmp_path)
    ingest = ["ingest", "--network", str(kit.root), "--dagster-home", str(home), *ck.as_coordinator(kit.root)]
    kit.drop("a", kit.records("shelter-a", n=10, seed=1).blob)
    assert ck.run_cli(ingest).returncode == 0
    backup = tmp_path / "backup"
    _copy_warehouse(kit.paths.warehouse, backup)
    kit.drop("b", kit.counts("legal-b", "referral", n=10, seed=2).blob)
    assert ck.run_cli(ingest).returncode == 0
    loaded_lines = sum(e["action"] == "bundle_loaded" for e in audit.read(kit.paths.audit_log))

    _restore_warehouse(backup, kit.paths.warehouse)  # the warehouse alone goes back; the log does not
    before = ck.snapshot(kit.paths.warehouse)
    kit.drop("c", kit.records("health-c", n=10, seed=3).blob)
    out = ck.run_cli(ingest)

    assert out.returncode == 2, out.stderr[-3000:]
    assert out.stderr.startswith("error: WAREHOUSE_BEHIND_AUDIT_LOG: ") and "Traceback" not in out.stderr  # one line, no step-failure log
    assert ck.snapshot(kit.paths.warehouse) == before  # nothing loaded
    assert sum(e["action"] == "bundle_loaded" for e in audit.read(kit.paths.audit_log)) == loaded_lines
    assert [p.name for p in kit.inbox.glob("*.dvb")] != []  # c waits in the inbox
