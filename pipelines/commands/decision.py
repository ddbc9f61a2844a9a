"""`dvnet decision`: an organisation's decision log (signed by its author, audited)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
from rich.table import Table

from dvnet.common.decision_terms import CHANGES, KINDS
from dvnet.pipelines.commands.acting import acting_as
from dvnet.pipelines.commands.options import network_option
from dvnet.pipelines.console import make_console

NETWORK = network_option()


@click.group("decision")
def decision() -> None:
    """An organisation's decisions about external data, frameworks and tools, and their review dates."""


@decision.command("add")
@NETWORK
@click.option("--org", required=True, help="The organisation deciding: an agency's registry id, or the coordinator's id for the coalition.")
@click.option("--change", required=True, type=click.Choice(CHANGES), help="Adopted it, or stopped using it.")
@click.option("--kind", required=True, type=click.Choice(KINDS), help="What it is.")
@click.option("--subject", required=True, help="What was adopted or stopped, e.g. 'Danger Assessment risk tool'.")
@click.option("--decided-by", required=True, help="Who decided, e.g. 'Board of directors'.")
@click.option("--why", required=True, help="Why, in one line.")
@click.option("--review-date", required=True, help="When it is to be reviewed (YYYY-MM-DD).")
@click.option("--decided-on", help="When it was decided (YYYY-MM-DD; default today).")
@click.option("--agency-folder", type=click.Path(path_type=Path, file_okay=False, exists=True),
              help="The agency's own folder, for its copy (default: agencies/ORG in the network folder, when that exists).")  # fmt: skip
@acting_as("decision.add", agency="org")
def add(actor, network_dir: Path, org: str, change: str, kind: str, subject: str, decided_by: str, why: str, review_date: str,
        decided_on: str | None, agency_folder: Path | None) -> None:  # fmt: skip
    """Record a decision of ORG, signed by the person running it (a steward for their own agency).

    An agency's current decisions (what it adopted or stopped, by subject) are cited in the
    network's directory (`dvnet directory`); who decided and why stay in the decision log."""
    from dvnet.common import decisions

    if agency_folder is None and (network_dir / "agencies" / org).is_dir():
        agency_folder = network_dir / "agencies" / org
    d = decisions.add(network_dir, org, change=change, kind=kind, subject=subject, decided_by=decided_by, why=why, review_date=review_date,
                      decided_on=decided_on, actor=actor, agency_folder=agency_folder)  # fmt: skip
    copy = f" and {agency_folder / 'decisions' / (d.id + '.yaml')}" if agency_folder else ""
    make_console().print(f"recorded {d.id}: {org} {change} {subject} (review {d.review_date}), signed by {actor.actor}; kept in the coordinator's folder{copy}")


@decision.command("list")
@NETWORK
@click.option("--org", help="Only this organisation's decisions.")
@click.option("--due", is_flag=True, help="Only current decisions whose review date has come.")
@click.option("--on", "on", help="The day --due is judged on (YYYY-MM-DD; default today).")
def list_(network_dir: Path, org: str | None, due: bool, on: str | None) -> None:
    """The decisions on file, newest last; a decision superseded by a later one on the same subject is marked."""
    from dvnet.common import decisions
    from dvnet.contracts.errors import DvnetError

    try:
        day = dt.date.fromisoformat(on) if on else dt.datetime.now(dt.UTC).date()
    except ValueError:
        raise DvnetError("USAGE_DATE_INVALID", "--on: a date written YYYY-MM-DD") from None
    found = decisions.load(network_dir, org)
    live = decisions.current(found)
    shown = [d for d in live if d.due(day)] if due else found
    console = make_console()
    if not shown:
        console.print(f"no decisions due for review on {day}" if due else "no decisions recorded yet; add one with `dvnet decision add`")
        return
    t = Table(title=f"{len(shown)} decisions" + (f" due for review on {day}" if due else ""), title_justify="left")
    for h in ("id", "organisation", "decision", "decided by", "why", "on", "review", "signed by", ""):
        t.add_column(h, no_wrap=h in ("id", "on", "review"))
    for d in shown:
        mark = "superseded" if d not in live else ("due" if d.due(day) else "")
        t.add_row(d.id, d.org, f"{d.change} ({d.kind}): {d.subject}", d.decided_by, d.why, d.decided_on, d.review_date, d.signed_by, mark)
    console.print(t)
