"""`dvnet drop`: tell dvnet where the coordinator's drop is (agency.yaml's drop: section)."""

from __future__ import annotations

import re
from pathlib import Path

import click

from dvnet.pipelines.console import make_console
from dvnet.pipelines.delivery.defaults import DEFAULT_IDENTITY, SSH_PORT

_SFTP = re.compile(r"^(?P<user>[^@\s]+)@(?P<host>[^:\s]+)(?::(?P<port>\d{1,5}))?$")


@click.group("drop")
def drop() -> None:
    """Set or show where this agency's bundles go (a shared folder, or SFTP to the coordinator)."""


def _host_key(value: str) -> str:
    path = Path(value).expanduser()
    text = path.read_text(encoding="utf-8") if path.is_file() else value
    return " ".join(text.split()[:2])  # "<type> <base64>"; a comment after it is not part of the key


@drop.command("set")
@click.option("--agency", "agency_dir", required=True, type=click.Path(path_type=Path, file_okay=False), help="The agency's folder.")
@click.option("--inbox", required=True, help="The coordinator's inbox folder (on the SFTP server, or on the share).")
@click.option("--receipts", required=True, help="The folder holding the coordinator's receipts for this agency.")
@click.option("--sftp", "sftp_target", metavar="USER@HOST[:PORT]", help="Deliver over SFTP to this account (leave out for a shared folder).")
@click.option("--host-key", help="With --sftp: the server's public host key, as a line 'ssh-ed25519 AAAA...' or a .pub file the coordinator gave you.")
@click.option("--identity", type=click.Path(path_type=Path, dir_okay=False), help=f"With --sftp: this agency's SSH private key (default <agency>/{DEFAULT_IDENTITY}, made if missing).")
def set_(agency_dir: Path, inbox: str, receipts: str, sftp_target: str | None, host_key: str | None, identity: Path | None) -> None:
    """Write the drop into agency.yaml (checked first; the rest of the file is kept)."""
    from dvnet.common.network import load_agency  # here: --help stays light
    from dvnet.pipelines.delivery.drop import save_drop

    agency = load_agency(agency_dir)
    section: dict = {"inbox": inbox, "receipts": receipts}
    console = make_console()
    if sftp_target is None:
        if host_key or identity:
            raise click.UsageError("--host-key and --identity go with --sftp")
    else:
        m = _SFTP.match(sftp_target)
        if not m:
            raise click.BadParameter("use the form user@host or user@host:port", param_hint="--sftp")
        if not host_key:
            raise click.UsageError("--sftp needs --host-key: the server's key is pinned, never learned on first use")
        section["sftp"] = {"host": m["host"], "port": int(m["port"] or SSH_PORT), "user": m["user"], "host_key": _host_key(host_key),
                           "identity_file": str(identity or DEFAULT_IDENTITY)}  # fmt: skip
    dropped = save_drop(agency, section)
    console.print(f"agency.yaml: bundles go to {dropped.describe()}; receipts come from {dropped.describe(dropped.receipts)}", soft_wrap=True)
    if dropped.sftp is not None:
        from dvnet.pipelines.delivery import sftp

        if not dropped.sftp.identity_file.exists():
            sftp.make_identity(dropped.sftp.identity_file)
            console.print(f"made this agency's SSH key {dropped.sftp.identity_file} (private: never send it anywhere)", soft_wrap=True)
        _show_sftp(console, dropped.sftp)


def _show_sftp(console, target) -> None:
    from dvnet.pipelines.delivery import sftp

    console.print(f"pinned server key: {sftp.fingerprint(target.host_key)}  (compare it with the coordinator's, by phone)", soft_wrap=True)
    if target.identity_file.exists():
        console.print("give the coordinator this line for the drop's authorized_keys (it is public):")
        console.print(f"  {sftp.public_line(target.identity_file)}", soft_wrap=True)


@drop.command("show")
@click.option("--agency", "agency_dir", required=True, type=click.Path(path_type=Path, file_okay=False), help="The agency's folder.")
def show(agency_dir: Path) -> None:
    """Where bundles go, the pinned server key's fingerprint, and this agency's public SSH key line."""
    from dvnet.common.network import load_agency
    from dvnet.pipelines.delivery.drop import drop_of

    dropped = drop_of(load_agency(agency_dir))
    console = make_console()
    console.print(f"bundles go to {dropped.describe()}; receipts come from {dropped.describe(dropped.receipts)}", soft_wrap=True)
    if dropped.sftp is not None:
        _show_sftp(console, dropped.sftp)
