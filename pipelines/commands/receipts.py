"""`dvnet receipts`: the steward fetches the coordinator's signed receipts and reads what became
of each bundle (sent, loaded, or quarantined with the reason in plain words)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from dvnet.pipelines.cli import EXIT_OK, EXIT_REFUSED
from dvnet.pipelines.console import make_console

STYLE = {"loaded": "green", "superseded": "dim", "quarantined": "red", "settled": "dim", "sent": "yellow", "not sent": "cyan", "withdrawn": "dim"}


@click.command("receipts")
@click.option("--agency", "agency_dir", required=True, type=click.Path(path_type=Path, file_okay=False), help="The agency's folder (its agency.yaml pins the coordinator's signing key).")
@click.option("--no-fetch", is_flag=True, help="Only show the receipts already in the agency's receipts/ folder.")
def receipts(agency_dir: Path, no_fetch: bool) -> int:
    """Fetch the coordinator's receipts from the drop, verify each, and show every contribution's state.

    A receipt is kept only when its signature verifies against the coordinator key pinned in
    agency.yaml and it is about this agency's bundle. Each bundle is shown with its id (what
    `dvnet contribute --supersedes` takes to correct a loaded one). A quarantine that a later
    bundle for the same contract and quarter made good is shown settled. Exit 0 when nothing needs
    attention, 1 when a bundle is quarantined and not settled or a receipt did not verify, 2 on
    configuration errors.
    """
    from dvnet.common.network import load_agency  # here: --help stays light
    from dvnet.pipelines.delivery.drop import drop_of
    from dvnet.pipelines.delivery.receipts import fetch, newest_anchor, receipts_folder, statuses

    agency = load_agency(agency_dir)
    console = make_console()
    refused = []
    if not no_fetch:
        drop = drop_of(agency)
        got = fetch(agency, drop)
        refused = got.refused
        console.print(f"fetched {got.kept} new receipt{'s' if got.kept != 1 else ''}" + (f", {got.already_had} already here" if got.already_had else "")
                      + f" from {drop.describe(drop.receipts)}", soft_wrap=True)  # fmt: skip
        console.print("each one verified against the coordinator key pinned in agency.yaml")
        for name, why in refused:
            console.print(f"[red]not kept[/]: {name}: {why}", soft_wrap=True)
    rows = statuses(agency)
    if not rows:
        console.print("this agency has not sealed or sent any bundle yet")
        return EXIT_REFUSED if refused else EXIT_OK
    t = Table(title=f"{agency.agency_id}: what became of each contribution", title_justify="left")
    for h in ("contract", "period", "#", "bundle id", "sent", "state", "what it means"):
        t.add_column(h, justify="right" if h == "#" else "left", overflow="fold", no_wrap=h == "bundle id")  # an id is copied whole
    for s in rows:
        t.add_row(s.contract, s.period, s.sequence, s.bundle_id or "—", s.sent_at.replace("T", " ")[:16] or "—", f"[{STYLE[s.state]}]{s.state}[/]", s.explanation)
    console.print(t)
    console.print(f"receipts kept in {receipts_folder(agency)}", soft_wrap=True)
    anchor = newest_anchor(agency)
    if anchor:
        path, head = anchor
        console.print(f"the coordinator's audit log held {head['entries']:,} entries when it signed {path.name}; an auditor holds the log to it with "
                      f"`dvnet audit verify <coordinator audit.log> --anchor {path}`", soft_wrap=True)  # fmt: skip
    quarantined = [s for s in rows if s.needs_attention]
    if quarantined:
        console.print(f"[red]{len(quarantined)} quarantined[/]: nothing of {'it' if len(quarantined) == 1 else 'them'} was loaded; "
                      "fix what the reason says, contribute again, and send")  # fmt: skip
    for s in quarantined:
        if s.correct_with:
            console.print(f"to correct {s.contract} {s.period} (loaded from bundle #{s.other.sequence}): dvnet contribute --agency {agency_dir} "
                          f"--contract {s.contract} --period {s.period} --extract <the corrected extract> {s.correct_with}", soft_wrap=True)  # fmt: skip
    return EXIT_REFUSED if quarantined or refused else EXIT_OK
