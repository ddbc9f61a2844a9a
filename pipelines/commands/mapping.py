"""`dvnet mapping`: the steward's column and code mapping (``mapping/<contract>.yaml``): make its
commented scaffold, and check it against an export before anything is sealed."""

from __future__ import annotations

from pathlib import Path

import click

from dvnet.pipelines.cli import EXIT_OK, EXIT_REFUSED
from dvnet.pipelines.commands.options import QUARTER
from dvnet.pipelines.console import make_console

AGENCY = click.option("--agency", "agency_dir", required=True, type=click.Path(path_type=Path, file_okay=False, exists=True),
                      help="The agency's folder (holds agency.yaml and mapping/).")  # fmt: skip
CONTRACT = click.option("--contract", "contract_id", required=True, help="Contract id: referral, service_episode or research_extract.")


@click.group("mapping")
def mapping() -> None:
    """Your system's column names and codes onto a contract's: make the file, check it."""


@mapping.command("init")
@AGENCY
@click.option("--contract", "contract_ids", multiple=True, help="Only this contract (repeatable; default: every contract your tier may send).")
@click.option("--replace", is_flag=True, help="Overwrite an existing mapping file with a fresh scaffold (default: keep it).")
def init(agency_dir: Path, contract_ids: tuple[str, ...], replace: bool) -> int:
    """Write a commented mapping/<contract>.yaml made from the contract: its fields, which are
    required, what they mean and the codes each coded field accepts. `dvnet agency init` already
    made one per contract; this makes them again (for a new contract, or with --replace)."""
    from dvnet.common.agency import write_mapping_scaffolds
    from dvnet.common.network import load_agency
    from dvnet.contracts.registry import get_contract

    agency = load_agency(agency_dir, pinned=False)
    for c in contract_ids:
        get_contract(c)  # an unknown contract is a usage error before anything is written
    written = write_mapping_scaffolds(agency, list(contract_ids) or None, replace=replace)
    console = make_console()
    for path in written:
        console.print(f"wrote {path}")
    if not written:
        console.print("every mapping file already exists: kept (use --replace to start one again)")
    return EXIT_OK


@mapping.command("check")
@AGENCY
@CONTRACT
@click.option("--extract", required=True, type=click.Path(path_type=Path, dir_okay=False, exists=True), help="Your system's export: CSV (UTF-8, comma-separated, the column names in the first row), Parquet or Excel .xlsx (its first sheet).")
@click.option("--period", required=True, type=QUARTER, help="Calendar quarter the export covers, e.g. 2026-Q3.")
@click.option("--mode", type=click.Choice(["aggregate", "record"]), help="As for `dvnet contribute` (default: the contract's).")
def check(agency_dir: Path, contract_id: str, extract: Path, period: str, mode: str | None) -> int:
    """Dry-run the agency's mapping for CONTRACT against an export: which contract field each of
    your columns becomes, which of your columns nothing reads (by position), then every problem
    `dvnet contribute` would find, with nothing sealed or sent. No value of the export is shown.

    Exit 0 when the export would be accepted as mapped, 1 when it would be refused."""
    from dvnet.common.network import load_agency
    from dvnet.pipelines.contributor.mapping import Mapping, column_plan
    from dvnet.pipelines.contributor.read import read_header
    from dvnet.pipelines.contributor.report import print_summary
    from dvnet.pipelines.contributor.run import ContributionOptions, check_options, contribute
    from dvnet.contracts.registry import get_contract

    agency = load_agency(agency_dir)  # the network's geography comes with the pinned coordinator
    contract = get_contract(contract_id)
    opts = ContributionOptions(contract_id=contract_id, extract=extract, period=period, mode=mode, dry_run=True)
    check_options(agency, opts)
    path = agency.mapping_path(contract.id)
    mapped = Mapping.load(path)
    plan = column_plan(mapped, contract, read_header(extract, known_columns=mapped.known_names(contract)))
    console = make_console()
    console.print(f"mapping {path}{'' if path.exists() else ' (none: the export must use the contract’s names)'}")
    console.print(plan.table())
    for line in plan.notes():
        console.print(line)
    result = contribute(agency, opts)
    print_summary(result, console)
    return EXIT_REFUSED if result.status == "refused" else EXIT_OK
