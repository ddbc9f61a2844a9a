"""`dvnet person`: a person's own signing key, made on their own machine."""

from __future__ import annotations

from pathlib import Path

import click

from dvnet.pipelines.console import make_console


@click.group("person")
def person() -> None:
    """Make a person's signing key and public person file."""


@person.command("init")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@click.option("--id", "person_id", required=True, help="Short id: lowercase letters, digits and dashes.")
@click.option("--name", required=True, help="The person's name as the registry and the audit log show it.")
@click.option("--org", required=True, help="Their organisation (a steward's must be the agency's registry id).")
def init(folder: Path, person_id: str, name: str, org: str) -> None:
    """Make FOLDER (0700) with the person's signing and encryption keys (0600, never printed) and person.yaml,
    the public file the coordinator registers (`dvnet network add-person`)."""
    from dvnet.common.people import init_person, read_person_file

    pf = init_person(folder, person_id, name, org)
    public = read_person_file(pf.public_file)
    console = make_console()
    console.print(f"created {person_id}'s signing key in {pf.key} (keep it; commands take it with --key or $DVNET_KEY)")
    console.print(f"signing key id {public['signing_key_id']}; encryption key id {public['encryption_key_id']} (research extracts are sealed to it)")
    console.print(f"send {pf.public_file} to the coordinator")
