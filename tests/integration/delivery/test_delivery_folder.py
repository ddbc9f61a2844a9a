"""`dvnet send` / `dvnet receipts` to a drop that is a shared folder, and the drop: section's checks."""

from __future__ import annotations

import json
import re

import duckdb
import pytest
import yaml

from dvnet import bundle
from dvnet.assets.intake.lib.ingest import CoordinatorContext, ingest_inbox
from dvnet.bundle.header import parse_time
from dvnet.common import audit
from dvnet.common import network as store
from dvnet.pipelines.cli import main
from dvnet.pipelines.delivery import folder


def _share(agency) -> tuple[store.NetworkPaths, list[str]]:
    paths = store.NetworkPaths(agency.folder.parent.parent)
    return paths, ["drop", "set", "--agency", str(agency.folder), "--inbox", str(paths.inbox), "--receipts", str(paths.receipts / agency.agency_id)]


def _ingest(paths: store.NetworkPaths) -> list:
    con = duckdb.connect(str(paths.warehouse))
    try:
        return ingest_inbox(CoordinatorContext.load(paths.root), con)
    finally:
        con.close()


def test_a_shared_folder_drop_delivers_and_returns_receipts(steward, capsys):
    paths, set_drop = _share(steward)
    assert main(set_drop) == 0
    assert main(["send", "--agency", str(steward.folder)]) == 0
    assert len(list(paths.inbox.glob("*.dvb"))) == 2 and not list(paths.inbox.glob(".*"))
    assert [o.outcome for o in _ingest(paths)] == ["loaded", "loaded"]
    capsys.readouterr()
    assert main(["receipts", "--agency", str(steward.folder)]) == 0
    out = capsys.readouterr().out
    assert "fetched 2 new receipts" in out and out.count("│ loaded ") == 2
    # The receipts it keeps anchor the coordinator's audit log: it names the one to hold the log to.
    anchor = out.split("--anchor ", 1)[1].split("`", 1)[0]
    assert anchor.startswith(str(steward.folder / "receipts")) and f"held {len(audit.read(paths.audit_log))} entries" in out
    assert main(["audit", "verify", str(paths.audit_log), "--anchor", anchor]) == 0
    # Nothing left to send: a second `send` says so and delivers nothing.
    assert main(["send", "--agency", str(steward.folder)]) == 0
    assert "nothing to send (2 bundles sent earlier)" in capsys.readouterr().out


def test_a_copy_cut_short_leaves_nothing_under_a_bundle_name(steward, capsys, monkeypatch):
    paths, set_drop = _share(steward)
    assert main(set_drop) == 0

    def broken_copy(src, dst, length=0):
        dst.write(src.read(100))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(folder.shutil, "copyfileobj", broken_copy)
    assert main(["send", "--agency", str(steward.folder)]) == 1
    assert "DROP_WRITE_FAILED" in capsys.readouterr().err
    assert list(paths.inbox.iterdir()) == []  # not the bundle, not even the partial temporary file
    assert len(list((steward.folder / "outbox").glob("*.dvb"))) == 2


def test_a_receipt_that_does_not_verify_is_not_kept(steward, capsys):
    paths, set_drop = _share(steward)
    assert main(set_drop) == 0
    assert main(["send", "--agency", str(steward.folder)]) == 0
    _ingest(paths)
    theirs = paths.receipts / steward.agency_id
    genuine = sorted(theirs.glob("*.receipt.json"))
    body = json.loads(genuine[0].read_bytes())
    forged = bundle.make_receipt(**{k: body[k] for k in ("bundle_sha256", "bundle_id", "agency_id", "sequence")}, outcome="quarantined",
                                 reason="CONTRACT_VIOLATION", rows_loaded=0, received_at=parse_time(body["received_at"]),
                                 audit_head=body["audit_head"], signing_key=bundle.generate_signing_key())  # fmt: skip
    genuine[0].write_bytes(forged)  # someone with write access to the share swaps a receipt
    capsys.readouterr()

    assert main(["receipts", "--agency", str(steward.folder)]) == 1
    out = capsys.readouterr().out
    assert "fetched 1 new receipt " in out and "not kept" in out and "RECEIPT_INVALID" in out
    assert out.count("│ loaded ") == 1 and out.count("│ sent ") == 1  # the forged one is not believed


def test_send_without_a_drop_says_how_to_set_one(steward, capsys):
    assert main(["send", "--agency", str(steward.folder)]) == 2
    err = capsys.readouterr().err
    assert "DROP_NOT_CONFIGURED" in err and "hint:" in err


