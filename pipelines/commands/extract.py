"""`dvnet extract`: a data-sharing agreement's research extract, sealed to each named researcher."""

from __future__ import annotations

from pathlib import Path

import click

from dvnet.pipelines.commands.acting import acting_as
from dvnet.pipelines.commands.options import network_option
from dvnet.pipelines.commands.waiting import holding_warehouse, wait_option
from dvnet.pipelines.console import make_console


@click.group("extract")
def extract() -> None:
    """Make a DSA's research extract (coordinator) and open it (the named researcher)."""


@extract.command("make")
@network_option()
@click.option("--dsa", "dsa_id", required=True, help="The data-sharing agreement (its research project).")
@wait_option()
@acting_as("extract")
def make(actor, network_dir: Path, dsa_id: str, wait: float) -> None:
    """Assemble the DSA's rows (its parties, periods and listed fields only), withhold cells below
    its minimum size, and seal one copy to each named researcher's key. Refused after its end
    date or revocation."""
    from dvnet.assets.research.lib.extract import make_extract

    with holding_warehouse(network_dir, wait, existing=True):  # it reads the warehouse: DuckDB admits no reader beside a writer
        made = make_extract(network_dir, dsa_id, actor)
    print_made(made, make_console())


def print_made(made, console) -> None:
    console.print(f"{made.dsa} (version {made.version}): {made.rows} rows of {len(made.columns)} fields "
                  f"({', '.join(made.columns)}); {made.withheld} rows withheld in cells under the DSA's minimum size")  # fmt: skip
    if made.people:
        console.print(f"{made.people} people by linkage token, {made.linked_people} of them seen at two or more agencies")
    if made.suspended:
        console.print(f"held back: the rows of {', '.join(made.suspended)} (suspended in the registry)")
    for researcher, path in made.files.items():
        console.print(f"sealed to {researcher}: {path}")


@extract.command("open")
@click.argument("extract_file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--person", "person_folder", required=True, type=click.Path(path_type=Path, file_okay=False, exists=True),
              help="Your own person folder (holds encryption.key, from `dvnet person init`).")  # fmt: skip
@click.option("--coordinator", "coordinator_file", required=True, type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="The coordinator's public file (coordinator-public.yaml): its signature is checked.")  # fmt: skip
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True, help="Folder for the opened extract (made 0700).")
def open_(extract_file: Path, person_folder: Path, coordinator_file: Path, out: Path) -> None:
    """Check and decrypt an extract sealed to you; writes it as Parquet and CSV (0600) in OUT."""
    from dvnet.pipelines.research import open_extract

    opened = open_extract(extract_file, person_folder, coordinator_file, out)
    print_opened(opened, make_console())


def print_opened(opened, console) -> None:
    d = opened.details
    console.print(f"opened {d['project']} (version {d['dsa_version']}) for {d['researcher']}: {opened.table.num_rows} rows; "
                  f"fields {', '.join(opened.table.column_names)}; periods {', '.join(d['periods'])}")  # fmt: skip
    console.print(f"written to {opened.parquet} and {opened.csv}; usable until {opened.usable_until} (the DSA's end)")
