"""`dvnet dsa`: data-sharing agreements, versioned and signed by the coordinator who records them."""

from __future__ import annotations

from pathlib import Path

from dvnet.pipelines.commands.waiting import holding_warehouse, wait_option

import click
from rich.table import Table

from dvnet.pipelines.commands.acting import acting_as
from dvnet.pipelines.commands.options import network_option
from dvnet.pipelines.console import make_console

NETWORK = network_option()
DSA = click.argument("dsa_id", metavar="DSA")
REASON = click.option("--reason", required=True, help="Why: kept with the new version (the old one stays readable).")

#: term -> (option, repeatable, type, help). Repeatable options also take comma-separated lists.
TERM_OPTIONS: dict[str, tuple[str, bool, object, str]] = {
    "purpose": ("--purpose", False, str, "What the project is for, in one sentence."),
    "parties": ("--party", True, str, "An agency party to the agreement (registry id)."),
    "contracts": ("--contract", True, str, "A research contract whose rows it covers, e.g. research_extract/v1."),
    "fields": ("--field", True, str, "An output field that may flow to the researchers (nothing else does)."),
    "periods": ("--period", True, str, "A quarter it covers, e.g. 2026-Q2."),
    "start": ("--start", False, str, "First day data may flow (YYYY-MM-DD)."),
    "end": ("--end", False, str, "Last day data may flow (YYYY-MM-DD, UTC); refused from the next second on."),
    "ethics_approval": ("--ethics", False, str, "The ethics approval reference."),
    "ethics_expires": ("--ethics-expires", False, str, "The last day the ethics approval covers (YYYY-MM-DD); the end may not lie beyond it."),
    "researchers": ("--researcher", True, str, "A named researcher (a registered person with the researcher role)."),
    "min_cell_size": ("--min-cell-size", False, int, "The smallest cell any output from it may show."),
    "retention_end": ("--retention-end", False, str, "When the project's data must be destroyed (YYYY-MM-DD)."),
}


def term_options(required: bool):
    def decorate(command):
        for term, (flag, repeatable, kind, help_) in reversed(TERM_OPTIONS.items()):
            if repeatable:
                command = click.option(flag, term, multiple=True, help=help_ + " Repeatable.")(command)
            else:
                command = click.option(flag, term, type=kind, required=required, help=help_)(command)
        return command

    return decorate


def _terms(given: dict) -> dict:
    """The terms given on the command line (a repeatable option split on commas too)."""
    terms = {}
    for term, value in given.items():
        if isinstance(value, tuple):
            value = [part.strip() for v in value for part in v.split(",") if part.strip()]
        if value not in (None, []):
            terms[term] = value
    return terms


@click.group("dsa")
def dsa() -> None:
    """Data-sharing agreements: add, show, list, amend, revoke, close (each change a new signed version)."""


@dsa.command("add")
@NETWORK
@click.option("--id", "dsa_id", required=True, help="The agreement's id, e.g. dsa-2026-evaluation (also the research project's id).")
@term_options(required=True)
@acting_as("dsa.add")
def add(actor, network_dir: Path, dsa_id: str, **given) -> None:
    """Record a new data-sharing agreement (version 1), signed by the person running it."""
    from dvnet.common import agreements

    agreement = agreements.add(network_dir, {"id": dsa_id, **_terms(given)}, actor)
    make_console().print(f"added {agreement.id} version 1 ({len(agreement.parties)} parties, {len(agreement.fields)} fields, "
                         f"{agreement.start} to {agreement.end}), signed by {actor.actor}")  # fmt: skip


@dsa.command("amend")
@NETWORK
@DSA
@REASON
@term_options(required=False)
@acting_as("dsa.amend")
def amend(actor, network_dir: Path, dsa_id: str, reason: str, **given) -> None:
    """Write the next version of DSA with the terms given changed (a repeatable term replaces the whole list)."""
    from dvnet.common import agreements

    agreement = agreements.amend(network_dir, dsa_id, _terms(given), reason, actor)
    make_console().print(f"amended {agreement.id}: now version {agreement.version}, signed by {actor.actor}; earlier versions stay readable")


