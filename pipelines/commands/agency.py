"""`dvnet agency`: the agency's side of the key ceremony, run on the agency's own machine."""

from __future__ import annotations

from pathlib import Path

import click

from dvnet.contracts.codes import ORG_TYPES
from dvnet.contracts.tiers import TIERS
from dvnet.pipelines.commands.options import INPUT_FILE
from dvnet.pipelines.console import make_console


@click.group("agency")
def agency() -> None:
    """An agency's own folder and keys: init, pin the coordinator, import the linkage key (Tier 4)."""


@agency.command("init")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@click.option("--id", "agency_id", required=True, help="Short id: lowercase letters, digits and dashes.")
@click.option("--name", required=True, help="The agency's name as the public directory shows it.")
@click.option("--type", "org_type", required=True, type=click.Choice(ORG_TYPES), help="The kind of organisation (the directory groups by it).")
@click.option("--tier", required=True, type=click.IntRange(1, 4), help="; ".join(f"{k}: {v}" for k, v in TIERS.items()))
@click.option("--region", required=True, help="One of the network's regions (the coordinator tells you; `dvnet network show` lists them). Checked when the coordinator registers the agency.")
@click.option("--network-name", help="The network it joins (checked against the coordinator's files).")
@click.option("--service", "services", multiple=True, help="A service offered (repeatable).")
@click.option("--eligibility", default="", help="Who the agency serves.")
@click.option("--phone", default="", help="Contact phone for professionals (Tier 1 directory).")
@click.option("--email", default="", help="Contact email for professionals (Tier 1 directory).")
@click.option("--website", default="", help="Public website (Tier 1 directory).")
@click.option("--intake-hours", default="", help="When the agency takes referrals, in plain words (Tier 1 directory).")
def init(folder: Path, agency_id, name, org_type, tier, region, network_name, services, eligibility, phone, email, website, intake_hours) -> None:
    """Make FOLDER (0700) with this agency's own keys (0600, never printed) and its public
    registration file for the coordinator.

    Keys: signing (Ed25519: bundles and registration), pseudonym (32 random bytes: record keys),
    HPKE (X25519: receives the network linkage key at Tier 4). Only registration.yaml leaves.
    """
    from dvnet.common.agency import init_agency, read_registration

    cfg = init_agency(folder, agency_id=agency_id, name=name, type=org_type, tier=tier, region=region, network=network_name,
                      services=services, eligibility=eligibility, contact={"phone": phone, "email": email, "website": website, "intake_hours": intake_hours})  # fmt: skip
    reg = read_registration(cfg.registration_path)
    console = make_console()
    console.print(f"created agency {agency_id} (tier {tier}) at {folder}; its keys are in {folder / 'keys'} (0600) and never leave it")
    console.print(f"signing key id    {reg['signing_key_id']}")
    console.print(f"encryption key id {reg['encryption_key_id']}")
    console.print(f"send to the coordinator: {cfg.registration_path} (public keys only); read them these key ids by phone")
    console.print(f"mapping files to fill in if your system's export names columns or codes differently: {folder / 'mapping'} "
                  "(commented; check one with `dvnet mapping check`)")
    console.print(f"next: dvnet agency pin-coordinator {folder} <coordinator-public.yaml>")


@agency.command("pin-coordinator")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.argument("coordinator_file", type=INPUT_FILE)
def pin_coordinator(folder: Path, coordinator_file: Path) -> None:
    """Pin the coordinator's public keys (from COORDINATOR_FILE) in the agency's config.

    Compare the key ids printed with the ones the coordinator reads you by phone.
    """
    from dvnet.common.agency import pin_coordinator as pin

    cfg = pin(folder, coordinator_file)
    c = cfg.coordinator
    console = make_console()
    console.print(f"{cfg.agency_id} now pins the keys of '{cfg.network}''s coordinator ({c['id']})")
    console.print(f"coordinator encryption key id {c['encryption_key_id']} (bundles are sealed to it)")
    console.print(f"coordinator signing key id    {c['signing_key_id']} (receipts are checked against it)")
    g = cfg.geography
    console.print(f"the network's geography: {len(g.region_ids)} regions in {len(g.parent_areas)} parent areas (postal codes are generalised to them)", soft_wrap=True)
    console.print(f"the network's organisations: {len(cfg.organisations or ())} registered (organisation fields such as receiving_org must name one)",
                  soft_wrap=True)  # fmt: skip
    console.print(f"next: tell dvnet where the coordinator's drop is: dvnet drop set --agency {folder} --inbox ... --receipts ...", soft_wrap=True)


@agency.command("import-linkage")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.argument("wrapped_file", type=INPUT_FILE)
@click.option("--custodian", "custodian_file", required=True, type=INPUT_FILE,
              help="The custodian's public file (custodian-public.yaml): the wrapped key must be signed by its key.")  # fmt: skip
def import_linkage(folder: Path, wrapped_file: Path, custodian_file: Path) -> None:
    """Open the network linkage key the custodian sealed to this agency (Tier 4) and keep it (0600)."""
    from dvnet.common.agency import import_linkage as run
    from dvnet.common.custodian import read_custodian_public

    linkage_id = run(folder, wrapped_file, custodian_file)
    custodian = read_custodian_public(custodian_file)
    console = make_console()
    console.print(f"imported the network linkage key (id {linkage_id}) into {Path(folder) / 'keys' / 'linkage.key'}")
    console.print(f"sealed by custodian key id {custodian['signing_key_id']}: confirm it with the custodian directly")
