"""`dvnet contracts`: list the data contracts and write the data dictionary for stewards."""

from __future__ import annotations

from pathlib import Path

import click
from dvnet.pipelines.commands.options import network_option
from dvnet.pipelines.console import make_console
from rich.table import Table


@click.group("contracts")
def contracts() -> None:
    """List the data contracts and write the data dictionary."""


@contracts.command("list")
def list_() -> None:
    """Each contract with its version, minimum tier, modes and field count."""
    from dvnet.contracts.registry import all_contracts

    t = Table()
    for h in ("contract", "version", "title", "min tier", "modes", "fields", "standard tables"):
        t.add_column(h)
    for c in all_contracts():
        t.add_row(c.id, str(c.version), c.title, str(c.min_tier), ", ".join(c.modes), str(len(c.fields())), str(len(c.standard_tables)))
    make_console().print(t)


@contracts.command("docs")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=Path("data-dictionary"), show_default=True, help="Folder to write into.")
@network_option(required=False, help="Include this network's geography (its regions and postal prefixes).")
@click.option("--agency", "agency_dir", type=click.Path(path_type=Path, file_okay=False), help="Include the geography this agency holds (its agency.yaml), instead of --network.")
def docs(out: Path, network_dir: Path | None, agency_dir: Path | None) -> None:
    """Write the data dictionary as Markdown and HTML (one page covering every contract, and the
    network's geography when --network or --agency is given)."""
    from dvnet.common.network import agency_geography, load_agency, load_network
    from dvnet.contracts.dictionary import write_dictionary

    if network_dir and agency_dir:
        raise click.UsageError("give --network or --agency, not both")
    geography = load_network(network_dir).geography if network_dir else agency_geography(load_agency(agency_dir)) if agency_dir else None
    md, html = write_dictionary(out, geography)
    click.echo(f"wrote {md}\nwrote {html}")
