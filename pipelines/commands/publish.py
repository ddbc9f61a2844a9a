"""`dvnet publish`: a disclosure-controlled release for evaluators."""

from __future__ import annotations

from pathlib import Path

import click

from dvnet.anonymize.disclosure.profiles import PROFILE_NAMES
from dvnet.pipelines.commands.acting import acting_as
from dvnet.pipelines.commands.options import QUARTER, network_option
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
@acting_as("publish")
def publish(actor, network_dir: Path, profile: str, periods: tuple[str, ...], method: str, threshold, rounding_base, dominance_share) -> None:
    """Build a release: suppress, audit (refuses on any exact or narrow range), write files, record the ledger.

    Writes <network>/coordinator/releases/<release-id>/ with release.duckdb, csv/, parquet/,
    manifest.json and report.html. Exit 0 published, 1 refused by the audit, 2 usage.
    """
    from dvnet.anonymize.disclosure.profiles import get_profile
    from dvnet.assets.releases.lib.release import build_release, latest_periods

    overrides = {k: v for k, v in {"threshold": threshold, "rounding_base": rounding_base, "dominance_share": dominance_share}.items() if v is not None}
    if overrides and profile != "custom":
        raise click.UsageError("--threshold, --rounding-base and --dominance-share go with --profile custom")
    get_profile(profile, **overrides)  # INVALID_PROFILE (exit 2) before anything is read
    console = make_console()
    chosen = list(periods) or latest_periods(network_dir)
    with progress(console, f"publish {', '.join(chosen)} under {profile}") as tracker:
        result = build_release(network_dir, profile, chosen, method=method, overrides=overrides, step=tracker.stage)
    s = result.internal  # the coordinator's figures (per reason): never in the release folder
    console.print(f"[bold green]published[/] release {result.release_id}")
    console.print(f"tables {len(result.manifest['tables'])}  cells {s['cells']:,}  published {s['published']:,}  "
                  f"suppressed: primary {s['primary']:,}, dominance {s['dominance']:,}, complementary {s['complementary']:,}  ({s['method']})")
    console.print(result.summary)
    console.print(f"contributing agencies: {result.manifest['contributing_agencies']}")
    console.print(f"folder: {result.folder}")
    console.print(f"report: {result.folder / 'report.html'}")
