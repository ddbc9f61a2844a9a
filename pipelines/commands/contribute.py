"""`dvnet contribute`: the agency steward's command."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
from dvnet.pipelines.console import make_console

from dvnet.pipelines.cli import EXIT_OK, EXIT_REFUSED, imports_settled
from dvnet.pipelines.commands.options import QUARTER
from dvnet.pipelines.progress import stages


@click.command("contribute")
@click.option("--agency", "agency_dir", required=True, type=click.Path(path_type=Path, file_okay=False, exists=True), help="The agency's folder (holds agency.yaml and its keys).")
@click.option("--contract", "contract_id", required=True, help="Contract id: referral, service_episode or research_extract.")
@click.option("--extract", required=True, type=click.Path(path_type=Path, dir_okay=False, exists=True), help="The extract file: CSV (UTF-8, comma-separated, the column names in the first row), Parquet or Excel .xlsx (its first sheet).")
@click.option("--period", required=True, type=QUARTER, help="Calendar quarter the extract covers, e.g. 2026-Q3.")
@click.option("--mode", type=click.Choice(["aggregate", "record"]), help="aggregate: only counts leave (default); record: de-identified rows of consenting clients.")
@click.option("--version", "version", type=int, help="Contract version (default: latest).")
@click.option("--dry-run", is_flag=True, help="Do everything except seal: see exactly what would leave.")
@click.option("--k", type=int, help="Minimum equivalence-class size in record mode (default from agency.yaml, else 5).")
@click.option("--max-reject-share", type=float, help="Largest share of rejected records that still lets the run seal (default 0: any rejection in a required field refuses the run).")
@click.option("--max-withheld-share", type=float, help="Record mode: largest share of records that may be withheld to reach k (default 0: refuse instead).")
@click.option("--project", help="Research project (DSA id) for research_extract linkage tokens.")
@click.option("--supersedes", help="Bundle id this contribution corrects (replaces at the coordinator).")
@click.option("--resend", is_flag=True, help="Send a contract and quarter again whose earlier bundle never reached the coordinator (no receipt says it loaded); one still waiting in outbox/ is replaced, and kept unsent in withdrawn/.")
def contribute(agency_dir: Path, contract_id: str, extract: Path, period: str, mode: str | None, version: int | None, dry_run: bool,
               k: int | None, max_reject_share: float | None, max_withheld_share: float | None, project: str | None, supersedes: str | None,
               resend: bool) -> int:
    """Validate, de-identify and seal an agency extract for the coordinator.

    Prints what leaves the building and writes an HTML report to the agency's reports/ folder.
    Exit code 0 when sealed (or dry run passed), 1 when refused, 2 on usage errors.
    """
    # Process-wide, so set here at the command's entry, never inside contribute() (a library
    # call must not change its host process): mimalloc's huge pages cost a fifth of the run.
    from dvnet.kernels.arrow_memory import use_system_allocator

    use_system_allocator()
    # The extract is read while the rest of the contributor imports (about a second of one core):
    # reading needs only pyarrow, and its thread runs Arrow's parser and the file's hash. Nothing
    # read is used before every option has been checked.
    from dvnet.pipelines.contributor.read import ExtractRead

    reading = ExtractRead(extract).ahead()
    try:
        # Here, not at the top: `dvnet contribute --help` must not import pandas, pandera, DuckDB, yaml or cryptography.
        from dvnet.common import decisions
        from dvnet.common.network import load_agency
        from dvnet.pipelines.contributor.report import print_summary, write_report
        from dvnet.pipelines.contributor.run import STAGES, ContributionOptions, check_options, contribute as run_contribution

        imports_settled()

        agency = load_agency(agency_dir)
        opts = ContributionOptions(
            contract_id=contract_id, extract=extract, period=period, mode=mode, version=version, dry_run=dry_run, k=k,
            max_reject_share=max_reject_share, max_withheld_share=max_withheld_share, project=project, supersedes=supersedes, resend=resend,
            read_ahead=reading,
        )
        check_options(agency, opts)  # every option, policy value and key: a usage error before anything read is used
        cited = decisions.in_agency_folder(agency.folder)  # the report cites them: an unreadable log stops the run before anything is sealed
        console = make_console()
        with stages(console, "contribute", STAGES) as step:
            result = run_contribution(agency, opts, progress=step)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        report = write_report(result, agency.folder / "reports", stamp, cited)
        print_summary(result, console, report)
        return EXIT_REFUSED if result.status == "refused" else EXIT_OK
    finally:
        # Whatever stopped the command (a usage error before the reading was collected), its
        # thread is stopped and joined here, while the process is still running: left to stop
        # by itself as the interpreter exits, it races Arrow's teardown of its thread pool
        # (apache/arrow#34314: an abort, exit -6, about once in 300 runs on a loaded machine).
        reading.close()
