"""The audit log: every entry has an actor, action, objects, outcome, reason and time; people's
entries are signed; its head is anchored (head file signed by the keeper, receipts, manifests).

The verifier names the first bad entry for an edited byte, an entry deleted in the middle or at
the end, a swapped pair, an emptied file and a fully re-chained file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest

from dvnet.bundle import generate_signing_key, key_id
from dvnet.common import audit
from dvnet.common.audit import AuditError, KeySigner
from dvnet.pipelines.cli import main

T0 = dt.datetime(2026, 10, 1, 9, 0, tzinfo=dt.UTC)
KEEPER, ALICE = generate_signing_key(), generate_signing_key()
KEYS = {key_id(KEEPER.public_key()): ("coordinator:riverside", KEEPER.public_key()), key_id(ALICE.public_key()): ("alice", ALICE.public_key())}
HEAD_KEYS = {key_id(KEEPER.public_key()): KEEPER.public_key()}


def _append(path, action, actor, **kw):
    return audit.append(path, action, actor=actor, head_key=KEEPER, **kw)


@pytest.fixture
def log(tmp_path):
    """Six entries: the keeper's software, a person (signed), a refusal (unsigned)."""
    path = tmp_path / "coordinator" / "audit.log"
    service, alice = KeySigner("coordinator:riverside", KEEPER), KeySigner("alice", ALICE)
    _append(path, "network.init", alice, outcome="granted", objects={"network": "Riverside"}, now=T0)
    _append(path, "agency_registered", alice, objects={"agency": "shelter-north"}, now=T0 + dt.timedelta(minutes=1), tier=3)
    _append(path, "publish", "mallory", outcome="refused", reason="ROLE_NOT_ALLOWED", now=T0 + dt.timedelta(minutes=2))
    _append(path, "bundle_loaded", service, objects={"agency": "shelter-north", "bundle": "ab" * 16}, outcome="loaded", now=T0 + dt.timedelta(hours=1), rows_loaded=120)
    _append(path, "publish", alice, outcome="granted", now=T0 + dt.timedelta(days=1))
    _append(path, "release_published", service, objects={"release": "2026-Q3_dv"}, now=T0 + dt.timedelta(days=1), cells=400)
    return path


def _lines(path):
    return path.read_bytes().splitlines(keepends=True)


def _first_bad(path, **kw) -> tuple[str, int, str]:
    with pytest.raises(AuditError) as exc:
        audit.verify(path, keys=KEYS, head_keys=HEAD_KEYS, **kw)
    return exc.value.reason, exc.value.context["entry"], exc.value.message


def _rechain(lines: list[bytes]) -> list[bytes]:
    """What someone without the keys would do to hide an edit: renumber and re-link every entry."""
    out, prev = [], audit.GENESIS
    for number, line in enumerate(lines, start=1):
        record = {**json.loads(line), "n": number, "prev": prev}
        new = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
        prev = hashlib.sha256(new.rstrip(b"\n")).hexdigest()
        out.append(new)
    return out


def test_every_entry_carries_actor_action_objects_outcome_reason_and_time(log):
    entries = audit.read(log)
    assert [e["n"] for e in entries] == [1, 2, 3, 4, 5, 6]
    assert [(e["actor"], e["action"], e["outcome"], e["reason"]) for e in entries[:3]] == [
        ("alice", "network.init", "granted", None),
        ("alice", "agency_registered", "done", None),
        ("mallory", "publish", "refused", "ROLE_NOT_ALLOWED"),
    ]
    assert entries[3]["objects"] == {"agency": "shelter-north", "bundle": "ab" * 16} and entries[3]["details"] == {"rows_loaded": 120}
    assert entries[0]["at"] == "2026-10-01T09:00:00+00:00" and entries[0]["prev"] == audit.GENESIS
    assert entries[0]["sig"]["key_id"] == key_id(ALICE.public_key()) and "sig" not in entries[2]


def test_an_intact_log_verifies_with_its_signatures_and_head(log):
    result = audit.verify(log, keys=KEYS, head_keys=HEAD_KEYS)
    assert (result.entries, result.signatures, result.anchors, result.head_signed) == (6, 5, 1, True)
    assert audit.head(log) == audit.Head(6, hashlib.sha256(_lines(log)[-1].rstrip(b"\n")).hexdigest())


def test_a_missing_log_verifies_as_empty(tmp_path):
    assert audit.verify(tmp_path / "none.log").entries == 0
    assert audit.read(tmp_path / "none.log") == []


