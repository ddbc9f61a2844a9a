"""`dvnet contracts`: list the data contracts and write the data dictionary for stewards."""

from __future__ import annotations

from pathlib import Path

import click
from dvnet.pipelines.console import make_console
from rich.table import Table

from dvnet.contracts.dictionary import write_dictionary
from dvnet.contracts.registry import all_contracts


@click.group("contracts")
def contracts() -> None:
    """List the data contracts and write the data dictionary."""


@contracts.command("list")
def list_() -> None:
    """Each contract with its version, minimum tier, modes and field count."""
    t = Table()
    for h in ("contract", "version", "title", "min tier", "modes", "fields", "standard tables"):
        t.add_column(h)
    for c in all_contracts():
        t.add_row(c.id, str(c.version), c.title, str(c.min_tier), ", ".join(c.modes), str(len(c.fields())), str(len(c.standard_tables)))
    make_console().print(t)


@contracts.command("docs")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=Path("data-dictionary"), show_default=True, help="Folder to write into.")
def docs(out: Path) -> None:
    """Write the data dictionary as Markdown and HTML (one page covering every contract)."""
    md, html = write_dictionary(out)
    click.echo(f"wrote {md}\nwrote {html}")
