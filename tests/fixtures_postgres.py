"""A throw-away PostgreSQL server from Debian's packages (``postgresql``): ``initdb`` into a
temporary folder, ``postgres`` on 127.0.0.1 at a free unprivileged port, no Unix socket, one role
that logs in with a password (scram-sha-256), as a deployment's would.

PostgreSQL refuses to run as root; as root the cluster is made and run as ``nobody``, in a folder
under /tmp that ``nobody`` can reach (pytest's own temporary folders are root's, mode 0700).
The tests that use it skip only when PostgreSQL cannot be started and ``CI`` is not set; under CI
that is a failure (``make test`` installs postgresql first, tests/system/require-packages).
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

#: Debian keeps the server programs off PATH, one folder per major version.
DEBIAN_BINDIRS = "/usr/lib/postgresql/*/bin"
ROLE = "dvnet"
RUN_AS = "nobody"  # when the tests run as root


@dataclass
class Postgres:
    folder: Path
    port: int
    password: str
    process: subprocess.Popen

    def dsn(self, db: str = "postgres") -> str:
        """libpq's URL (psycopg2, psql)."""
        return f"postgresql://{ROLE}:{self.password}@127.0.0.1:{self.port}/{db}"

    def url(self, db: str = "postgres") -> str:
        """SQLAlchemy's URL with the driver named, as DVNET_DAGSTER_PG_URL takes it."""
        return self.dsn(db).replace("postgresql://", "postgresql+psycopg2://", 1)

    def query(self, sql: str, db: str = "postgres", params: tuple = ()) -> list[tuple]:
        import psycopg2

        with psycopg2.connect(self.dsn(db)) as con, con.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def create_database(self, name: str) -> str:
        """A new, empty database; its URL."""
        import psycopg2

        con = psycopg2.connect(self.dsn())
        con.autocommit = True  # CREATE DATABASE cannot run in a transaction
        try:
            con.cursor().execute(f'CREATE DATABASE "{name}"')
        finally:
            con.close()
        return self.url(name)

    def log_text(self) -> str:
        return (self.folder / "postgres.log").read_text(errors="replace")


def _bindir() -> Path | None:
    """The newest Debian server folder, else wherever ``initdb`` is on PATH."""
    found = sorted(glob.glob(DEBIAN_BINDIRS), key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0)
    if found and os.access(Path(found[-1]) / "initdb", os.X_OK):
        return Path(found[-1])
    on_path = shutil.which("initdb")
    return Path(on_path).resolve().parent if on_path else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _owner() -> dict:
    """Popen arguments that run PostgreSQL's programs as a non-root user when we are root."""
    if os.geteuid() != 0:
        return {}
    user = pwd.getpwnam(RUN_AS)
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def _start(folder: Path, bindir: Path, fsync: bool = False) -> Postgres:
    """initdb and start; ``fsync`` off for tests (a throw-away cluster), on for benchmarks."""
    owner = _owner()
    if owner:
        os.chown(folder, owner["user"], owner["group"])
    password = secrets.token_urlsafe(16)
    pwfile = folder / "pwfile"
    pwfile.write_text(password + "\n")
    if owner:
        os.chown(pwfile, owner["user"], owner["group"])
    data = folder / "data"
    init = subprocess.run(
        [str(bindir / "initdb"), "-D", str(data), "-U", ROLE, f"--pwfile={pwfile}", "--auth=scram-sha-256", "-E", "UTF8", "--locale=C"],
        cwd=folder, capture_output=True, text=True, **owner,
    )  # fmt: skip
    if init.returncode != 0:
        raise RuntimeError(f"initdb failed: {init.stderr[-500:]}")
    last = ""
    for _ in range(3):  # another process may take the free port between probe and bind
        port = _free_port()
        with (folder / "postgres.log").open("wb") as log:  # the server keeps its own descriptor
            proc = subprocess.Popen(
                [str(bindir / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port), "-k", "", "-c", f"fsync={'on' if fsync else 'off'}"],
                cwd=folder, stdout=subprocess.DEVNULL, stderr=log, **owner,
            )  # fmt: skip
        server = Postgres(folder, port, password, proc)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                server.query("SELECT 1")
                return server
            except Exception:  # noqa: BLE001 - psycopg2.OperationalError until it accepts connections
                time.sleep(0.1)
        proc.kill()
        proc.wait()
        last = server.log_text()[-500:]
    raise RuntimeError(f"postgres did not start: {last}")


def _stop(server: Postgres) -> None:
    server.process.send_signal(signal.SIGINT)  # "fast" shutdown: roll back sessions, exit
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture
def postgres():
    """A running PostgreSQL on 127.0.0.1:<free port>, removed with its data after the test."""
    folder = Path(tempfile.mkdtemp(prefix="dvnet-pg-"))
    try:
        bindir = _bindir()
        if bindir is None:
            raise RuntimeError("no initdb program (Debian package postgresql)")
        server = _start(folder, bindir)
    except (RuntimeError, OSError, KeyError) as e:
        shutil.rmtree(folder, ignore_errors=True)
        if os.environ.get("CI"):
            pytest.fail(f"the PostgreSQL tests need a real PostgreSQL and CI must run them: {e}")
        pytest.skip(f"cannot start PostgreSQL here ({e}); `make test` installs postgresql")
    yield server
    _stop(server)
    shutil.rmtree(folder, ignore_errors=True)
