"""`dvnet custodian`: the network linkage key, made and kept by a custodian who is not the coordinator."""

from __future__ import annotations

from pathlib import Path

import click

from dvnet.pipelines.console import make_console


@click.group("custodian")
def custodian() -> None:
    """Make the network linkage key and seal it to Tier 4 agencies."""


@custodian.command("init")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
def init(folder: Path) -> None:
    """Make FOLDER (0700) with the network linkage key and the custodian's signing key (0600, never
    printed), and the public file agencies check wrapped keys against."""
    from dvnet.common.custodian import init_custodian, read_custodian_public

    cf = init_custodian(folder)
    public = read_custodian_public(cf.public_file)
    console = make_console()
    console.print(f"created the network linkage key (id {public['linkage_key_id']}) in {cf.linkage_key}; it never leaves this folder unsealed")
    console.print(f"custodian signing key id {public['signing_key_id']}; public file {cf.public_file} (give it to every Tier 4 agency)")


@custodian.command("wrap")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.argument("registration_file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--out", required=True, type=click.Path(path_type=Path, dir_okay=False), help="Where to write the wrapped key (the coordinator may relay it).")
def wrap(folder: Path, registration_file: Path, out: Path) -> None:
    """Seal the linkage key to the Tier 4 agency of REGISTRATION_FILE (its own HPKE key)."""
    from dvnet.common.agency import read_registration
    from dvnet.common.custodian import wrap_for

    reg = read_registration(registration_file)
    wrap_for(folder, reg, out)
    console = make_console()
    console.print(f"sealed the linkage key to {reg['agency_id']} (its key id {reg['encryption_key_id']}: confirm it with the agency) -> {out}")
