"""`dvnet extract`: a data-sharing agreement's research extract, sealed to each named researcher."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import click

from dvnet.pipelines.commands.acting import acting_as
from dvnet.pipelines.console import make_console


@click.group("extract")
def extract() -> None:
    """Make a DSA's research extract (coordinator) and open it (the named researcher)."""


@extract.command("make")
@click.argument("network", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--dsa", "dsa_id", required=True, help="The data-sharing agreement (its research project).")
@acting_as("extract")
def make(actor, network: Path, dsa_id: str) -> None:
    """Assemble the DSA's rows (its parties, periods and listed fields only), withhold cells below
    its minimum size, and seal one copy to each named researcher's key. Refused after its end
    date or revocation."""
    from dvnet.assets.research.lib.extract import make_extract

    made = make_extract(network, dsa_id, actor)
    console = make_console()
    console.print(f"{made.dsa} (version {made.version}): {made.rows} rows of {len(made.columns)} fields "
                  f"({', '.join(made.columns)}); {made.withheld} rows withheld in cells under the DSA's minimum size")  # fmt: skip
    if made.people:
        console.print(f"{made.people} people by linkage token, {made.linked_people} of them seen at two or more agencies")
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
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from dvnet import bundle
    from dvnet.common.agency import read_coordinator_public
    from dvnet.common.files import atomic_write, private_folder
    from dvnet.common.people import PersonFolder

    coordinator = read_coordinator_public(coordinator_file)
    opened = bundle.open_bundle(
        extract_file.read_bytes(),
        signing_public_key=bundle.signing_public_key_from_text(coordinator["signing_public_key"]),
        recipient_private_key=bundle.load_encryption_key(PersonFolder(person_folder).encryption_key),
        now=dt.datetime.now(dt.UTC),
    )
    details = opened.manifest["details"]
    private_folder(out)
    parquet = out / f"{details['project']}.parquet"
    atomic_write(parquet, opened.data, mode=0o600)
    table = pq.read_table(parquet)
    csv = io.BytesIO()
    pacsv.write_csv(table, csv)
    atomic_write(parquet.with_suffix(".csv"), csv.getvalue(), mode=0o600)
    console = make_console()
    console.print(f"opened {details['project']} (version {details['dsa_version']}) for {details['researcher']}: {table.num_rows} rows; "
                  f"fields {', '.join(table.column_names)}; periods {', '.join(details['periods'])}")  # fmt: skip
    console.print(f"written to {parquet} and {parquet.with_suffix('.csv')}; usable until {opened.header['not_after']} (the DSA's end)")