@pytest.mark.parametrize(
    "drop, field",
    [
        ({"inbox": "in"}, "drop.receipts"),
        ({"inbox": "in", "receipts": "r", "colour": "blue"}, "drop.colour"),
        ({"inbox": "in", "receipts": "r", "sftp": {"host": "h", "user": "u", "host_key": "ssh-ed25519 AAAA", "port": 70000}}, "drop.sftp.port"),
        ({"inbox": "in", "receipts": "r", "sftp": {"host": "h", "user": "u"}}, "drop.sftp.host_key"),
        ({"inbox": "in", "receipts": "r", "sftp": {"host": "h", "user": "u", "host_key": "not-a-key"}}, "drop.sftp.host_key"),
    ],
)
def test_a_wrong_drop_section_is_named_by_its_field_path(steward, capsys, drop, field):
    config = steward.folder / "agency.yaml"
    data = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**data, "drop": drop}))
    assert main(["send", "--agency", str(steward.folder)]) == 2
    err = capsys.readouterr().err
    assert "AGENCY_CONFIG_INVALID" in err and field in err


def test_drop_set_never_pins_nothing(steward, capsys):
    _, set_drop = _share(steward)
    assert main([*set_drop, "--sftp", "agency@drop.example.org"]) == 2  # no --host-key: refused, nothing learned on first use
    assert "--host-key" in capsys.readouterr().err
    assert "drop" not in yaml.safe_load((steward.folder / "agency.yaml").read_text())


def test_a_genuine_receipt_about_another_agency_is_not_kept(steward, capsys):
    paths, set_drop = _share(steward)
    assert main(set_drop) == 0
    assert main(["send", "--agency", str(steward.folder)]) == 0
    _ingest(paths)
    theirs = paths.receipts / steward.agency_id
    genuine = sorted(theirs.glob("*.receipt.json"))[0]
    body = json.loads(genuine.read_bytes())
    signing_key = bundle.load_signing_key(paths.keys / "signing.key")  # the coordinator's own signature
    other = bundle.make_receipt(**{k: body[k] for k in ("bundle_sha256", "bundle_id", "sequence", "outcome", "reason", "rows_loaded")},
                                agency_id="legal-aid-south", received_at=parse_time(body["received_at"]), audit_head=body["audit_head"],
                                signing_key=signing_key)  # fmt: skip
    genuine.write_bytes(other)
    capsys.readouterr()
    assert main(["receipts", "--agency", str(steward.folder)]) == 1
    out = capsys.readouterr().out
    assert "not kept" in out and "RECEIPT_NOT_FOR_THIS_AGENCY" in out


