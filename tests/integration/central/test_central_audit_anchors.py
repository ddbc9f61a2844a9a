"""The coordinator's audit log is anchored where its keeper cannot reach: every receipt an agency
holds carries the log's head once that bundle's entry is written, and so does every release
manifest. Cutting the log's tail, even with the head file re-signed by the coordinator's own key
(the one party that could), shows against the receipts."""

from __future__ import annotations

import hashlib

import pytest

from dvnet import bundle
from dvnet.common import audit
from dvnet.common.audit import AuditError
from dvnet.common.audit_trail import verify_log
from dvnet.common.network import load_network


def test_each_receipt_anchors_the_entry_of_its_bundle(ck, kit):
    kit.drop("a", kit.records("shelter-a", n=12, seed=1).blob)
    kit.drop("b", kit.counts("legal-b", "referral", n=20, seed=2).blob)
    kit.drop("broken", b"not a bundle")
    assert sorted(o.outcome for o in ck.ingest(kit)) == ["loaded", "loaded", "quarantined"]
    lines = kit.paths.audit_log.read_bytes().splitlines()
    coordinator = bundle.signing_public_key_from_text(load_network(kit.root).coordinator.signing_public_key)
    receipts = [bundle.verify_receipt(p.read_bytes(), coordinator) for p in kit.paths.receipts.rglob("*.receipt.json")]
    assert len(receipts) == 3
    for r in receipts:
        head = r["audit_head"]
        entry = audit.read(kit.paths.audit_log)[head["entries"] - 1]
        assert hashlib.sha256(lines[head["entries"] - 1]).hexdigest() == head["sha256"]
        assert entry["objects"]["file_sha256"] == r["bundle_sha256"]  # the anchored entry is this bundle's
        assert entry["actor"] == "coordinator:coordinator" and entry["sig"]
    assert verify_log(kit.paths.audit_log).anchors == 4  # the head file and three receipts


def test_a_cut_tail_with_a_re_signed_head_is_caught_by_the_receipts(ck, kit):
    for i in range(3):
        kit.drop(f"a{i}", kit.records("shelter-a", n=10, seed=i).blob)
    ck.ingest(kit)
    log = kit.paths.audit_log
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:-2]))  # the last two bundles' entries removed ...
    key = bundle.load_signing_key(kit.paths.keys / "signing.key")
    audit._write_head(log, audit.head(log), key)  # ... and the head re-signed to match
    with pytest.raises(AuditError) as exc:
        verify_log(log)
    assert exc.value.reason == "AUDIT_TRUNCATED" and "receipt" in exc.value.message
    assert exc.value.context["entry"] == len(lines) - 1


def test_an_agency_can_check_the_log_against_the_receipt_it_holds(ck, kit, tmp_path, capsys):
    from dvnet.pipelines.cli import main

    kit.drop("a", kit.records("shelter-a", n=10, seed=1).blob)
    ck.ingest(kit)
    held = tmp_path / "held.receipt.json"
    held.write_bytes(next(kit.paths.receipts.rglob("*.receipt.json")).read_bytes())
    for p in kit.paths.receipts.rglob("*.receipt.json"):
        p.unlink()  # the coordinator's own copies gone, the head file rewritten: only the agency's copy is left
    log = kit.paths.audit_log
    log.write_bytes(b"".join(log.read_bytes().splitlines(keepends=True)[:-1]))
    audit._write_head(log, audit.head(log), bundle.load_signing_key(kit.paths.keys / "signing.key"))
    assert main(["audit", "verify", str(log)], {}) == 0  # nothing left on the coordinator's side shows it
    capsys.readouterr()
    assert main(["audit", "verify", str(log), "--anchor", str(held)], {}) == 1
    assert "AUDIT_TRUNCATED" in capsys.readouterr().out