@dsa.command("revoke")
@NETWORK
@DSA
@REASON
@acting_as("dsa.revoke")
def revoke(actor, network_dir: Path, dsa_id: str, reason: str) -> None:
    """Revoke DSA at once: no contribution is loaded and no extract made under it from now on."""
    from dvnet.common import agreements

    agreement = agreements.revoke(network_dir, dsa_id, reason, actor)
    make_console().print(f"revoked {agreement.id} (version {agreement.version}), signed by {actor.actor}")


@dsa.command("close")
@NETWORK
@DSA
@REASON
@wait_option()
@acting_as("dsa.close")
def close(actor, network_dir: Path, dsa_id: str, reason: str, wait: float) -> None:
    """Close DSA at its retention end: destroy its research rows, their counts and its extracts on
    the coordinator, and keep a signed destruction record."""
    from dvnet.assets.research.lib.extract import close as close_project

    with holding_warehouse(network_dir, wait, existing=True):
        record = close_project(network_dir, dsa_id, reason, actor)
    make_console().print(f"closed {dsa_id} (version {record['closed_version']}): destroyed {record['staged_rows_destroyed']} research rows of "
                         f"{len(record['bundles'])} bundles, {record['count_rows_destroyed']} count rows and {record['extracts_destroyed']} extracts; "
                         f"destruction record signed by {actor.actor}")  # fmt: skip


@dsa.command("list")
@NETWORK
def list_(network_dir: Path) -> None:
    """The agreements, each at its newest version and what it is today (in force, not started,
    ended, revoked or closed)."""
    import datetime as dt

    from dvnet.common import agreements

    found = agreements.all_current(network_dir)
    today = dt.datetime.now(dt.UTC)
    console = make_console()
    if not found:
        console.print("no data-sharing agreements yet; add one with `dvnet dsa add`")
        return
    t = Table(title=f"{len(found)} data-sharing agreements", title_justify="left")
    for h in ("id", "version", "today", "parties", "periods", "from", "to", "retain until", "ethics", "ethics until"):
        t.add_column(h)
    for a in found:
        t.add_row(a.id, str(a.version), a.standing(today), ", ".join(a.parties), ", ".join(a.periods), a.start, a.end, a.retention_end, a.ethics_approval,
                  a.ethics_expires)  # fmt: skip
    console.print(t)


@dsa.command("show")
@NETWORK
@DSA
@click.option("--version", "version", type=int, help="Show this version (default: the newest).")
def show(network_dir: Path, dsa_id: str, version: int | None) -> None:
    """One agreement's terms and the history of its versions (who signed each, when, why), and what
    its newest version is today."""
    import datetime as dt

    from dvnet.common import agreements
    from dvnet.contracts.errors import RegistryError

    agreements.require(network_dir, dsa_id)
    versions = agreements.history(network_dir, dsa_id)
    if version is not None and not 1 <= version <= len(versions):
        raise RegistryError("AGREEMENT_VERSION_UNKNOWN", f"{dsa_id} has versions 1 to {len(versions)}")
    shown = versions[(version or len(versions)) - 1][0]
    console = make_console()
    newest = versions[-1][0]
    console.print(f"[bold]{shown.id}[/] version {shown.version} of {len(versions)}: {shown.status}; "
                  f"today the agreement (version {newest.version}) is {newest.standing(dt.datetime.now(dt.UTC))}")  # fmt: skip
    for term, value in shown.terms().items():
        console.print(f"  {term:<16}{', '.join(value) if isinstance(value, list) else value}")
    t = Table(title="versions", title_justify="left")
    for h in ("version", "status", "signed by", "at", "why"):
        t.add_column(h)
    for a, signed in versions:
        t.add_row(str(a.version), a.status, signed["signed_by"], signed["signed_at"], a.note or "(as added)")
    console.print(t)