def test_a_send_killed_after_its_audit_line_delivers_again_and_logs_it(steward):
    """`dvnet send` logs a delivery before it moves the bundle to sent/: killed in between (for
    real, ``DVNET_FAULT_AT=after_audit:bundle_sent``), the bundle is logged and still waiting, and
    the next `send` delivers it again (the same name in the inbox: one copy) and logs that too;
    never a bundle moved to sent/ without its line."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from dvnet.common.faults import AFTER_AUDIT

    paths, set_drop = _share(steward)
    assert main(set_drop) == 0
    send = [sys.executable, "-m", "dvnet.pipelines.cli", "send", "--agency", str(steward.folder)]
    repo = Path(__file__).resolve().parents[3]
    killed = subprocess.run(send, cwd=repo, env={**os.environ, "DVNET_FAULT_AT": AFTER_AUDIT + "bundle_sent"}, capture_output=True, text=True)
    assert killed.returncode == 86, killed.stdout + killed.stderr[-2000:]
    logged = [e["objects"]["file"] for e in audit.read(steward.audit_log) if e["action"] == "bundle_sent"]
    moved = [p.name for p in (steward.folder / "sent").glob("*.dvb")]
    assert len(logged) == 1 and moved == []  # logged, not yet moved
    assert subprocess.run(send, cwd=repo, capture_output=True).returncode == 0
    moved = sorted(p.name for p in (steward.folder / "sent").glob("*.dvb"))
    logged = [e["objects"]["file"] for e in audit.read(steward.audit_log) if e["action"] == "bundle_sent"]
    assert len(moved) == 2 and set(logged) == set(moved) and len(logged) == 3  # the first bundle logged twice: sent twice
    assert len(list(paths.inbox.glob("*.dvb"))) == 2


def _contribute_episode(agency, capsys, *extra: str) -> int:
    extract = agency.folder / "extracts" / "service_episode_2026-Q3.csv"
    code = main(["contribute", "--agency", str(agency.folder), "--contract", "service_episode", "--extract", str(extract), "--period", "2026-Q3", *extra])
    capsys.readouterr()
    return code


def _sealed_ids(agency) -> list[str]:
    return [e["objects"]["bundle"] for e in audit.read(agency.audit_log) if e["action"] == "contribution" and e["outcome"] == "sealed"]


def _receipts(agency, capsys) -> tuple[int, str]:
    code = main(["receipts", "--agency", str(agency.folder)])
    return code, capsys.readouterr().out


def _row(out: str, bundle_id: str) -> str:
    (line,) = [line for line in out.splitlines() if f"│ {bundle_id} │" in line]  # its own row: the id in the bundle id column
    return line


def test_receipts_name_the_loaded_bundle_to_correct_and_a_settled_quarantine_needs_nothing(steward, capsys):
    """A second bundle for a loaded quarter is quarantined PERIOD_ALREADY_LOADED: `dvnet receipts`
    names the loaded bundle (the one --supersedes takes), never the quarantined one; once the
    correction loads, the quarantine is settled (exit 0) and the corrected bundle is superseded."""
    paths, set_drop = _share(steward)
    assert main(set_drop) == 0
    referral, loaded = _sealed_ids(steward)
    assert main(["send", "--agency", str(steward.folder)]) == 0
    assert [o.outcome for o in _ingest(paths)] == ["loaded", "loaded"]
    # No receipt fetched yet, so the contributor cannot know the quarter loaded: --resend goes through.
    assert _contribute_episode(steward, capsys, "--resend") == 0
    quarantined = _sealed_ids(steward)[-1]
    assert main(["send", "--agency", str(steward.folder)]) == 0
    assert [(o.outcome, o.reason) for o in _ingest(paths)] == [("quarantined", "PERIOD_ALREADY_LOADED")]
    capsys.readouterr()

    code, out = _receipts(steward, capsys)
    assert code == 1
    assert "loaded" in _row(out, loaded) and "loaded" in _row(out, referral)  # every bundle's id is on screen
    assert "quarantined" in _row(out, quarantined)
    assert f"--supersedes {loaded}" in out and f"--supersedes {quarantined}" not in out

    assert _contribute_episode(steward, capsys, "--supersedes", quarantined) == 0  # the id on the quarantined row is refused...
    assert main(["send", "--agency", str(steward.folder)]) == 0
    assert [(o.outcome, o.reason) for o in _ingest(paths)] == [("quarantined", "SUPERSEDES_INVALID")]
    assert _contribute_episode(steward, capsys, "--supersedes", loaded) == 0  # ...the one receipts names is the right one
    correction = _sealed_ids(steward)[-1]
    assert main(["send", "--agency", str(steward.folder)]) == 0
    assert [o.outcome for o in _ingest(paths)] == ["loaded"]
    capsys.readouterr()

    code, out = _receipts(steward, capsys)
    assert code == 0, out
    assert "│ superseded " in _row(out, loaded) and "│ loaded " in _row(out, correction)
    assert len(re.findall(r"│ settled +│", out)) == 2 and not re.search(r"│ quarantined +│", out) and "quarantined:" not in out
    assert "--supersedes" not in out  # nothing left to correct


def test_a_quarter_still_in_the_outbox_is_sent_not_resent_and_resend_replaces_it_unsent(steward, capsys):
    """The bundle of a quarter still waiting in outbox/ has not reached the coordinator: contributing
    the quarter again points at `dvnet send`; --resend seals the new bundle in its place and the
    waiting one is taken out of the outbox unsent (kept in withdrawn/, logged), so one bundle for
    the quarter goes out, never two."""
    paths, set_drop = _share(steward)
    assert main(set_drop) == 0
    referral, waiting = _sealed_ids(steward)
    extract = steward.folder / "extracts" / "service_episode_2026-Q3.csv"
    again = ["contribute", "--agency", str(steward.folder), "--contract", "service_episode", "--extract", str(extract), "--period", "2026-Q3"]
    assert main(again) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: USAGE_PERIOD_IN_OUTBOX: ") and waiting in err and f"dvnet send --agency {steward.folder}" in err
    assert "never reached" not in err  # not the advice for a bundle lost on the way

    assert main([*again, "--resend"]) == 0
    replacement = _sealed_ids(steward)[-1]
    capsys.readouterr()
    assert main(["send", "--agency", str(steward.folder)]) == 0
    assert "sending 2 bundles " in capsys.readouterr().out  # the referral and the replacement, not the replaced one
    delivered = {bundle.peek_header(p.read_bytes())["bundle_id"] for p in paths.inbox.glob("*.dvb")}
    assert delivered == {referral, replacement}
    kept = [bundle.peek_header(p.read_bytes())["bundle_id"] for p in (steward.folder / "withdrawn").glob("*.dvb")]
    assert kept == [waiting]  # never sent, never deleted
    (line,) = [e for e in audit.read(steward.audit_log) if e["action"] == "bundle_withdrawn"]
    assert line["objects"]["bundle"] == waiting and line["details"]["replaced_by"] == replacement
    assert [o.outcome for o in _ingest(paths)] == ["loaded", "loaded"]  # no PERIOD_ALREADY_LOADED
    capsys.readouterr()
    code, out = _receipts(steward, capsys)
    assert code == 0 and "│ withdrawn " in _row(out, waiting) and "│ loaded " in _row(out, replacement)
