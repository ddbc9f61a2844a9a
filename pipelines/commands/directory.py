"""`dvnet directory`: the Tier 1 professional directory (HTML, CSV, JSON)."""

from __future__ import annotations

from pathlib import Path

import click

from dvnet.pipelines.commands.options import network_option


@click.command("directory")
@network_option()
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), help="Folder to write into (default <network>/directory).")
def directory(network_dir: Path, out: Path | None) -> None:
    """Export the published directory: active organisations' names, types, services, eligibility,
    contacts and the external data, frameworks and tools they decided to adopt or stop (their current decisions) only."""
    from dvnet.common import decisions
    from dvnet.common.network import load_network
    from dvnet.pipelines.directory import export_directory

    paths = export_directory(load_network(network_dir), out or network_dir / "directory", decisions.current(decisions.load(network_dir)))
    for p in paths:
        click.echo(f"wrote {p}")
