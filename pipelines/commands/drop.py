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
    """The server's key line from --host-key: a .pub file's first key, or the line itself, checked
    here so a wrong value is blamed on the option, not on agency.yaml."""
    from dvnet.pipelines.delivery import sftp

    path = Path(value).expanduser()
    if path.is_file():
        text, what = path.read_text(encoding="utf-8", errors="replace"), f"{path} does not hold"
    elif len(value.split()) >= 2:
        text, what = value, "this is not"
    else:  # one word: a file name, since a key line is at least "<type> <base64>"
        raise click.BadParameter(f"there is no file {path}: give the server's public key file the coordinator sent you (a .pub), "
                                 "or its key line in quotes, 'ssh-ed25519 AAAA...'", param_hint="--host-key")
    line = " ".join(text.split()[:2])  # "<type> <base64>"; a comment after it is not part of the key
    if not sftp.is_public_key(line):
        raise click.BadParameter(f"{what} an OpenSSH public key line ('ssh-ed25519 AAAA...'): ask the coordinator for the drop server's host key",
                                 param_hint="--host-key")
    return line


def _share_folder(value: str, option: str) -> str:
    """A shared-folder path as typed, made absolute from the working folder (as every path option
    is), and there now: a share that is not mounted is found here, not at the first `dvnet send`."""
    path = Path(value).expanduser().absolute()
    if not path.is_dir():
        raise click.BadParameter(f"{path} is not a folder this machine can reach: is the share mounted? "
                                 "Ask the coordinator for the right path", param_hint=option)
    return str(path)


@drop.command("set")
@click.option("--agency", "agency_dir", required=True, type=click.Path(path_type=Path, file_okay=False), help="The agency's folder.")
@click.option("--inbox", required=True, help="The coordinator's inbox folder (on the SFTP server, or on the share).")
@click.option("--receipts", required=True, help="The folder holding the coordinator's receipts for this agency.")
@click.option("--sftp", "sftp_target", metavar="USER@HOST[:PORT]", help="Deliver over SFTP to this account (leave out for a shared folder).")
@click.option("--host-key", help="With --sftp: the server's public host key, as a line 'ssh-ed25519 AAAA...' or a .pub file the coordinator gave you.")
@click.option("--identity", type=click.Path(path_type=Path, dir_okay=False), help=f"With --sftp: this agency's SSH private key (default <agency>/{DEFAULT_IDENTITY}, made if missing).")
def set_(agency_dir: Path, inbox: str, receipts: str, sftp_target: str | None, host_key: str | None, identity: Path | None) -> None:
    """Write the drop into agency.yaml (checked first; the rest of the file is kept).

    A shared folder's --inbox and --receipts are taken from the working folder when relative and
    must be folders this machine reaches now; with --sftp they are paths on the server. Exit 0 when
    written, 2 when an option or agency.yaml is wrong (nothing is written).
    """
    from dataclasses import replace  # here: --help stays light

    from dvnet.common.network import load_agency
    from dvnet.pipelines.delivery.drop import drop_of, save_drop

    agency = load_agency(agency_dir)
    console = make_console()
    section: dict = {"inbox": inbox, "receipts": receipts}
    drop_of(replace(agency, drop=section))  # each text's own checks first, named by its field (never a control character echoed)
    if sftp_target is None:
        if host_key or identity:
            raise click.UsageError("--host-key and --identity go with --sftp")
        section = {"inbox": _share_folder(inbox, "--inbox"), "receipts": _share_folder(receipts, "--receipts")}
    else:  # paths on the server, which cannot be reached before the coordinator adds this agency's key
        m = _SFTP.match(sftp_target)
        if not m:
            raise click.BadParameter("use the form user@host or user@host:port", param_hint="--sftp")
        if not host_key:
            raise click.UsageError("--sftp needs --host-key: the server's key is pinned, never learned on first use")
        section["sftp"] = {"host": m["host"], "port": int(m["port"] or SSH_PORT), "user": m["user"], "host_key": _host_key(host_key),
                           "identity_file": str(identity.expanduser().absolute() if identity else DEFAULT_IDENTITY)}  # fmt: skip
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
