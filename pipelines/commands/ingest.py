"""`dvnet ingest`: the coordinator's intake, in-process, over every bundle in the inbox.

One Dagster run of ``intake_batch`` (``assets/intake/batch.py``: the same verification, loads,
metadata and checks as the sensor's ``intake_job``, for the whole inbox), executed in this process
against the network's own Dagster instance (``<network>/coordinator/dagster``), so the run, each
agency × period's materialisation and the check results show in ``dvnet ui``. Consecutive bundles
of one agency × period form a group; order (agency, then sequence) is kept. When anything loaded,
the warehouse group (the indicator cubes) is rebuilt in a run of its own, so the lineage in the UI
is what happened. The run holds the warehouse lock for one group's loads at a time (a
sensor-launched run or a publish waiting for it gets its turn between groups, not after the
batch); the cube rebuild holds it for its run. ``--wait`` bounds every wait.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from dvnet.pipelines.cli import EXIT_OK, EXIT_REFUSED
from dvnet.pipelines.commands.acting import acting_as
from dvnet.common.paths import NetworkPaths
from dvnet.pipelines.commands.options import dagster_home_option, network_option
from dvnet.pipelines.commands.waiting import holding_warehouse, wait_option
from dvnet.pipelines.console import make_console
from dvnet.pipelines.progress import progress


@click.command("ingest")
@network_option()
@dagster_home_option()
@wait_option()
@acting_as("ingest")
@click.pass_context
def ingest(ctx: click.Context, actor, network_dir: Path, dagster_home: Path | None, wait: float) -> int:
    """Verify, then load or quarantine, every bundle in the coordinator inbox; rebuild the cubes.

    One run of the intake job, in-process, on the network's own Dagster instance (the run shows in
    `dvnet ui`, each agency × period as its own partition). Exit 0 when every bundle loaded or was a duplicate, 1 when any was quarantined or the
    cubes could not be rebuilt, 2 when the warehouse stayed busy (WAREHOUSE_BUSY).
    """
    from dvnet.assets.intake.lib.ingest import CoordinatorContext, pending_files
    from dvnet.assets.runs import dagster_home_for, dagster_instance, run_intake

    environ = (ctx.obj or {}).get("environ", os.environ)
    network = network_dir.resolve()
    coordinator = CoordinatorContext.load(network)  # a missing or invalid registry is a usage error here
    console = make_console()
    pending = len(pending_files(coordinator.paths.inbox))
    if not pending:
        console.print(f"inbox {coordinator.paths.inbox} is empty: nothing to ingest")
        return EXIT_OK
    home = dagster_home_for(network, dagster_home, environ)
    with dagster_instance(home):  # opened once for both runs
        with progress(console, "ingest", total=pending, unit="bundles") as tracker:
            outcomes = run_intake(network, home, progress=tracker.advance, lock_wait=wait)
        print_outcomes(outcomes, console)
        print_destinations(coordinator.paths, outcomes, console)
        with holding_warehouse(network, wait):  # the cubes are all warehouse work: one hold for the run
            built = rebuild_cubes(network, home, outcomes, console)
    return EXIT_REFUSED if any(o["outcome"] == "quarantined" for o in outcomes) or not built else EXIT_OK


def rebuild_cubes(network: Path, home: Path, outcomes: list[dict], console: Console) -> bool:
    """The warehouse group's run when anything loaded (its cubes and their checks); True if it passed."""
    from dvnet.assets.runs import materialise_groups

    if not any(o["outcome"] == "loaded" for o in outcomes):
        return True
    with progress(console, "indicator cubes"):
        built = materialise_groups(network, home, ("warehouse",))
    console.print("indicator cubes rebuilt" if built else "[red]rebuilding the indicator cubes failed (see the run in `dvnet ui`)[/]")
    return built


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


def print_destinations(paths: NetworkPaths, outcomes: list[dict], console: Console) -> None:
    """Where each kind of outcome went, so coalition staff know which folder to open."""
    kept = sum(1 for o in outcomes if o["outcome"] != "quarantined")
    quarantined = len(outcomes) - kept
    agencies = sorted({o["agency"] or "_unknown" for o in outcomes})
    console.print(f"archive:    {paths.archive}  ({kept} bundle{'s' if kept != 1 else ''} loaded or duplicate, kept as received)")
    console.print(f"quarantine: {paths.quarantine}  ({quarantined} file{'s' if quarantined != 1 else ''}, each with a .reason.json beside it)")
    console.print(f"receipts:   {paths.receipts}/<agency>/  ({len(outcomes)} signed, for {len(agencies)} agenc{'ies' if len(agencies) != 1 else 'y'}; "
                  "agencies fetch theirs with `dvnet receipts`)")  # fmt: skip
