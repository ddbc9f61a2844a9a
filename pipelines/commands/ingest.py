"""`dvnet ingest`: the coordinator's intake, in-process, over every bundle in the inbox.

One Dagster run of ``intake_batch`` (``assets/intake/batch.py``: the same verification, loads,
metadata and checks as the sensor's ``intake_job``, for the whole inbox), executed in this process
against the network's own Dagster instance (``<network>/coordinator/dagster``), so the run, each
agency × period's materialisation and the check results show in ``dvnet ui``. Consecutive bundles
of one agency × period form a group; order (agency, then sequence) is kept. When anything loaded,
the run's last turn rebuilds the warehouse group (the indicator cubes), reported as those assets
and their checks. The run holds the warehouse lock for one group's loads at a time (a
sensor-launched run or a publish waiting for it gets its turn between groups, not after the
batch). ``--wait`` bounds every wait.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

from dvnet.pipelines.cli import EXIT_OK, EXIT_REFUSED, imports_settled
from dvnet.pipelines.commands.acting import acting_as
from dvnet.common.paths import NetworkPaths
from dvnet.contracts.errors import DvnetError
from dvnet.pipelines.commands.options import dagster_home_option, network_option
from dvnet.pipelines.commands.waiting import wait_option
from dvnet.pipelines.console import make_console
from dvnet.pipelines.progress import progress

if TYPE_CHECKING:
    from dvnet.assets.runs import IntakeRun


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
    cubes could not be rebuilt, 2 when the warehouse stayed busy (WAREHOUSE_BUSY) or the inbox
    folder is missing (USAGE_INBOX_MISSING). Files in the inbox it does not read (a name not
    ending in .dvb, a hidden one) are named, with why. With an empty inbox it still rebuilds the
    cubes when a stopped ingest, or the inbox sensor's runs, left them behind.
    """
    from dvnet.assets.intake.lib.inbox import not_arrivals
    from dvnet.assets.intake.lib.ingest import CoordinatorContext, pending_files
    from dvnet.assets.runs import dagster_home_for, run_intake
    from dvnet.assets.warehouse.lib import cubes_due

    environ = (ctx.obj or {}).get("environ", os.environ)
    network = network_dir.resolve()
    coordinator = CoordinatorContext.load(network)  # a missing or invalid registry is a usage error here
    console = make_console()
    inbox = coordinator.paths.inbox
    if not inbox.is_dir():
        raise DvnetError("USAGE_INBOX_MISSING", f"the inbox {inbox} is not a folder: no bundle can arrive there",
                         hint="check --network; `dvnet network init` makes coordinator/inbox/ (owner-only), and agencies' drops deliver into it")  # fmt: skip
    pending = len(pending_files(inbox))
    ignored = not_arrivals(inbox)
    if ignored:
        console.print(f"[yellow]{len(ignored)} entr{'ies' if len(ignored) != 1 else 'y'} in the inbox not read[/]: "
                      + "; ".join(f"{name}: {why}" for name, why in ignored), soft_wrap=True)  # fmt: skip
    owed = cubes_due.owed(coordinator.paths.warehouse)
    if not pending and not owed:
        console.print(f"inbox {inbox} holds no bundle (no *.dvb file): nothing to ingest" if ignored else f"inbox {inbox} is empty: nothing to ingest")
        return EXIT_OK
    if not pending:
        console.print(f"inbox {inbox} holds no bundle; the indicator cubes are behind loads made since their last rebuild (a stopped `dvnet ingest`, or the inbox sensor's runs): rebuilding them")
    home = dagster_home_for(network, dagster_home, environ)
    importlib.import_module("dvnet.assets.definitions")  # Dagster and the definitions' modules, imported now to be frozen
    imports_settled()
    with progress(console, "ingest", total=pending, unit="bundles") as tracker:
        run = run_intake(network, home, progress=tracker.advance, lock_wait=wait)
    if pending:
        print_outcomes(run.outcomes, console)
        print_destinations(coordinator.paths, run.outcomes, console)
    built = print_cubes(run, console)
    return EXIT_REFUSED if any(o["outcome"] == "quarantined" for o in run.outcomes) or not built else EXIT_OK


def print_cubes(run: IntakeRun, console: Console) -> bool:
    """Whether the run's cube rebuild (when anything loaded) passed, said in a line; True if nothing needed it."""
    if run.cubes_rebuilt is None:
        return True
    console.print("indicator cubes rebuilt" if run.cubes_rebuilt else "[red]rebuilding the indicator cubes failed (see the run in `dvnet ui`)[/]")
    return run.cubes_rebuilt


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
        f"{sum(o['rows_loaded'] for o in outcomes if o['outcome'] == 'loaded')} rows loaded"  # now: a duplicate's rows were loaded before
    )


def print_destinations(paths: NetworkPaths, outcomes: list[dict], console: Console) -> None:
    """Where each kind of outcome went, so coalition staff know which folder to open."""
    kept = sum(1 for o in outcomes if o["outcome"] != "quarantined")
    quarantined = len(outcomes) - kept
    agencies = sorted({o["agency"] or "_unknown" for o in outcomes})
    console.print(f"archive:    {paths.archive}  ({kept} bundle{'s' if kept != 1 else ''} loaded or duplicate, kept as received)")
    console.print(f"quarantine: {paths.quarantine}  ({quarantined} file{'s' if quarantined != 1 else ''}, each with a .reason.json beside it)")
    console.print(f"receipts:   {paths.receipts}/<agency>/  (one signed per bundle, for {len(agencies)} agenc{'ies' if len(agencies) != 1 else 'y'}; "
                  "a duplicate keeps its first; agencies fetch theirs with `dvnet receipts`)")  # fmt: skip
