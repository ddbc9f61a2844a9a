"""`dvnet query`: read-only SQL for evaluators, against published releases only."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from dvnet.pipelines.console import make_console
from rich.table import Table

from dvnet.common.paths import NetworkPaths
from dvnet.pipelines.access.limits import TIME_LIMIT_MAX_SECONDS, TIME_LIMIT_SECONDS
from dvnet.pipelines.commands.options import FiniteFloatRange, network_option


def _cell(value: object) -> str:
    """A value as the table shows it: a suppressed (null) value is an empty cell whatever its type,
    as in the release's CSV files, never ``<NA>``, ``nan`` or ``None``."""
    import pandas as pd  # already loaded by the query; here so `dvnet query --help` stays light

    return "" if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)) else str(value)


@click.command("query")
@click.argument("sql")
@network_option(required=False, help="The network folder whose coordinator/releases/ are queried (or give --releases).")
@click.option("--releases", "releases_dir", type=click.Path(path_type=Path, file_okay=False), help="A folder of releases (overrides --network).")
@click.option("--release", help="Release id to use as the default schema (default: the newest one not withdrawn).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv"]), default="table", show_default=True,
              help="How the result is printed: a table to read, or CSV to pipe into another program.")
@click.option("--time-limit", "time_limit", type=FiniteFloatRange(min=0, min_open=True, max=TIME_LIMIT_MAX_SECONDS), default=TIME_LIMIT_SECONDS, show_default=True,
              metavar="SECONDS", help="Stop the query after this long (QUERY_TIME_LIMIT); a result of more than a million rows is QUERY_TOO_LARGE.")  # fmt: skip
def query(sql: str, network_dir: Path | None, releases_dir: Path | None, release: str | None, fmt: str, time_limit: float) -> None:
    """Run SQL against published releases (read-only; the warehouse is never reachable).

    Example: dvnet query --network demo-network "SELECT * FROM referral_acceptance_rate WHERE status = 'published' LIMIT 10"
    Every release is also attached as r_<release-id>; list tables with "SHOW ALL TABLES".
    """
    from dvnet.pipelines.access.query import query_releases, withdrawn_releases

    if (network_dir is None) == (releases_dir is None):
        raise click.UsageError("give either --network (a network folder) or --releases (a folder of releases)")
    root = releases_dir or NetworkPaths(network_dir).releases
    frame = query_releases(root, sql, release, time_limit=time_limit)
    for rid, when, reason in withdrawn_releases(root):  # on stderr, so `--format csv` output stays clean
        click.echo(f"warning: RELEASE_WITHDRAWN: release {rid} was withdrawn on {when}: {reason}", err=True)
    if fmt == "csv":
        frame.to_csv(sys.stdout, index=False)
        return
    t = Table()
    for c in frame.columns:
        t.add_column(str(c))
    for row in frame.head(200).itertuples(index=False):
        t.add_row(*(_cell(v) for v in row))
    console = make_console()
    console.print(t)
    console.print(f"{len(frame)} rows" + (" (first 200 shown; use --format csv for all)" if len(frame) > 200 else ""))
