"""A bundle delivered again changes nothing, not even its receipt: the first receipt stays as it
was signed. One that a correction replaced since gets a ``superseded`` receipt beside it, never a
fresh ``loaded`` one (SPEC §6)."""

from __future__ import annotations

from dvnet import bundle
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


def test_a_superseded_bundle_sent_again_gets_a_superseded_receipt_beside_its_first(ck, kit):
    original = kit.records("shelter-a", n=30, seed=2)
    kit.drop("original", original.blob)
    ck.ingest(kit)
    (loaded_name, loaded_blob), = _receipts(kit, "shelter-a").items()
    kit.drop("fixed", kit.records("shelter-a", n=29, seed=3, supersedes=original.bundle_id).blob)
    (fixed,) = ck.ingest(kit)
    assert fixed.outcome == "loaded" and fixed.replaced == original.bundle_id

    kit.drop("original-again", original.blob)
    (again,) = ck.ingest(kit)
    assert (again.outcome, again.reason, again.rows_loaded) == ("duplicate", "SUPERSEDED", 0)
    assert fixed.bundle_id in again.message
    receipts = _receipts(kit, "shelter-a")
    assert receipts[loaded_name] == loaded_blob  # the first receipt is not rewritten
    superseded = _body(kit, receipts[f"{original.bundle_id}.{original.sha256[:16]}.superseded.receipt.json"])
    assert (superseded["outcome"], superseded["reason"], superseded["rows_loaded"], superseded["bundle_id"]) == ("superseded", None, 0, original.bundle_id)
    assert _body(kit, loaded_blob)["outcome"] == "loaded"
    assert verify_log(kit.paths.audit_log).anchors == 4  # the head file and three receipts, all agreeing
    # delivered once more: nothing rewritten either
    kit.drop("original-third", original.blob)
    ck.ingest(kit)
    assert _receipts(kit, "shelter-a") == receipts
