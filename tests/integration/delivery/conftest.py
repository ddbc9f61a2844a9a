"""A throw-away OpenSSH sshd on 127.0.0.1 (its own host key, config and authorized_keys in a
temporary folder, a free unprivileged port), and an agency with sealed bundles in its outbox.

The SFTP tests must run wherever the suite runs: they skip only when sshd cannot be started and
``CI`` is not set; under CI that is a failure (``make test`` installs openssh-server first).
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import pytest

from dvnet.common import network as store
from dvnet.pipelines.contributor.run import ContributionOptions, contribute
from dvnet.pipelines.demo_network import demo_geography
from dvnet.pipelines.synth import synthesize

SSHD_CANDIDATES = ("/usr/sbin/sshd", "/usr/local/sbin/sshd")
PERIOD = "2026-Q3"
AGENCY = "shelter-north"  # tier 3 in tests/conftest.py: sends referral and service_episode


@dataclass
class Sshd:
    folder: Path
    port: int
    user: str
    host_key: str  # the public line an agency pins
    log: Path
    process: subprocess.Popen

    def authorize(self, public_line: str) -> None:
        with (self.folder / "authorized_keys").open("a") as f:
            f.write(public_line.strip() + "\n")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config(folder: Path, port: int) -> str:
    return "\n".join([
        "ListenAddress 127.0.0.1", f"Port {port}",
        f"HostKey {folder / 'host_ed25519'}", f"PidFile {folder / 'sshd.pid'}",
        f"AuthorizedKeysFile {folder / 'authorized_keys'}",
        "PubkeyAuthentication yes", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password", "UsePAM no",
        "StrictModes no",  # the temporary folder's owner and modes are pytest's, not a home folder's
        "AllowTcpForwarding no", "X11Forwarding no",
        # SFTP only: no shell, no forwarding (what a coordinator's drop account should allow).
        "Subsystem sftp internal-sftp", "ForceCommand internal-sftp",
        "LogLevel VERBOSE", "",
    ])  # fmt: skip


def _start(folder: Path, sshd: str) -> Sshd:
    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(str(folder / "host_ed25519"))
    os.chmod(folder / "host_ed25519", 0o600)
    (folder / "authorized_keys").touch(mode=0o600)
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation folder sshd needs as root
    last = ""
    for _ in range(3):  # another process may take the free port between probe and bind
        port = _free_port()
        (folder / "sshd_config").write_text(_config(folder, port))
        log = folder / "sshd.log"
        proc = subprocess.Popen([sshd, "-D", "-e", "-f", str(folder / "sshd_config")], stdout=subprocess.DEVNULL, stderr=log.open("wb"))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return Sshd(folder, port, getpass.getuser(), key.export_public_key().decode().strip(), log, proc)
            except OSError:
                time.sleep(0.05)
        proc.kill()
        proc.wait()
        last = log.read_text(errors="replace")[-500:]
    raise RuntimeError(f"sshd did not start: {last}")


@pytest.fixture
def sshd(tmp_path_factory: pytest.TempPathFactory):
    """A running sshd serving SFTP only, as this user, on 127.0.0.1:<free port>."""
    exe = next((p for p in SSHD_CANDIDATES if os.access(p, os.X_OK)), None) or shutil.which("sshd")
    try:
        if exe is None:
            raise RuntimeError("no sshd program (Debian package openssh-server)")
        server = _start(tmp_path_factory.mktemp("sshd"), exe)
    except (RuntimeError, OSError) as e:
        if os.environ.get("CI"):
            pytest.fail(f"the SFTP tests need a real sshd and CI must run them: {e}")
        pytest.skip(f"cannot start sshd here ({e}); `make test` installs openssh-server")
    yield server
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture
def synthesized(network_dir: Path) -> store.AgencyConfig:
    """``shelter-north`` with a small synthetic quarter of extracts, nothing contributed yet."""
    network = store.load_network(network_dir)
    org = network.organisation(AGENCY)
    agencies = store.NetworkPaths(network_dir).agencies
    synthesize([org], agencies, seed=7, periods=[PERIOD], scale=0.05, geography=demo_geography())
    return store.load_agency(agencies / AGENCY)


@pytest.fixture
def steward(synthesized: store.AgencyConfig) -> store.AgencyConfig:
    """``shelter-north`` after two real contributions (referral and service_episode, aggregate
    mode) of a small synthetic quarter: two sealed bundles wait in its outbox."""
    agency = synthesized
    for contract in ("referral", "service_episode"):
        result = contribute(agency, ContributionOptions(contract_id=contract, extract=agency.folder / "extracts" / f"{contract}_{PERIOD}.csv", period=PERIOD))
        assert result.status == "sealed", result.to_dict()
    return agency
