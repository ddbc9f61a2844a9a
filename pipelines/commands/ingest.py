"""`dvnet ingest`: the coordinator's intake job, in-process, over every bundle in the inbox.

The same Dagster job the inbox sensor launches (``intake_job``, same assets, checks and
resources), executed in this process against the Dagster instance in ``DAGSTER_HOME`` (the repo's
``dagster_home/`` by default), so the runs, partitions and check results show in ``dvnet ui``.
Consecutive bundles of one agency × period share a run; order (agency, then sequence) is kept.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import click
from pipelines.console import make_console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipelines.cli import EXIT_OK, EXIT_REFUSED

REPO_DAGSTER_HOME = Path(__file__).resolve().parents[2] / "dagster_home"
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def dagster_home_for(option: Path | None, environ: Mapping[str, str]) -> Path:
    """--dagster-home, else $DAGSTER_HOME, else the repo's dagster_home/ (created from its yaml)."""
    home = Path(option or environ.get("DAGSTER_HOME") or REPO_DAGSTER_HOME).resolve()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists() and (REPO_DAGSTER_HOME / "dagster.yaml").exists():
        (home / "dagster.yaml").write_bytes((REPO_DAGSTER_HOME / "dagster.yaml").read_bytes())
    return home


@contextmanager
def dagster_instance(home: Path) -> Iterator[object]:
    """The persistent instance in ``home`` (its dagster.yaml resolves paths from DAGSTER_HOME)."""
    from dagster import DagsterInstance

    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        with DagsterInstance.get() as instance:
            yield instance
    finally:
        if previous is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = previous


def plan_runs(ctx) -> list[tuple[str, str, list[str]]]:
    """(agency, period, file names) per run: consecutive pending bundles of one partition."""
    from assets.intake.partitions import file_partition
    from pipelines.central.ingest import pending_files

    runs: list[tuple[str, str, list[str]]] = []
    for path in pending_files(ctx.paths.inbox):
        agency, period = file_partition(path, ctx)
        if runs and runs[-1][:2] == (agency, period):
            runs[-1][2].append(path.name)
        else:
            runs.append((agency, period, [path.name]))
    return runs


def run_intake(network: Path, home: Path, progress=None) -> list[dict]:
    """Execute ``intake_job`` for every pending bundle; the per-bundle outcomes Dagster recorded."""
    from assets.intake.assets import INTAKE
    from assets.intake.partitions import AGENCY, PERIOD, partition_key
    from pipelines.central.definitions import build_definitions
    from pipelines.central.ingest import CoordinatorContext
    from pipelines.central.jobs import INTAKE_JOB

    ctx = CoordinatorContext.load(network)
    runs = plan_runs(ctx)
    if not runs:
        return []
    job = build_definitions(network).resolve_job_def(INTAKE_JOB)
    outcomes: list[dict] = []
    with dagster_instance(home) as instance:
        for dim, values in ((AGENCY, {r[0] for r in runs}), (PERIOD, {r[1] for r in runs})):
            new = sorted(values - set(instance.get_dynamic_partitions(dim)))
            if new:
                instance.add_dynamic_partitions(dim, new)
        for agency, period, names in runs:
            result = job.execute_in_process(
                run_config={"ops": {"intake": {"config": {"files": names}}}, **QUIET_LOGS},
                instance=instance,
                partition_key=str(partition_key(agency, period)),
                tags={"dvnet/launched_by": "dvnet ingest"},
            )
            for mat in result.asset_materializations_for_node("intake"):
                if mat.asset_key == INTAKE:
                    outcomes.extend(mat.metadata["bundles"].value)
            if progress:
                progress(len(names))
    return outcomes


@click.command("ingest")
@click.option("--network", "network", required=True, type=click.Path(path_type=Path, file_okay=False, exists=True), help="The network folder (holds coordinator/).")
@click.option("--dagster-home", type=click.Path(path_type=Path, file_okay=False), help="Dagster instance folder (default: $DAGSTER_HOME, else the repo's dagster_home/).")
@click.pass_context
def ingest(ctx: click.Context, network: Path, dagster_home: Path | None) -> int:
    """Verify, then load or quarantine, every bundle in the coordinator inbox.

    Runs the intake job in-process (the runs show in `dvnet ui`). Exit 0 when every bundle loaded
    or was a duplicate, 1 when any was quarantined.
    """
    from pipelines.central.ingest import CoordinatorContext, pending_files

    environ = (ctx.obj or {}).get("environ", os.environ)
    network = network.resolve()
    coordinator = CoordinatorContext.load(network)  # a missing or invalid registry is a usage error here
    console = make_console()
    pending = len(pending_files(coordinator.paths.inbox))
    if not pending:
        console.print(f"inbox {coordinator.paths.inbox} is empty: nothing to ingest")
        return EXIT_OK
    home = dagster_home_for(dagster_home, environ)
    with Progress(SpinnerColumn(), TextColumn("ingest"), BarColumn(), TextColumn("{task.completed}/{task.total} bundles"), TimeElapsedColumn(),
                  console=console, transient=True, disable=not console.is_terminal) as bar:  # fmt: skip
        task = bar.add_task("ingest", total=pending)
        outcomes = run_intake(network, home, progress=lambda n: bar.advance(task, n))
    print_outcomes(outcomes, console)
    return EXIT_REFUSED if any(o["outcome"] == "quarantined" for o in outcomes) else EXIT_OK


def print_outcomes(outcomes: list[dict], console: Console) -> None:
    t = Table(title=f"{len(outcomes)} bundle(s) ingested", title_justify="left")
    for h in ("file", "agency", "contract", "period", "outcome", "reason", "rows"):
        t.add_column(h, justify="right" if h == "rows" else "left")
    style = {"loaded": "green", "duplicate": "cyan", "quarantined": "red"}
    for o in outcomes:
        t.add_row(o["file"], o["agency"] or "—", o["contract"] or "—", o["period"] or "—",
                  f"[{style.get(o['outcome'], '')}]{o['outcome']}[/]", o["reason"] or "", str(o["rows_loaded"]))  # fmt: skip
    console.print(t)
    n = {k: sum(1 for o in outcomes if o["outcome"] == k) for k in ("loaded", "duplicate", "quarantined")}
    console.print(
        f"totals: {n['loaded']} loaded, {n['duplicate']} duplicate, {n['quarantined']} quarantined; "
        f"{sum(o['rows_loaded'] for o in outcomes)} rows loaded"
    )