@pytest.mark.parametrize("index", [0, 3, 5])
def test_an_edited_byte_is_caught(log, index):
    lines = _lines(log)
    line = lines[index]
    at = line.index(b'"at":"') + 10  # a digit of the year: the line stays valid JSON
    lines[index] = line[:at] + bytes([line[at] ^ 0x01]) + line[at + 1 :]
    log.write_bytes(b"".join(lines))
    reason, entry, _ = _first_bad(log)
    assert entry == index + 1
    assert reason in ("AUDIT_SIGNATURE_INVALID", "AUDIT_CHAIN_BROKEN", "AUDIT_REWRITTEN")


def test_an_edited_unsigned_entry_is_caught_by_the_next_link(log):
    lines = _lines(log)
    lines[2] = lines[2].replace(b"ROLE_NOT_ALLOWED", b"ROLE_NOT_ALLOWEE")
    log.write_bytes(b"".join(lines))
    assert _first_bad(log)[:2] == ("AUDIT_CHAIN_BROKEN", 3)


def test_a_deleted_entry_in_the_middle_is_caught(log):
    lines = _lines(log)
    log.write_bytes(b"".join(lines[:2] + lines[3:]))
    reason, entry, message = _first_bad(log)
    assert (reason, entry) == ("AUDIT_CHAIN_BROKEN", 3) and "entry 3 is missing" in message


def test_a_deleted_entry_at_the_end_is_caught(log):
    log.write_bytes(b"".join(_lines(log)[:-1]))
    reason, entry, message = _first_bad(log)
    assert (reason, entry) == ("AUDIT_TRUNCATED", 6) and "audit.log.head" in message


def test_a_swapped_pair_is_caught(log):
    lines = _lines(log)
    lines[1], lines[2] = lines[2], lines[1]
    log.write_bytes(b"".join(lines))
    assert _first_bad(log)[:2] == ("AUDIT_CHAIN_BROKEN", 2)


def test_an_emptied_file_is_caught(log):
    log.write_bytes(b"")
    assert _first_bad(log)[:2] == ("AUDIT_TRUNCATED", 1)


def test_a_fully_rechained_file_is_caught_by_its_signatures(log):
    lines = _lines(log)
    log.write_bytes(b"".join(_rechain(lines[:2] + lines[3:])))  # drop the refusal, re-link the rest
    assert _first_bad(log)[:2] == ("AUDIT_SIGNATURE_INVALID", 3)  # the next signed entry's link changed


def test_a_fully_rechained_file_of_unsigned_entries_is_caught_by_the_head(tmp_path):
    unsigned = tmp_path / "u" / "audit.log"
    for i in range(4):
        audit.append(unsigned, "bundle_loaded", actor="coordinator:riverside", head_key=KEEPER, now=T0, rows=i)
    lines = _lines(unsigned)
    lines[1] = lines[1].replace(b'"rows":1', b'"rows":7')
    unsigned.write_bytes(b"".join(_rechain(lines)))  # same number of entries, every link recomputed
    assert _first_bad(unsigned)[:2] == ("AUDIT_REWRITTEN", 1)
    # ... and a head rewritten to match is not the keeper's
    tail = audit.head(unsigned)
    (unsigned.parent / "audit.log.head").write_text(json.dumps({"format": audit.HEAD_FORMAT, "log": "audit.log", **tail.to_dict()}))
    assert _first_bad(unsigned)[0] == "AUDIT_HEAD_INVALID"


def test_a_rechained_log_with_a_forged_head_is_caught_by_a_receipts_anchor(log):
    anchor = audit.Anchor("receipt r1", 4, hashlib.sha256(_lines(log)[3].rstrip(b"\n")).hexdigest())
    lines = _lines(log)
    log.write_bytes(b"".join(_rechain(lines[:2] + lines[3:])))
    # Someone holding the keeper's key could re-sign the head, but not every receipt already sent.
    audit._write_head(log, audit.head(log), KEEPER)
    reason, entry, message = _first_bad(log, anchors=[anchor])
    assert reason in ("AUDIT_SIGNATURE_INVALID", "AUDIT_REWRITTEN")
    assert audit.verify(log, anchors=[]).entries == 5  # without keys or anchors, nothing would show
    with pytest.raises(AuditError) as exc:
        audit.verify(log, anchors=[anchor])
    assert exc.value.reason == "AUDIT_REWRITTEN" and "receipt r1" in exc.value.message


