"""`dvnet publish`: a disclosure-controlled release *request* for review, as a Dagster run.

Nothing is public yet: two reviewers decide (`dvnet review`), then `dvnet release publish <id>`.
The run materialises ``release_request`` in-process on the network's own Dagster instance, so the
request and its metadata show in `dvnet ui` (group `releases`).
A refused release (the disclosure audit, nothing loaded) is one plain line and exit 1, not a
Dagster traceback. All of it under the warehouse lock (``--wait``).
"""

from __future__ import annotations

from pathlib import Path

import os

import click

from dvnet.anonymize.disclosure.limits import TIME_LIMIT_MAX_MINUTES, TIME_LIMIT_MINUTES
from dvnet.anonymize.disclosure.profiles import PROFILE_NAMES
from dvnet.pipelines.commands.acting import acting_as
from dvnet.pipelines.cli import EXIT_OK
from dvnet.pipelines.commands.options import QUARTER, FiniteFloatRange, dagster_home_option, network_option
from dvnet.pipelines.commands.waiting import holding_warehouse, wait_option
from dvnet.pipelines.console import make_console
from dvnet.pipelines.progress import progress


@click.command("publish")
@network_option()
@click.option("--profile", type=click.Choice(PROFILE_NAMES), default="dv-default", show_default=True, help="Disclosure-control policy.")
@click.option("--period", "periods", multiple=True, type=QUARTER, help="Quarter to publish, e.g. 2026-Q3 (repeatable; default: the latest loaded).")
@click.option("--method", type=click.Choice(["auto", "milp", "heuristic"]), default="auto", show_default=True, help="Complementary suppression: exact MILP where it fits, heuristic beyond.")
@click.option("--threshold", type=int, help="custom profile: smallest count published.")
@click.option("--rounding-base", type=int, help="custom profile: round published counts to this base.")
@click.option("--dominance-share", type=float, help="custom profile: one agency's largest share of a cell (default 0.8).")
@click.option("--time-limit", "time_limit", type=FiniteFloatRange(min=0, min_open=True, max=TIME_LIMIT_MAX_MINUTES), default=TIME_LIMIT_MINUTES, show_default=True, metavar="MINUTES",
              help="What suppression, and each audit, may take; a release not proven safe by then is refused (nothing is written).")
@dagster_home_option()
@wait_option()
@acting_as("publish")
@click.pass_context
def publish(ctx: click.Context, actor, network_dir: Path, profile: str, periods: tuple[str, ...], method: str, threshold, rounding_base,
            dominance_share, time_limit: float, dagster_home: Path | None, wait: float) -> int:  # fmt: skip
    """Request a release: suppress, audit (refuses on any exact or narrow range), write files for review.

    Writes <network>/coordinator/release-requests/<id>/ (owner-only; not served by `dvnet query`)
    with release.duckdb, csv/, parquet/, manifest.json, report.html and disclosure.json, as a
    Dagster run. Two reviewers then decide (`dvnet review`) and `dvnet release publish <id>`
    publishes it. Exit 0 requested, 1 refused by the audit, 2 usage or the warehouse stayed busy.
    """

    from dvnet.anonymize.disclosure.profiles import get_profile
    from dvnet.assets.releases.lib.files import read_manifest
    from dvnet.assets.releases.lib.internal import read_record, suppression_line
    from dvnet.assets.releases.lib.release import latest_periods
    from dvnet.assets.releases.lib.review import requests_root
    from dvnet.assets.runs import dagster_home_for, run_release_step
    from dvnet.common.network import NetworkPaths

    overrides = {k: v for k, v in {"threshold": threshold, "rounding_base": rounding_base, "dominance_share": dominance_share}.items() if v is not None}
    if overrides and profile != "custom":
        raise click.UsageError("--threshold, --rounding-base and --dominance-share go with --profile custom")
    get_profile(profile, **overrides)  # INVALID_PROFILE (exit 2) before anything is read
    console = make_console()
    network = network_dir.resolve()
    home = dagster_home_for(network, dagster_home, (ctx.obj or {}).get("environ", os.environ))
    with holding_warehouse(network, wait):
        chosen = list(periods) or latest_periods(network)
        with progress(console, f"publish {', '.join(chosen)} under {profile}") as tracker:
            config = {"profile": profile, "periods": chosen, "method": method, "author": actor.actor, "time_limit_minutes": time_limit, **overrides}
            release_id, _ = run_release_step(network, home, "release_request", config, "dvnet publish", step=tracker.stage)
    folder = requests_root(NetworkPaths(network)) / release_id
    manifest = read_manifest(folder)
    s = read_record(NetworkPaths(network).coordinator, release_id)["stats"]  # the coordinator's figures (per reason): never in the release folder
    console.print(f"[bold green]requested[/] release {release_id}: not public until two reviewers approve it (`dvnet review`)")
    console.print(f"tables {len(manifest['tables'])}  {suppression_line(s)}")
    console.print(manifest["audit"]["summary"])
    console.print(f"contributing agencies: {manifest['contributing_agencies']}")
    console.print(f"folder: {folder}")
    console.print(f"report: {folder / 'report.html'}")
    return EXIT_OK
