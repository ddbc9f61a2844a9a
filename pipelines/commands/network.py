"""`dvnet network`: create a network folder, register agencies, show the registry."""

from __future__ import annotations

from pathlib import Path

import click
from dvnet.pipelines.console import make_console
from rich.table import Table

from dvnet.contracts.codes import ORG_TYPES
from dvnet.contracts.tiers import TIERS
from dvnet.common import network as store
from dvnet.pipelines.commands.options import network_option


@click.group("network")
def network() -> None:
    """Create and inspect a network folder (registry, coordinator keys, agency folders)."""


@network.command("init")
@network_option(new=True, help="The folder to create the network in.")
@click.option("--name", required=True, help="The network's name, e.g. 'Riverside DV Response Network'.")
@click.option("--geography", "geography_file", required=True, type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="YAML file declaring the network's regions, their parent areas and postal prefixes (the demo's: pipelines/demo_geography.yaml).")
def init(network_dir: Path, name: str, geography_file: Path) -> None:
    """Create the network folder with a registry and fresh coordinator key pairs (private keys 0600, never printed)."""
    folder = network_dir
    net = store.init_network(folder, name, store.read_geography(geography_file))
    console = make_console()
    console.print(f"created network '{net.name}' at {folder}")
    console.print(f"coordinator encryption key id {net.coordinator.encryption_key_id} (agencies seal bundles to it)")
    console.print(f"coordinator signing key id    {net.coordinator.signing_key_id} (receipts are signed with it)")
    g = net.geography
    console.print(f"geography: {len(g.region_ids)} regions in {len(g.parent_areas)} parent areas ({', '.join(g.parent_areas)})", soft_wrap=True)
    console.print(f"next: dvnet network add-agency --network {folder} --id ... --name ... --type ... --tier ... --region ...", soft_wrap=True)


@network.command("add-agency")
@network_option()
@click.option("--id", "org_id", required=True, help="Short id: lowercase letters, digits and dashes.")
@click.option("--name", required=True)
@click.option("--type", "org_type", required=True, type=click.Choice(ORG_TYPES))
@click.option("--tier", required=True, type=click.IntRange(1, 4), help="; ".join(f"{k}: {v}" for k, v in TIERS.items()))
@click.option("--region", required=True, help="One of the network's regions (its registry's geography; `dvnet network show` lists them).")
@click.option("--service", "services", multiple=True, help="A service offered (repeatable).")
@click.option("--eligibility", default="", help="Who the agency serves.")
@click.option("--phone", default="")
@click.option("--email", default="")
@click.option("--website", default="")
@click.option("--agency-folder", type=click.Path(path_type=Path, file_okay=False), help="Where the agency's own folder goes (default <network>/agencies/<id>).")
def add_agency(network_dir: Path, org_id: str, name: str, org_type: str, tier: int, region: str, services, eligibility, phone, email, website, agency_folder) -> None:
    """Register an agency and create its own folder with its config and signing key pair."""
    org = store.organisation(org_id, name, org_type, tier, region, services=services, eligibility=eligibility, phone=phone, email=email, website=website)
    cfg = store.add_agency(network_dir, org, agency_folder=agency_folder)
    click.echo(f"registered {org_id} (tier {tier}, {org_type}); agency folder {cfg.folder}")
    if org.signing_key_id:
        click.echo(f"agency signing key id {org.signing_key_id}")


@network.command("show")
@network_option()
def show(network_dir: Path) -> None:
    """Summarise the registry: organisations by tier and type, agreements, coordinator key ids."""
    net = store.load_network(network_dir)
    console = make_console()
    console.print(f"[bold]{net.name}[/]  coordinator {net.coordinator.id}  encryption key {net.coordinator.encryption_key_id}  epoch {net.coordinator.key_epoch}")
    t = Table(title=f"{len(net.organisations)} organisations", title_justify="left")
    for h in ("id", "name", "type", "tier", "region", "status", "signing key"):
        t.add_column(h)
    for o in net.organisations:
        t.add_row(o.id, o.name, o.type, str(o.tier), o.region, o.status, o.signing_key_id or "—")
    console.print(t)
    geo = Table(title=f"geography: {len(net.geography.region_ids)} regions", title_justify="left")
    for h in ("region", "parent area", "postal prefixes"):
        geo.add_column(h)
    for r in net.geography.regions:
        geo.add_row(r.id, r.parent_area, " ".join(r.postal_prefixes))
    console.print(geo)
    if net.agreements:
        a = Table(title=f"{len(net.agreements)} data-sharing agreements", title_justify="left")
        for h in ("id", "purpose", "parties", "contracts", "from", "to", "ethics", "status"):
            a.add_column(h)
        for g in net.agreements:
            a.add_row(g.id, g.purpose, str(len(g.parties)), ", ".join(g.contracts), g.start, g.end, g.ethics_approval, g.status)
        console.print(a)
