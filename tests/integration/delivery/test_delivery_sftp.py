"""`dvnet drop set`, `dvnet send` and `dvnet receipts` over SFTP to a real OpenSSH sshd on 127.0.0.1,
as a steward types them; the coordinator ingests in between."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import asyncssh
import duckdb
import pytest

from dvnet.assets.intake.lib.ingest import CoordinatorContext, ingest_inbox, pending_files
from dvnet.common import network as store
from dvnet.common.authority import authorise
from dvnet.pipelines.ceremony import FOUNDER
from dvnet.pipelines.cli import main
from dvnet.pipelines.delivery import sftp
from case_system_export import local_extract, write_mapping

REPO = Path(__file__).resolve().parents[3]
PERIOD = "2026-Q3"  # the synthesized quarter (conftest)

pytestmark = pytest.mark.slow


def _paths(agency: store.AgencyConfig) -> store.NetworkPaths:
    return store.NetworkPaths(agency.folder.parent.parent)


def _set_drop(agency, server, host_key: str | None = None) -> None:
    paths = _paths(agency)
    args = ["drop", "set", "--agency", str(agency.folder), "--inbox", str(paths.inbox), "--receipts", str(paths.receipts / agency.agency_id),
            "--sftp", f"{server.user}@127.0.0.1:{server.port}", "--host-key", host_key or server.host_key]  # fmt: skip
    assert main(args) == 0


def _authorize(agency, server) -> None:
    server.authorize(sftp.public_line(agency.folder / "keys" / "drop_ed25519"))


def _ingest(agency) -> list:
    paths = _paths(agency)
    paths.receipts.joinpath(agency.agency_id).mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(paths.warehouse))
    try:
        return ingest_inbox(CoordinatorContext.load(paths.root), con)
    finally:
        con.close()


def _inbox(agency) -> list[str]:
    return sorted(p.name for p in _paths(agency).inbox.iterdir())


def test_send_delivers_the_outbox_atomically_and_receipts_say_loaded(sshd, steward, capsys):
    _set_drop(steward, sshd)
    set_out = capsys.readouterr().out
    assert "sftp://" in set_out and "SHA256:" in set_out and "ssh-ed25519 " in set_out  # fingerprint to compare; public line to hand over
    _authorize(steward, sshd)
    waiting = sorted(p.name for p in (steward.folder / "outbox").glob("*.dvb"))
    assert len(waiting) == 2

    assert main(["send", "--agency", str(steward.folder)]) == 0
    out = capsys.readouterr().out
    assert "2 delivered" in out and all(name in out for name in waiting)
    assert _inbox(steward) == waiting  # the final names only: no temporary file left behind
    assert not list((steward.folder / "outbox").iterdir())
    for name in waiting:
        assert (_paths(steward).inbox / name).read_bytes() == (steward.folder / "sent" / name).read_bytes()
    assert [o.outcome for o in _ingest(steward)] == ["loaded", "loaded"]
    assert main(["receipts", "--agency", str(steward.folder)]) == 0
    out = capsys.readouterr().out
    assert "fetched 2 new receipts" in out
    assert out.count("│ loaded ") == 2 and out.count("loaded: ") == 2 and "count-table rows" in out
    assert len(list((steward.folder / "receipts").glob("*.receipt.json"))) == 2
    # Fetching again brings nothing new and changes nothing.
    assert main(["receipts", "--agency", str(steward.folder)]) == 0
    assert "fetched 0 new receipts, 2 already here" in capsys.readouterr().out


def test_an_upload_cut_short_never_appears_in_the_inbox(sshd, steward, capsys, monkeypatch):
    _set_drop(steward, sshd)
    _authorize(steward, sshd)
    writes = []

    async def failing_write(self, data, offset=None):  # the line drops after the first block reached the server
        writes.append(len(data))
        if len(writes) > 1:
            raise OSError("connection lost")
        return await real_write(self, data, offset)

    real_write = asyncssh.SFTPClientFile.write
    monkeypatch.setattr(sftp, "BLOCK", 512)
    monkeypatch.setattr(asyncssh.SFTPClientFile, "write", failing_write)
    assert main(["send", "--agency", str(steward.folder)]) == 1
    assert "DROP_WRITE_FAILED" in capsys.readouterr().err
    inbox = _paths(steward).inbox
    assert pending_files(inbox) == []  # only a hidden partial file: ingest never takes it
    assert [n for n in _inbox(steward) if not n.startswith(".")] == []
    assert len(list((steward.folder / "outbox").glob("*.dvb"))) == 2  # nothing counted as sent

    monkeypatch.undo()
    assert main(["send", "--agency", str(steward.folder)]) == 0  # the next try replaces the partial file
    assert _inbox(steward) == sorted(p.name for p in (steward.folder / "sent").iterdir())


def test_a_quarantined_bundle_is_explained_in_plain_words(sshd, steward, capsys):
    _set_drop(steward, sshd)
    _authorize(steward, sshd)
    assert main(["send", "--agency", str(steward.folder)]) == 0
    root = _paths(steward).root
    store.set_status(root, steward.agency_id, "suspended", authorise(root, FOUNDER[0], root / "people" / FOUNDER[0] / "signing.key", "network.suspend"))
    assert {o.reason for o in _ingest(steward)} == {"AGENCY_SUSPENDED"}
    capsys.readouterr()

    assert main(["receipts", "--agency", str(steward.folder)]) == 1  # something needs the steward's attention
    out = capsys.readouterr().out
    assert out.count("quarantined") >= 2 and "your agency is suspended in the network's registry" in out and "AGENCY_SUSPENDED" in out


def test_a_server_with_another_host_key_gets_nothing(sshd, steward, capsys):
    impostor = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    _set_drop(steward, sshd, host_key=impostor)
    _authorize(steward, sshd)
    before = sorted(p.name for p in (steward.folder / "outbox").iterdir())

    assert main(["send", "--agency", str(steward.folder)]) == 1
    err = capsys.readouterr().err
    assert "DROP_HOST_KEY_MISMATCH" in err and "fingerprint" in err
    assert sorted(p.name for p in (steward.folder / "outbox").iterdir()) == before
    assert _inbox(steward) == []
    assert "Accepted publickey" not in sshd.log_text()  # refused before the agency's key was ever offered


def test_a_key_the_drop_does_not_accept_is_refused_and_nothing_moves(sshd, steward, capsys):
    _set_drop(steward, sshd)  # the coordinator has not added the agency's public line yet
    assert main(["send", "--agency", str(steward.folder)]) == 1
    assert "DROP_LOGIN_REFUSED" in capsys.readouterr().err
    assert len(list((steward.folder / "outbox").glob("*.dvb"))) == 2 and _inbox(steward) == []


def test_sending_again_never_duplicates_at_the_coordinator(sshd, steward, capsys):
    _set_drop(steward, sshd)
    _authorize(steward, sshd)
    sent = steward.folder / "sent"

    def put_back() -> None:  # as if the steward (or a crash before the move) left them in the outbox
        for f in sent.iterdir():
            shutil.copy2(f, steward.folder / "outbox" / f.name)

    assert main(["send", "--agency", str(steward.folder)]) == 0
    put_back()
    assert main(["send", "--agency", str(steward.folder)]) == 0
    assert len(_inbox(steward)) == 2  # the second copy replaced the first under the same name
    assert [o.outcome for o in _ingest(steward)] == ["loaded", "loaded"]

    put_back()
    assert main(["send", "--agency", str(steward.folder)]) == 0
    assert [o.outcome for o in _ingest(steward)] == ["duplicate", "duplicate"]
    con = duckdb.connect(str(_paths(steward).warehouse), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM ledger").fetchone()[0] == 2
    finally:
        con.close()
    capsys.readouterr()
    assert main(["receipts", "--agency", str(steward.folder)]) == 0
    assert capsys.readouterr().out.count("│ loaded ") == 2  # a duplicate's receipt says loaded (once, earlier)


def test_nothing_listening_is_unreachable(steward, capsys, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free, and nothing listens on it once closed
    host_key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    key_file = tmp_path / "host.pub"
    key_file.write_text(host_key)
    assert main(["drop", "set", "--agency", str(steward.folder), "--inbox", "inbox", "--receipts", "receipts",
                 "--sftp", f"someone@127.0.0.1:{port}", "--host-key", str(key_file)]) == 0  # fmt: skip
    assert main(["send", "--agency", str(steward.folder)]) == 1
    assert "DROP_UNREACHABLE" in capsys.readouterr().err
    assert len(list((steward.folder / "outbox").glob("*.dvb"))) == 2


def test_a_receipts_folder_the_drop_does_not_have_is_a_read_failure(sshd, steward, capsys):
    _set_drop(steward, sshd)
    _authorize(steward, sshd)
    config = steward.folder / "agency.yaml"
    config.write_text(config.read_text().replace(f"receipts/{steward.agency_id}", "receipts/nobody-here"))
    assert main(["receipts", "--agency", str(steward.folder)]) == 1
    assert "DROP_READ_FAILED" in capsys.readouterr().err


def test_a_stewards_walk_through_from_a_mapped_export_to_its_receipt(sshd, synthesized, capsys, tmp_path):
    """The README's steward sections as one person types them: the case system's own export is
    refused until the mapping file says what its columns and codes mean; then it is contributed,
    sent over SFTP, loaded by the coordinator, and its signed receipt read back. The steward's
    terminal output is kept in ``test-output/steward/walk-through.txt``."""
    agency = synthesized
    export = tmp_path / "case_system_export.csv"
    local_extract(agency.folder / "extracts" / f"service_episode_{PERIOD}.csv", export)
    transcript: list[str] = []

    def steward_types(*args: str) -> tuple[int, str]:
        code = main(list(args))
        out = capsys.readouterr()
        transcript.append(f"$ dvnet {' '.join(args)}\n{out.out}{out.err}(exit {code})\n")
        return code, " ".join((out.out + out.err).split())

    check = ["mapping", "check", "--agency", str(agency.folder), "--contract", "service_episode", "--extract", str(export), "--period", PERIOD]
    code, out = steward_types(*check)
    assert code == 1 and "COLUMNS_MISMATCH" in out and "nothing reads" in out
    write_mapping(agency)  # the scaffold's lines, filled in for this export
    code, out = steward_types(*check)
    assert code == 0 and "'EpisodeNo', mapped" in out
    code, out = steward_types("contribute", "--agency", str(agency.folder), "--contract", "service_episode", "--extract", str(export), "--period", PERIOD)
    assert code == 0, out
    _set_drop(agency, sshd)
    capsys.readouterr()
    _authorize(agency, sshd)
    code, out = steward_types("send", "--agency", str(agency.folder))
    assert code == 0 and "1 delivered" in out
    assert [o.outcome for o in _ingest(agency)] == ["loaded"]  # the coordinator's side
    code, out = steward_types("receipts", "--agency", str(agency.folder))
    assert code == 0 and "fetched 1 new receipt " in out and "loaded: " in out
    said = "".join(transcript)
    with export.open(encoding="utf-8") as f:  # no identifying value of the export, nor its case notes
        private = {row[c] for row in csv.DictReader(f) for c in ("client_name", "date_of_birth", "postal_code", "ClientNo", "CaseNotes") if row[c]}
    assert private and not [v for v in private if v in said], "a value of the export was shown"
    kept = REPO / "test-output" / "steward"
    kept.mkdir(parents=True, exist_ok=True)
    (kept / "walk-through.txt").write_text("\n".join(transcript), encoding="utf-8")
