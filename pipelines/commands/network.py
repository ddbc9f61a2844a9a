"""`dvnet network`: the coordinator's registry: found a network, register agencies and people, suspend."""

from __future__ import annotations

import os
from pathlib import Path

import click
from rich.table import Table

from dvnet.contracts.policy import ROLES
from dvnet.pipelines.commands.acting import KEY_HELP, acting_as
from dvnet.pipelines.commands.options import INPUT_FILE, network_option
from dvnet.pipelines.console import make_console


@click.group("network")
def network() -> None:
    """Create and keep a network's registry (organisations, people, coordinator keys)."""


@network.command("init")
@network_option(new=True, help="The folder to create the network in.")
@click.option("--name", required=True, help="The network's name, e.g. 'Riverside DV Response Network'.")
@click.option("--geography", "geography_file", required=True, type=INPUT_FILE,
              help="YAML file declaring the network's regions, their parent areas and postal prefixes (the demo's: pipelines/demo_geography.yaml).")
@click.option("--founder", "founder_file", required=True, type=INPUT_FILE,
              help="The founding coordinator's person file (from `dvnet person init`).")  # fmt: skip
@click.option("--key", "key_option", type=click.Path(path_type=Path, dir_okay=False), help="The founder's signing key. " + KEY_HELP)
@click.pass_context
def init(ctx: click.Context, network_dir: Path, name: str, geography_file: Path, founder_file: Path, key_option: Path | None) -> None:
    """Create the network folder with the coordinator's own key pairs (0600, never printed), its public file and
    a registry declaring the network's geography whose first person, the founder, is a coordinator.

    No agency key and no linkage key is made here: agencies run `dvnet agency init`, the custodian
    `dvnet custodian init`.
    """
    from dvnet.common import network as store  # here: --help stays light
    from dvnet.common.authority import load_key_for
    from dvnet.common.people import read_person_file

    founder = read_person_file(founder_file)
    key = load_key_for(founder["id"], key_option, (ctx.obj or {}).get("environ", os.environ))
    folder = network_dir
    net = store.init_network(folder, name, founder, key, geography=store.read_geography(geography_file))
    console = make_console()
    console.print(f"created network '{net.name}' at {folder}; founding coordinator {founder['id']}")
    console.print(f"coordinator encryption key id {net.coordinator.encryption_key_id} (agencies seal bundles to it)")
    console.print(f"coordinator signing key id    {net.coordinator.signing_key_id} (receipts and the audit head are signed with it)")
    g = net.geography
    console.print(f"geography: {len(g.region_ids)} regions in {len(g.parent_areas)} parent areas ({', '.join(g.parent_areas)})", soft_wrap=True)
    console.print(f"public file for every agency: {store.NetworkPaths(folder).coordinator_public}")
    console.print(f"next: dvnet network register-agency --network {folder} <registration.yaml> --as {founder['id']}")


@network.command("register-agency")
@network_option()
@click.argument("registration_file", type=INPUT_FILE)
@acting_as("network.register-agency")
def register_agency(actor, network_dir: Path, registration_file: Path) -> None:
    """Register the agency whose public registration file (from `dvnet agency init`) is REGISTRATION_FILE.

    Only public keys are registered. Compare the key ids printed with the agency by phone, then
    send it the coordinator's public file.
    """
    from dvnet.common import network as store  # here: --help stays light
    from dvnet.common.agency import read_registration

    org = store.register_agency(network_dir, read_registration(registration_file), actor)
    console = make_console()
    console.print(f"registered {org.id} (tier {org.tier}, {org.type}) by {actor.actor}")
    console.print(f"agency signing key id {org.signing_key_id}; encryption key id {org.encryption_key_id}")
    public = store.NetworkPaths(network_dir).coordinator_public
    console.print(f"send back: {public}", soft_wrap=True)
    console.print(f"and send it to every agency already registered: it now lists {org.id}, and their contributors accept "
                  "its id in organisation fields once they pin it again (`dvnet agency pin-coordinator`)", soft_wrap=True)  # fmt: skip


@network.command("add-person")
@network_option()
@click.argument("person_file", type=INPUT_FILE)
@click.option("--role", "roles", required=True, multiple=True, type=click.Choice(list(ROLES)), help="A role (repeatable).")
@acting_as("network.add-person")
def add_person(actor, network_dir: Path, person_file: Path, roles: tuple[str, ...]) -> None:
    """Register the person of PERSON_FILE (from `dvnet person init`) with one or more roles."""
    from dvnet.common import network as store  # here: --help stays light
    from dvnet.common.people import read_person_file

    person = store.add_person(network_dir, read_person_file(person_file), list(roles), actor)
    make_console().print(f"{person.id} ({person.org}) now holds: {', '.join(person.roles)}; signing key id {person.signing_key_id}")


def _status_command(name: str, status: str, verb: str):
    # The help is given to click here: a docstring set after the decorators never reached --help.
    help_ = f"Mark the organisation or person ID {status}" + (
        ": an agency's bundles are quarantined, its research rows held back from extracts and its steward's commands refused;"
        " a person's commands refused; until reinstated." if status == "suspended" else "."
    )

    @network.command(name, help=help_)
    @network_option()
    @click.argument("subject_id", metavar="ID")
    @acting_as(f"network.{name}")
    def command(actor, network_dir: Path, subject_id: str) -> None:
        from dvnet.common import network as store  # here: --help stays light

        store.set_status(network_dir, subject_id, status, actor)
        make_console().print(f"{subject_id} is {status} ({verb} by {actor.actor})")

    return command


suspend = _status_command("suspend", "suspended", "suspended")
reinstate = _status_command("reinstate", "active", "reinstated")


@network.command("show")
@network_option()
def show(network_dir: Path) -> None:
    """Summarise the registry: organisations, people and roles, the geography, coordinator key ids."""
    from dvnet.common import network as store  # here: --help stays light

    net = store.load_network(network_dir)
    console = make_console()
    console.print(f"[bold]{net.name}[/]  coordinator {net.coordinator.id}  encryption key {net.coordinator.encryption_key_id}  epoch {net.coordinator.key_epoch}")
    t = Table(title=f"{len(net.organisations)} organisations", title_justify="left")
    for h in ("id", "name", "type", "tier", "region", "status", "signing key", "encryption key"):
        t.add_column(h)
    for o in net.organisations:
        t.add_row(o.id, o.name, o.type, str(o.tier), o.region, o.status, o.signing_key_id or "—", o.encryption_key_id or "—")
    console.print(t)
    p = Table(title=f"{len(net.people)} people", title_justify="left")
    for h in ("id", "name", "organisation", "roles", "status", "signing key"):
        p.add_column(h)
    for person in net.people:
        p.add_row(person.id, person.name, person.org, ", ".join(person.roles), person.status, person.signing_key_id)
    console.print(p)
    geo = Table(title=f"geography: {len(net.geography.region_ids)} regions", title_justify="left")
    for h in ("region", "parent area", "postal prefixes"):
        geo.add_column(h)
    for r in net.geography.regions:
        geo.add_row(r.id, r.parent_area, " ".join(r.postal_prefixes))
    console.print(geo)
    console.print("data-sharing agreements: `dvnet dsa list --network …`")