def test_a_granted_entry_must_be_signed_by_its_actor(log):
    lines = _lines(log)
    record = json.loads(lines[4])
    del record["sig"]  # a grant nobody signed
    lines[4] = json.dumps(record, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    log.write_bytes(b"".join(_rechain(lines)))
    assert _first_bad(log)[:2] == ("AUDIT_SIGNATURE_INVALID", 5)


def test_an_entry_signed_by_someone_else_is_caught(tmp_path):
    path = tmp_path / "audit.log"
    audit.append(path, "publish", actor=KeySigner("bob", ALICE), outcome="granted", head_key=KEEPER, now=T0)  # alice's key, says bob
    assert _first_bad(path)[:2] == ("AUDIT_SIGNATURE_INVALID", 1)


def test_a_missing_head_file_is_caught(log):
    (log.parent / "audit.log.head").unlink()
    assert _first_bad(log)[0] == "AUDIT_HEAD_MISSING"


def test_a_mangled_last_line_does_not_stop_the_next_append_numbering(tmp_path):
    path = tmp_path / "audit.log"
    audit.append(path, "a", actor="x", now=T0)
    path.write_bytes(path.read_bytes() + b"{not json\n")
    assert audit.append(path, "b", actor="x", now=T0).entries == 3


def test_a_long_entry_does_not_break_the_chain(tmp_path):
    path = tmp_path / "audit.log"
    audit.append(path, "validation_summary", actor="agency:x", now=T0, columns={f"column_{i:05d}": i for i in range(5000)})
    audit.append(path, "bundle_sealed", actor="agency:x", now=T0)
    assert audit.verify(path).entries == 2


def test_the_error_names_the_entry_but_no_entry_details(log):
    lines = _lines(log)
    lines[1] = lines[1].replace(b"shelter-north", b"shelter-south")
    log.write_bytes(b"".join(lines))
    _, _, message = _first_bad(log)
    assert "audit.log" in message and "shelter" not in message


# the CLI: dvnet audit verify | show, on a real network ---------------------------------------------


def test_audit_verify_and_show_from_the_cli(network_dir, capsys):
    log = network_dir / "coordinator" / "audit.log"
    assert main(["audit", "verify", str(log)], {}) == 0
    out = capsys.readouterr().out
    assert "audit log intact" in out and "head signed by the keeper" in out

    assert main(["audit", "show", str(log), "--action", "agency_registered", "--object", "valley-health"], {}) == 0
    out = capsys.readouterr().out
    assert "1 entries" in out and "agency=valley-health" in out and "coord-ana" in out
    assert main(["audit", "show", str(log), "--actor", "coord-ana", "--since", "2000-01-01", "--until", "2000-01-02"], {}) == 0
    assert "0 entries" in capsys.readouterr().out
    assert main(["audit", "show", str(log), "--since", "yesterday"], {}) == 2
    assert main(["audit", "show", str(log), "--outcome", "granted", "--action", "network.init"], {}) == 0
    assert "1 entries" in capsys.readouterr().out

    log.write_bytes(b"".join(_lines(log)[:-2]))  # the last two entries cut
    assert main(["audit", "verify", str(log)], {}) == 1
    out = capsys.readouterr().out
    assert "NOT intact" in out and "AUDIT_TRUNCATED" in out and "first bad entry" in out


def test_audit_verify_of_an_agency_log_checks_the_agencys_signatures(network_dir, capsys):
    log = network_dir / "agencies" / "shelter-north" / "audit.log"
    assert main(["audit", "verify", str(log)], {}) == 0
    lines = _lines(log)
    lines[0] = lines[0].replace(b'"tier":3', b'"tier":4')
    log.write_bytes(b"".join(lines))
    assert main(["audit", "verify", str(log)], {}) == 1
    assert "AUDIT_SIGNATURE_INVALID" in capsys.readouterr().out


def test_an_edited_manifest_is_named_beside_the_log_not_taken_for_a_rewritten_log(log):
    four = hashlib.sha256(_lines(log)[3].rstrip(b"\n")).hexdigest()
    edited = audit.Anchor("release manifest releases/r1/manifest.json", 4, "0" * 64, signed=False)
    reason, entry, message = _first_bad(log, anchors=[edited])
    assert (reason, entry) == ("AUDIT_ANCHOR_MISMATCH", 4)
    assert "audit.log and release manifest releases/r1/manifest.json disagree about entry 4" in message
    assert "chain and 5 signatures verify and audit.log.head (entry 6) agrees" in message and "rewritten" not in message
    # a signed anchor saying the same is the keeper's word against the log: the log is blamed
    assert _first_bad(log, anchors=[audit.Anchor("receipt r1", 4, "0" * 64)])[0] == "AUDIT_REWRITTEN"
    # and an agreeing manifest with a signed anchor that disagrees still blames the log
    both = [audit.Anchor("release manifest m", 4, four, signed=False), audit.Anchor("receipt r2", 5, "0" * 64)]
    assert _first_bad(log, anchors=both)[:2] == ("AUDIT_REWRITTEN", 5)


def _show(log, *args, capsys) -> tuple[int, str, str]:
    code = main(["audit", "show", str(log), *args], {})
    out = capsys.readouterr()
    return code, " ".join(out.out.split()), out.err


@pytest.mark.parametrize(
    "damage, args",
    [
        (lambda lines: lines.__setitem__(2, lines[2].replace(b'"at":"2026-10-01T09:02:00+00:00"', b'"at":"yesterday"')), ["--since", "2026-10-01"]),
        (lambda lines: lines.__setitem__(2, lines[2].replace(b'"at":"2026-10-01T09:02:00+00:00",', b"")), ["--until", "2026-12-01"]),
        (lambda lines: lines.__setitem__(2, lines[2].replace(b'"objects":{}', b'"objects":[1]')), ["--object", "x"]),
        (lambda lines: lines.__setitem__(2, b'{"n":"x","objects":[1]}\n'), ["--object", "x"]),
        (lambda lines: lines.__setitem__(2, b"\xff\xfe not json\n"), []),
    ],
    ids=["time edited", "time removed", "objects a list", "not numbered", "not JSON"],
)
def test_audit_show_names_a_damaged_line_and_refuses(log, capsys, damage, args):
    lines = _lines(log)
    damage(lines)
    log.write_bytes(b"".join(lines))
    code, out, err = _show(log, *args, capsys=capsys)
    assert code == 1 and "Traceback" not in err
    assert "1 damaged line, not shown (not an entry): line 3" in out
    assert "audit log NOT intact: AUDIT_CHAIN_BROKEN: first bad entry 3" in out and f"run `dvnet audit verify {log}`" in out


def test_audit_show_prints_an_edited_entry_as_text_not_markup(log, capsys):
    lines = _lines(log)
    lines[2] = lines[2].replace(b"ROLE_NOT_ALLOWED", b"[/]")  # valid entry, broken chain
    log.write_bytes(b"".join(lines))
    code, out, err = _show(log, capsys=capsys)
    assert code == 1 and "Traceback" not in err and "│ [/] │" in out and "AUDIT_CHAIN_BROKEN" in out


def test_audit_show_verifies_what_it_shows(network_dir, capsys):
    log = network_dir / "coordinator" / "audit.log"
    code, out, _ = _show(log, capsys=capsys)
    assert code == 0 and "verified as shown: chain," in out and "head signed by the keeper" in out
    assert "│ signature │" in out and "NO" not in out
    lines = _lines(log)
    signed = next(i for i, line in enumerate(lines) if b'"sig"' in line and b'"outcome":"granted"' in line)
    lines[signed] = lines[signed].replace(b'"outcome":"granted"', b'"outcome":"refused"')  # valid JSON, signature broken
    log.write_bytes(b"".join(lines))
    code, out, _ = _show(log, capsys=capsys)
    assert code == 1 and f"AUDIT_SIGNATURE_INVALID: first bad entry {signed + 1}" in out
    assert out.count("│ NO │") == len(lines) - signed  # that entry and every one after it: not vouched for
    assert "verified as shown" not in out


def test_audit_show_of_a_file_that_is_not_a_log_is_refused_not_empty(tmp_path, capsys):
    noise = tmp_path / "audit.log"
    noise.write_bytes(bytes(range(256)) * 40)
    code, out, err = _show(noise, capsys=capsys)
    assert code == 1 and "error: AUDIT_NOT_A_LOG: audit.log is not an audit log: none of its" in err and "0 entries" not in out


def test_audit_verify_names_an_edited_manifest_and_does_not_blame_the_log(network_dir, capsys):
    log = network_dir / "coordinator" / "audit.log"
    manifest = network_dir / "coordinator" / "releases" / "2026-Q3_x" / "manifest.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"audit_head": {"entries": 2, "sha256": "0" * 64}}))
    assert main(["audit", "verify", str(log)], {}) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert f"audit log and an anchor disagree: AUDIT_ANCHOR_MISMATCH: audit.log and release manifest {manifest} disagree about entry 2" in out
    assert "NOT intact" not in out and "rewritten" not in out
