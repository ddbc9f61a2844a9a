"""`dvnet receipt verify`: an agency checks the coordinator's signed word on one of its bundles.

The receipt is verified against the coordinator signing key pinned in the agency's own
``agency.yaml`` (never a key taken from the receipt or fetched from elsewhere).
"""

from __future__ import annotations

from pathlib import Path

import click
from dvnet.pipelines.commands.options import INPUT_FILE
from dvnet.pipelines.console import make_console

from dvnet.contracts.errors import DvnetError
from dvnet.pipelines.cli import EXIT_OK, EXIT_REFUSED


@click.group("receipt")
def receipt() -> None:
    """Verify a coordinator's signed receipt for a bundle."""


@receipt.command("verify")
@click.option("--agency", "agency_dir", required=True, type=click.Path(path_type=Path, file_okay=False), help="The agency's folder (its agency.yaml pins the coordinator's signing key).")
@click.argument("file", type=INPUT_FILE)
def verify(agency_dir: Path, file: Path) -> int:
    """Check FILE's signature and form; print the outcome, reason and rows loaded.

    Exit 0 when the receipt is genuine and for this agency's bundle, 1 otherwise.
    """
    from dvnet.bundle.receipt import MAX_RECEIPT_SIZE  # here: --help stays light
    from dvnet.common.network import load_agency
    from dvnet.pipelines.delivery.receipts import RECEIPT_NOT_FOR_THIS_AGENCY, check_receipt, pinned_coordinator_key

    agency = load_agency(agency_dir)
    key = pinned_coordinator_key(agency)
    console = make_console()
    with file.open("rb") as f:
        blob = f.read(MAX_RECEIPT_SIZE + 1)  # the verifier refuses anything larger; never read more
    try:
        body = check_receipt(agency, blob, key)
    except DvnetError as e:
        label = "NOT FOR THIS AGENCY" if e.reason == RECEIPT_NOT_FOR_THIS_AGENCY else "INVALID"
        console.print(f"[red]receipt {label}[/]: {e.reason}: {e.message}")
        return EXIT_REFUSED
    console.print("[green]receipt valid[/] (signed by the coordinator key pinned in agency.yaml)")
    for label, value in (
        ("outcome", body["outcome"]),
        ("reason", body["reason"] or "—"),
        ("rows loaded", body["rows_loaded"]),
        ("bundle id", body["bundle_id"] or "— (header unreadable)"),
        ("sequence", body["sequence"] if body["sequence"] is not None else "—"),
        ("bundle sha256", body["bundle_sha256"]),
        ("received at", body["received_at"]),
    ):
        console.print(f"  {label:<14}{value}")
    return EXIT_OK
