"""Whatever lands in the inbox is loaded or quarantined with a typed reason, and nothing in it can
stop the next run: very long and non-UTF-8 names, terminal escapes and Rich markup in names,
symbolic links (never followed), FIFOs (never opened), sockets, folders, unreadable files."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
from pathlib import Path

import duckdb
import pytest

from dvnet.assets.intake.lib import checks
from dvnet.assets.intake.lib.inbox import HASHED_OVER_CAP, NOT_A_FILE, UNREADABLE, inbox_name, read_entry
from dvnet.assets.intake.lib.ingest import CoordinatorContext, ingest_inbox, pending_files
from dvnet.common.audit_trail import verify_log

LONG = "x" * 250 + ".dvb"  # 254 bytes: a legal name, but with ".reason.json" or a temporary prefix far over NAME_MAX
NOT_UTF8 = os.fsdecode(b"\xff\xfe agency bundle.dvb")
ESCAPES = "[bold red]look[red]\x1b[2J\x07.dvb"


def _ingest(kit) -> list:
    """ingest_inbox in a thread: a FIFO opened for reading would block it, and the test fails
    instead of hanging."""
    done: list = []

    def run():
        with duckdb.connect(str(kit.paths.warehouse)) as con:
            done.extend(ingest_inbox(CoordinatorContext.load(kit.root), con))

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(120)
    assert not worker.is_alive(), "ingest blocked on an inbox entry"
    return done


@pytest.fixture
def hostile_inbox(ck, kit, tmp_path):
    """Good bundles under hostile names, and every kind of entry that is not a file, named *.dvb."""
    inbox = kit.inbox
    good = {
        LONG: kit.records("shelter-a", n=10, seed=1),
        NOT_UTF8: kit.records("shelter-a", n=11, seed=2, period=ck.EARLIER_PERIOD),  # a quarter of its own: one live bundle per quarter
        ESCAPES: kit.counts("legal-b", "referral", n=12, seed=3),
    }
    for name, sealed in good.items():
        (inbox / name).write_bytes(sealed.blob)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "a-real-bundle.dvb").write_bytes(kit.records("shelter-a", n=13, seed=4).blob)
    os.symlink(outside / "a-real-bundle.dvb", inbox / "link-to-a-bundle.dvb")  # following it would load it
    os.symlink(tmp_path / "nowhere", inbox / "dangling.dvb")
    os.mkfifo(outside / "pipe")
    os.symlink(outside / "pipe", inbox / "link-to-a-fifo.dvb")
    os.mkfifo(inbox / "fifo.dvb")
    (inbox / "folder.dvb").mkdir()
    (inbox / "folder.dvb" / "inside.dvb").write_bytes(kit.records("health-c", n=5, seed=5).blob)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(inbox / "socket.dvb"))
    not_files = ["link-to-a-bundle.dvb", "dangling.dvb", "link-to-a-fifo.dvb", "fifo.dvb", "folder.dvb", "socket.dvb"]
    yield good, not_files, outside
    sock.close()


def test_every_entry_is_loaded_or_quarantined_and_the_next_run_is_clean(ck, kit, hostile_inbox):
    good, not_files, outside = hostile_inbox
    assert len(pending_files(kit.inbox)) == len(good) + len(not_files)
    outcomes = _ingest(kit)

    by_name = {o.file_name: o for o in outcomes}
    for name, sealed in good.items():  # a name is only a label: the bundles load under a safe one
        o = by_name[inbox_name(kit.inbox / name)]
        assert (o.outcome, o.reason, o.bundle_id) == ("loaded", None, sealed.bundle_id), ascii(name)  # a report must stay encodable
    for name in not_files:
        o = by_name[name]
        assert (o.outcome, o.reason, o.file_sha256) == ("quarantined", NOT_A_FILE, None), name
    assert len(outcomes) == len(good) + len(not_files)

    # The inbox is empty; links went to quarantine as links, their targets untouched and unread.
    assert os.listdir(kit.inbox) == []
    assert (outside / "a-real-bundle.dvb").is_file() and os.path.islink(kit.paths.quarantine / "link-to-a-bundle.dvb")
    assert (kit.paths.quarantine / "folder.dvb" / "inside.dvb").is_file()
    assert ck.query(kit.paths.warehouse, "SELECT count(*) FROM ledger")[0][0] == len(good)

    # Every record is whole and safe text: reason files, quarantine log, audit log, receipts.
    with duckdb.connect(str(kit.paths.warehouse)) as con:
        assert checks.quarantine_explained(con, kit.paths.quarantine).passed
        logged = dict(con.execute("SELECT file_name, reason FROM quarantine_log").fetchall())
    assert logged == {name: NOT_A_FILE for name in not_files}
    for name in not_files:
        assert json.loads((kit.paths.quarantine / f"{name}.reason.json").read_text())["reason"] == NOT_A_FILE
    assert verify_log(kit.paths.audit_log).entries > 0  # chain, signatures, signed head, receipts
    text = kit.paths.audit_log.read_bytes() + b"".join(p.read_bytes() for p in kit.paths.quarantine.glob("*.json"))
    for needle in (LONG.encode(), b"\xff\xfe", b"\x1b", b"[bold"):
        assert needle not in text
    assert len(ck.receipts(kit)) == len(good)  # entries that were never read get no receipt

    assert _ingest(kit) == []  # the next run: nothing left, nothing stops it


def test_the_sensor_requests_a_run_for_every_entry_and_the_runs_empty_the_inbox(ck, kit, instance, hostile_inbox):
    good, not_files, _ = hostile_inbox
    result, runs = ck.tick(kit, instance)
    assert len(runs) == len(good) + len(not_files) and all(r.success for _, r in runs)
    for req, _ in runs:
        assert req.tags["dvnet/bundle_file"] == inbox_name(kit.inbox / req.tags["dvnet/bundle_file"])
    partitions = {req.tags["dvnet/bundle_file"]: req.partition_key for req, _ in runs}
    assert {partitions[n] for n in not_files} == {"_unverified|_unknown"}
    assert os.listdir(kit.inbox) == []
    again, runs = ck.tick(kit, instance, result.cursor)
    assert runs == [] and again.skip_reason is not None


def test_a_file_the_system_will_not_open_is_quarantined_not_a_crash(ck, kit, monkeypatch):
    path = kit.drop("locked", kit.records("shelter-a", n=10, seed=6).blob)
    real_open = os.open

    def refuse(target, flags, *args, **kwargs):
        if Path(os.fsdecode(target)) == path:
            raise PermissionError(13, "Permission denied")
        return real_open(target, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    (o,) = _ingest(kit)
    monkeypatch.undo()
    assert (o.outcome, o.reason, o.file_sha256) == ("quarantined", UNREADABLE, None)
    assert "Permission denied" in o.message
    assert (kit.paths.quarantine / "locked.dvb").is_file() and not path.exists()


def test_a_name_an_earlier_sender_took_in_quarantine_is_never_reused(ck, kit):
    """A sender chooses names, so it can take the very name the next arrival would be quarantined
    under (a folder named ``<name>.<first 12 hex of its SHA-256>.dvb``, the name a second copy of
    ``<name>.dvb`` gets): the run goes on, nothing already in quarantine is replaced, and every
    entry there keeps its own reason file. A rename onto a folder failed and stopped every run."""
    blob = b"not a bundle, sent again and again" * 8
    taken = f"again.{hashlib.sha256(blob).hexdigest()[:12]}.dvb"
    (kit.inbox / taken).mkdir(mode=0o755)
    (kit.inbox / taken / "inside.dvb").write_bytes(b"held")
    for p in (kit.inbox / taken, kit.inbox / taken / "inside.dvb"):
        os.chmod(p, 0o755)  # as an SFTP account with a lax umask delivers them
    kit.drop("again", blob)
    assert len(_ingest(kit)) == 2
    for _ in range(2):  # the second copy meets the folder, the third both names taken
        kit.drop("again", blob)
        (o,) = _ingest(kit)
        assert (o.outcome, o.reason) == ("quarantined", "FRAMING_INVALID")
    assert os.listdir(kit.inbox) == []
    quarantined = sorted(p for p in kit.paths.quarantine.iterdir() if not p.name.endswith(".reason.json"))
    assert len(quarantined) == 4 and (kit.paths.quarantine / taken / "inside.dvb").read_bytes() == b"held"
    assert [p.read_bytes() for p in quarantined if p.is_file()] == [blob] * 3
    for p in quarantined:
        assert p.with_name(p.name + ".reason.json").is_file(), p.name
        assert os.lstat(p).st_mode & 0o077 == 0, p.name  # owner-only: the folder and what it holds too
    assert os.lstat(kit.paths.quarantine / taken / "inside.dvb").st_mode & 0o077 == 0
    with duckdb.connect(str(kit.paths.warehouse)) as con:
        assert checks.quarantine_explained(con, kit.paths.quarantine).passed


def test_a_file_over_the_cap_is_hashed_only_as_far_as_it_was_delivered(tmp_path):
    """Over the cap a file is hashed for its receipt, but a sparse one (a few bytes written at a far
    offset) claiming more than ``HASHED_OVER_CAP`` times the cap is not read at all: terabytes that
    cost the sender nothing took the coordinator hours to hash."""
    cap = 1 << 20
    dense = tmp_path / "dense.dvb"
    dense.write_bytes(os.urandom(cap) * (HASHED_OVER_CAP + 2))  # really on disk: hashed
    assert read_entry(dense, cap).sha256 == hashlib.sha256(dense.read_bytes()).hexdigest()
    sparse = tmp_path / "sparse.dvb"
    with sparse.open("wb") as f:
        f.truncate(64 * HASHED_OVER_CAP * cap)
        f.write(b"DVNB")
    assert os.stat(sparse).st_blocks * 512 < os.stat(sparse).st_size  # the filesystem keeps it sparse
    entry = read_entry(sparse, cap)
    assert (entry.sha256, entry.blob) == (None, None) and entry.size > cap
    small_sparse = tmp_path / "small-sparse.dvb"
    with small_sparse.open("wb") as f:
        f.truncate(2 * cap)  # within the bound: hashed whatever it holds
    assert read_entry(small_sparse, cap).sha256 == hashlib.sha256(bytes(2 * cap)).hexdigest()


def test_a_sparse_file_claiming_terabytes_is_quarantined_unread_at_once(ck, kit):
    sparse = kit.inbox / "claims-a-terabyte.dvb"
    with sparse.open("wb") as f:
        f.truncate(1 << 40)
    (o,) = _ingest(kit)
    assert (o.outcome, o.reason, o.file_sha256) == ("quarantined", "TOO_LARGE", None)
    assert os.listdir(kit.inbox) == [] and (kit.paths.quarantine / "claims-a-terabyte.dvb.reason.json").is_file()
    assert ck.receipts(kit) == {}  # a receipt names the bytes received: none were


def test_an_upload_another_account_owns_moves_out_without_stopping_the_run(ck, kit, monkeypatch):
    """An SFTP drop's account owns what it uploads: the coordinator may move it (it owns the inbox)
    but not change its mode. The run goes on; the file sits behind the owner-only folder."""
    sealed = kit.records("shelter-a", n=10, seed=7)
    kit.drop("foreign", sealed.blob)
    kit.drop("after", kit.records("shelter-a", n=10, seed=8, period=ck.EARLIER_PERIOD).blob)
    real_chmod = os.chmod

    def not_owner(target, *args, **kwargs):
        if Path(os.fsdecode(target)).name == "foreign.dvb":
            raise PermissionError(1, "Operation not permitted")
        return real_chmod(target, *args, **kwargs)

    monkeypatch.setattr(os, "chmod", not_owner)
    outcomes = _ingest(kit)
    monkeypatch.undo()
    assert sorted((o.file_name, o.outcome) for o in outcomes) == [("after.dvb", "loaded"), ("foreign.dvb", "loaded")]
    assert (kit.paths.archive / "foreign.dvb").is_file() and os.listdir(kit.inbox) == []
    assert os.stat(kit.paths.archive).st_mode & 0o077 == 0


def test_the_inbox_reason_codes():
    assert (NOT_A_FILE, UNREADABLE) == ("INBOX_NOT_A_FILE", "INBOX_UNREADABLE")


def test_names_are_plain_or_stand_ins():
    assert inbox_name(Path("shelter-a_referral_2026-Q3_000001.dvb")) == "shelter-a_referral_2026-Q3_000001.dvb"
    assert inbox_name(Path("bundle (1).dvb")) == "bundle (1).dvb"
    for hostile in (LONG, NOT_UTF8, ESCAPES, "-rf.dvb", " lead.dvb", "caf\u00e9.dvb", "line\nbreak.dvb", "rtl\u202e.dvb"):
        name = inbox_name(Path(hostile))
        assert name.startswith("renamed-") and name.endswith(".dvb") and len(name) == len("renamed-") + 16 + 4, hostile
    assert inbox_name(Path(NOT_UTF8)) != inbox_name(Path(ESCAPES))


def test_dvnet_ingest_from_the_command_line(ck, kit, tmp_path, hostile_inbox):
    """What the coordinator types: one run quarantines what must be (exit 1, no traceback), and
    every later run goes through (exit 0)."""
    first = ck.run_cli(["ingest", "--network", str(kit.root), *ck.as_coordinator(kit.root)])
    assert first.returncode == 1, first.stderr[-2000:]
    assert not ck.shows_a_trace(first.stdout + first.stderr)
    assert "\x1b[2J" not in first.stdout and "\x07" not in first.stdout
    second = ck.run_cli(["ingest", "--network", str(kit.root), *ck.as_coordinator(kit.root)])
    assert second.returncode == 0 and "is empty" in second.stdout, second.stdout + second.stderr
