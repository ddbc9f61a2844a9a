"""`dvnet ui`: the Dagster UI for coalition staff, on 127.0.0.1 only, stopped cleanly on Ctrl-C.

Starts ``dagster dev -m dvnet.assets.definitions`` (webserver and daemon, so the inbox sensor
ticks and queued runs execute) with ``DAGSTER_HOME`` set to the network's own instance
(``<network>/coordinator/dagster``) and ``DVNET_NETWORK`` to the network: the UI shows that network
and nothing of another.

Signals: a ``dagster dev`` launched from a shell that ignores SIGINT/SIGTERM (a background job,
a service manager, CI) inherits the ignored dispositions and can then only be killed. The child
therefore resets both to their defaults before exec, runs in its own process group, and this
command forwards SIGINT/SIGTERM/SIGHUP to it, waits for its orderly shutdown, and only then
escalates to SIGKILL for the whole group.
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import click

from dvnet.contracts.errors import DvnetError
from dvnet.pipelines.cli import EXIT_OK
from dvnet.pipelines.commands.options import dagster_home_option, network_option

HOST = "127.0.0.1"  # never all interfaces: the UI has no login and shows the network's metadata
DEFINITIONS_MODULE = "dvnet.assets.definitions"
GRACE_SECONDS = 20
#: Held (flock) by the ``dvnet ui`` serving an instance, and by its ``dagster dev``, for as long as
#: either lives: a second one on another port would start a second daemon on the same instance
#: (two sensors and two run queues on one inbox). The kernel lets go when both have ended, even killed.
UI_LOCK = "dvnet-ui.lock"


def _reset_signals() -> None:  # runs in the child between fork and exec
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def dagster_dev_command(port: int) -> list[str]:
    exe = Path(sys.executable).with_name("dagster")
    head = [str(exe)] if exe.exists() else [sys.executable, "-m", "dagster"]
    return [*head, "dev", "-m", DEFINITIONS_MODULE, "-h", HOST, "-p", str(port)]


def port_is_free(port: int) -> bool:
    """Whether nothing listens on HOST:port. SO_REUSEADDR: a socket of a run that just ended
    (TIME_WAIT) does not count, only a program that is listening there now."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def hold_instance(home: Path, port: int) -> int:
    """The open, locked ``UI_LOCK`` of the instance ``home`` (naming this UI's address), or
    ``USAGE_UI_RUNNING`` naming the other one's."""
    fd = os.open(home / UI_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        other = os.pread(fd, 200, 0).decode("utf-8", errors="replace").strip() or "another port"
        os.close(fd)
        raise DvnetError("USAGE_UI_RUNNING", f"a `dvnet ui` already serves this network's Dagster instance ({other})",
                         hint="open that one, or stop it first (one daemon per instance)") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"http://{HOST}:{port}, pid {os.getpid()}".encode(), 0)
    return fd


def stop(proc: subprocess.Popen, grace: float = GRACE_SECONDS) -> int:
    """SIGTERM to dagster dev (it stops its webserver, daemon and code server), then the group."""
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
            return proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
    # Reap stragglers of the group (a code server outliving its parent) so the port is freed.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return proc.returncode if proc.returncode is not None else -9


@click.command("ui")
@network_option()
@click.option("--port", default=3000, show_default=True, type=click.IntRange(1, 65535), help="Port on 127.0.0.1.")
@dagster_home_option()
@click.pass_context
def ui(ctx: click.Context, network_dir: Path, port: int, dagster_home: Path | None) -> int:
    """Start the Dagster UI (lineage, partitions, checks) for the coordinator on 127.0.0.1.

    Ctrl-C or SIGTERM stops it and everything it started.
    """
    environ = dict((ctx.obj or {}).get("environ", os.environ))
    network = network_dir.resolve()
    if not port_is_free(port):  # before Dagster starts: its own message comes late and buried in its log
        raise DvnetError("USAGE_PORT_IN_USE", f"port {port} on {HOST} is already in use (another `dvnet ui`, or another program)",
                         hint=f"stop that one, or choose another port: dvnet ui --network {network_dir} --port {port + 1}")
    from dvnet.assets.runs import dagster_home_for, dagster_instance

    home = dagster_home_for(network, dagster_home, environ)
    held = hold_instance(home, port)  # before the instance is touched: the other UI's runs are live
    with dagster_instance(home):  # before the daemon: runs a killed command left in progress failed, the release pool set
        pass
    env = {**environ, "DAGSTER_HOME": str(home), "DVNET_NETWORK": str(network), "DAGSTER_DISABLE_TELEMETRY": "1"}
    proc = subprocess.Popen(dagster_dev_command(port), cwd=home, env=env, preexec_fn=_reset_signals, process_group=0, pass_fds=(held,))
    click.echo(f"dagster dev started (pid {proc.pid}, process group {proc.pid}) for {network}, instance {home}")
    click.echo(f"open http://{HOST}:{port}/asset-groups   (Ctrl-C to stop)")
    stopping: list[int] = []

    def forward(signum, _frame) -> None:
        if not stopping:
            stopping.append(signum)
            click.echo(f"\nstopping dagster dev ({signal.Signals(signum).name})...", err=True)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        while proc.poll() is None and not stopping:
            try:
                proc.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                pass
        code = stop(proc)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        os.close(held)
    if stopping:
        click.echo("dagster dev stopped", err=True)
        return EXIT_OK
    return code if code > 0 else EXIT_OK
