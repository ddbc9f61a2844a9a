"""`dvnet synth`: seeded synthetic extracts for every contributing agency of a network."""

from __future__ import annotations

from pathlib import Path

import click

from dvnet.pipelines.commands.options import network_option
from dvnet.pipelines.progress import progress
from dvnet.pipelines.synth import FAULT_KINDS, parse_faults
from dvnet.pipelines.commands.options import QUARTER, FiniteFloatRange

DEFAULT_SEED = 20260930
MAX_SCALE = 1000.0  # ~2.6M episodes a quarter for a metro shelter: beyond any real agency
DEFAULT_PERIOD = "2026-Q3"  # fixed, not "last quarter": the demo must be reproducible on any day
CONTRACTS = {"referral": "referrals", "service_episode": "episodes", "research_extract": "research"}  # id -> column


def _periods(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> list[str]:
    return sorted(set(value))


def _faults(ctx: click.Context, param: click.Parameter, value: str) -> frozenset[str]:
    try:
        return parse_faults(value or "")
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


@click.command("synth")
@network_option()
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), help="Root to write <agency>/extracts/ under (default <network>/agencies).")
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True, help="Same seed and network, same bytes.")
@click.option("--period", "periods", multiple=True, type=QUARTER, default=(DEFAULT_PERIOD,), show_default=True, callback=_periods, help="Quarter to generate, e.g. 2026-Q3 (repeat for several).")
@click.option("--scale", type=FiniteFloatRange(min=0, min_open=True, max=MAX_SCALE), default=1.0, show_default=True, help="Multiplies every agency's volume (1.0: a metro shelter has ~2,600 episodes a quarter).")
@click.option("--faults", "faults", default="", callback=_faults, help=f"Comma-separated faults to plant in <file>.faulty.csv copies, or 'all': {', '.join(FAULT_KINDS)}.")
def synth(network_dir: Path, out: Path | None, seed: int, periods: list[str], scale: float, faults: frozenset[str]) -> int:
    """Write realistic synthetic extracts (invented people, fictional places) for every Tier 2+ agency.

    Tier 2 agencies get referrals, Tier 3 also service episodes, Tier 4 also research extracts,
    one CSV per contract and period under <out>/<agency>/extracts/. Who is who across agencies is
    kept apart in <out>/_ground_truth/ for linkage-accuracy checks, with the planted faults.
    """
    from rich.console import Console
    from rich.table import Table

    from dvnet.common.network import NetworkPaths, load_network
    from dvnet.pipelines.synth import contributors, plan_volumes, synthesize

    network = load_network(network_dir)
    orgs = network.organisations
    out = out or NetworkPaths(network_dir).agencies
    agencies = contributors(orgs)
    if not agencies:
        raise click.UsageError("the network has no Tier 2+ agency, so there is nothing to synthesise")
    # research extracts are a subset of tier-4 episodes: count them as an upper bound
    plan = plan_volumes(orgs, seed=seed, periods=periods, scale=scale)
    tier4 = {o.id for o in agencies if o.tier >= 4}
    total = sum(plan.values()) + sum(n for (a, c, _), n in plan.items() if c == "service_episode" and a in tier4)

    err = Console(stderr=True)
    with progress(err, "synthesising", total=total, unit="rows") as tracker:
        summary = synthesize(orgs, out, seed=seed, periods=periods, scale=scale, geography=network.geography, faults=faults, progress=tracker.advance)

    table = Table(title=f"Synthetic extracts ({', '.join(periods)}, seed {seed}, scale {scale:g})")
    table.add_column("agency", no_wrap=True, min_width=max(len(o.id) for o in agencies))
    table.add_column("tier", justify="right")
    for heading in CONTRACTS.values():
        table.add_column(heading, justify="right")
    counts = summary.by_agency_contract()
    for org in agencies:
        table.add_row(org.id, str(org.tier), *(f"{counts[(org.id, c)]:,}" if (org.id, c) in counts else "-" for c in CONTRACTS))
    Console().print(table)
    click.echo("referrals = referral, episodes = service_episode, research = research_extract (rows per contract)")
    click.echo(
        f"{summary.total_rows:,} rows in {len(summary.files)} files under {out} in {summary.seconds:.1f} s "
        f"({summary.total_rows / max(summary.seconds, 1e-9):,.0f} rows/s)"
    )
    if faults:
        click.echo(f"{len(summary.faults)} faults planted in *.faulty.csv copies; listed in {summary.ground_truth / 'faults.json'}")
    click.echo(f"ground truth (kept apart from the agency folders): {summary.ground_truth}")
    return 0
