"""A bundle delivered again changes nothing, not even its receipt: the first receipt stays as it
was signed. One that a correction has replaced since is recorded as such (reason SUPERSEDED) and
never gets a fresh ``loaded`` receipt (SPEC §6)."""

from __future__ import annotations

from dvnet import bundle
from dvnet.common import audit
from dvnet.common.audit_trail import verify_log
from dvnet.common.network import load_network


def _receipts(kit, agency: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (kit.paths.receipts / agency).glob("*.receipt.json")}


def _body(kit, blob: bytes) -> dict:
    return bundle.verify_receipt(blob, bundle.signing_public_key_from_text(load_network(kit.root).coordinator.signing_public_key))


def test_a_duplicate_keeps_the_receipt_of_its_first_delivery(ck, kit):
    sealed = kit.records("shelter-a", n=12, seed=1)
    kit.drop("a", sealed.blob)
    assert [o.outcome for o in ck.ingest(kit)] == ["loaded"]
    first = _receipts(kit, "shelter-a")
    kit.drop("a-again", sealed.blob)
    (again,) = ck.ingest(kit)
    assert (again.outcome, again.reason, again.rows_loaded) == ("duplicate", "DUPLICATE", 12)
    assert _receipts(kit, "shelter-a") == first  # not rewritten: same outcome, same received_at, same anchor
    verify_log(kit.paths.audit_log)


def test_a_superseded_bundle_sent_again_is_not_receipted_as_loaded_again(ck, kit):
    original = kit.records("shelter-a", n=30, seed=2)
    kit.drop("original", original.blob)
    ck.ingest(kit)
    first = _receipts(kit, "shelter-a")
    kit.drop("fixed", kit.records("shelter-a", n=29, seed=3, supersedes=original.bundle_id).blob)
    (fixed,) = ck.ingest(kit)
    assert fixed.outcome == "loaded" and fixed.replaced == original.bundle_id
    receipts = _receipts(kit, "shelter-a")

    kit.drop("original-again", original.blob)
    (again,) = ck.ingest(kit)
    assert (again.outcome, again.reason, again.rows_loaded) == ("duplicate", "SUPERSEDED", 0)
    assert fixed.bundle_id in again.message
    assert _receipts(kit, "shelter-a") == receipts  # the original's "loaded" receipt is not rewritten, and no new one says it
    assert [_body(kit, b)["outcome"] for n, b in receipts.items() if n in first] == ["loaded"]
    # ... even when its first receipt is gone: no fresh "loaded" receipt for a bundle replaced since
    for name in first:
        (kit.paths.receipts / "shelter-a" / name).unlink()
    kit.drop("original-third", original.blob)
    (third,) = ck.ingest(kit)
    assert third.reason == "SUPERSEDED" and not set(first) & set(_receipts(kit, "shelter-a"))
    (entry,) = [e for e in audit.read(kit.paths.audit_log) if e["objects"].get("file") == "original-again.dvb"]
    assert (entry["outcome"], entry["reason"], entry["details"]["rows_loaded"]) == ("duplicate", "SUPERSEDED", 0)
