"""`dvnet ui` (the real ``dagster dev``: webserver, daemon, code server) started for a test on
127.0.0.1, asked over GraphQL, and always stopped with its whole process group."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STARTUP_LIMIT_SECONDS = 180  # a bound on waiting, not an assertion about speed
GRAPH_QUERY = """
{ assetNodes { assetKey { path } groupName dependencyKeys { path }
    assetChecksOrError { ... on AssetChecks { checks { name } } } } }
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, data: bytes | None = None) -> bytes:
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read()


def graphql(port: int, query: str) -> dict:
    return json.loads(get(f"http://127.0.0.1:{port}/graphql", json.dumps({"query": query}).encode()))["data"]


def wait_until_up(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_LIMIT_SECONDS
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"dvnet ui exited early:\n{log.read_text()[-3000:]}"
        try:
            get(f"http://127.0.0.1:{port}/server_info")
            # The webserver answers before the code location has loaded; wait for the assets too.
            if any(n["groupName"] == "intake" for n in graphql(port, GRAPH_QUERY)["assetNodes"]):
                return
        except (urllib.error.URLError, ConnectionError, KeyError, TypeError, json.JSONDecodeError):
            pass
        time.sleep(1)
    raise AssertionError(f"the UI did not come up within {STARTUP_LIMIT_SECONDS}s:\n{log.read_text()[-3000:]}")


def start(network: Path, home: Path, port: int, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """``dvnet ui`` for ``network`` with its instance in ``home``, output to ``log``, in its own session."""
    with log.open("wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "dvnet.pipelines.cli", "ui", "--network", str(network), "--port", str(port), "--dagster-home", str(home)],
            cwd=REPO, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ, **(env or {})},
        )  # fmt: skip


def stop(proc: subprocess.Popen, log: Path) -> None:
    """SIGTERM to dvnet ui's process group (it forwards to dagster dev), then make sure all is gone."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    found = re.search(r"dagster dev started \(pid (\d+), process group (\d+)\)", log.read_text())
    if found:  # safety net: nothing of dagster dev may outlive the test
        try:
            os.killpg(int(found.group(2)), signal.SIGKILL)
        except ProcessLookupError:
            pass
