"""`dvnet drop set` checks what it writes, as its --help says: a shared folder's paths are taken from
where the steward types them and must be there; a host-key file that is not there is named as such;
and an SFTP drop's commands print no warning from the SSH library."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import asyncssh
import yaml

from dvnet.common import network as store
from dvnet.pipelines.cli import main

REPO = Path(__file__).resolve().parents[3]


def _drop(agency) -> dict | None:
    return yaml.safe_load((agency.folder / "agency.yaml").read_text()).get("drop")


def test_relative_share_paths_are_taken_from_the_working_folder_and_send_reaches_them(steward, capsys, monkeypatch):
    coordinator = store.NetworkPaths(steward.folder.parent.parent).inbox.parent
    monkeypatch.chdir(coordinator)  # the steward types paths relative to where they are, as for every other option
    assert main(["drop", "set", "--agency", str(steward.folder), "--inbox", "inbox", "--receipts", f"receipts/{steward.agency_id}"]) == 0
    assert _drop(steward) == {"inbox": str(coordinator / "inbox"), "receipts": str(coordinator / "receipts" / steward.agency_id)}
    monkeypatch.chdir(steward.folder)
    assert main(["send", "--agency", str(steward.folder)]) == 0
    assert len(list((coordinator / "inbox").glob("*.dvb"))) == 2


def test_a_share_folder_that_is_not_there_is_refused_and_nothing_written(steward, capsys, tmp_path):
    receipts = tmp_path / "receipts"
    receipts.mkdir()
    assert main(["drop", "set", "--agency", str(steward.folder), "--inbox", str(tmp_path / "nonexistent" / "inbox"), "--receipts", str(receipts)]) == 2
    err = capsys.readouterr().err
    assert "--inbox" in err and str(tmp_path / "nonexistent" / "inbox") in err and "Traceback" not in err
    assert main(["drop", "set", "--agency", str(steward.folder), "--inbox", str(receipts), "--receipts", str(tmp_path / "missing")]) == 2
    assert "--receipts" in capsys.readouterr().err
    assert _drop(steward) is None


def test_a_host_key_file_that_is_not_there_is_named_not_blamed_on_agency_yaml(steward, capsys, tmp_path):
    missing = tmp_path / "ssh_host_ed25519_key.pub"
    sftp = ["drop", "set", "--agency", str(steward.folder), "--inbox", "/srv/inbox", "--receipts", "/srv/receipts", "--sftp", "agency@drop.example.org"]
    assert main([*sftp, "--host-key", str(missing)]) == 2
    err = capsys.readouterr().err
    assert "--host-key" in err and str(missing) in err and "agency.yaml" not in err and "AGENCY_CONFIG_INVALID" not in err
    missing.write_text("not a key\n")  # there, but not a public key
    assert main([*sftp, "--host-key", str(missing)]) == 2
    err = capsys.readouterr().err
    assert "--host-key" in err and "agency.yaml" not in err
    assert _drop(steward) is None


def test_an_sftp_drop_prints_no_library_warning(steward):
    host_key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    env = {**os.environ, "PYTHONWARNINGS": "default"}  # every warning shown unless dvnet filters it
    commands = [
        ["drop", "set", "--agency", str(steward.folder), "--inbox", "/srv/inbox", "--receipts", "/srv/receipts",
         "--sftp", "agency@drop.example.org", "--host-key", host_key],
        ["drop", "show", "--agency", str(steward.folder)],
    ]  # fmt: skip
    for argv in commands:
        done = subprocess.run([sys.executable, "-m", "dvnet.pipelines.cli", *argv], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "SHA256:" in done.stdout
        assert "DSA" not in done.stderr and "CryptographyDeprecationWarning" not in done.stderr, done.stderr[-2000:]
