"""`dvnet send`: the steward delivers the agency's sealed bundles to the coordinator's drop."""

from __future__ import annotations

from pathlib import Path

import click

from dvnet.pipelines.cli import EXIT_OK
from dvnet.pipelines.console import make_console


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return ""


@click.command("send")
@click.option("--agency", "agency_dir", required=True, type=click.Path(path_type=Path, file_okay=False), help="The agency's folder (its agency.yaml says where the drop is).")
def send(agency_dir: Path) -> int:
    """Deliver every bundle in the outbox to the coordinator's drop (a shared folder or SFTP).

    Each bundle is written under a temporary name and renamed into the coordinator's inbox, so the
    coordinator never sees half a file; delivered bundles move to sent/. Running it again sends only
    what is still in the outbox. Exit 0 when everything was delivered (or nothing was waiting),
    1 when the drop could not be reached or trusted (the outbox is kept), 2 on configuration errors.
    """
    from dvnet.common.network import load_agency  # here: --help stays light
    from dvnet.pipelines.delivery.drop import drop_of
    from dvnet.pipelines.delivery.send import SentBundle, send_outbox, sent_folder, sent_records, waiting

    agency = load_agency(agency_dir)
    drop = drop_of(agency)
    console = make_console()
    files = waiting(agency)
    if not files:
        earlier = len(sent_records(agency))
        console.print("the outbox is empty: nothing to send" + (f" ({earlier} bundle{'s' if earlier != 1 else ''} sent earlier)" if earlier else ""))
        console.print(f"to see what became of them: dvnet receipts --agency {agency_dir}", soft_wrap=True)
        return EXIT_OK
    console.print(f"sending {len(files)} bundle{'s' if len(files) != 1 else ''} to {drop.describe()}", soft_wrap=True)

    def show(item: SentBundle) -> None:
        console.print(f"  sent  {item.file}  ({_size(item.size)})", soft_wrap=True)

    sent = send_outbox(agency, drop, on_sent=show)
    console.print(f"[green]{len(sent)} delivered[/]; copies kept in {sent_folder(agency)}", soft_wrap=True)
    console.print(f"the coordinator leaves a signed receipt for each; to fetch them: dvnet receipts --agency {agency_dir}", soft_wrap=True)
    return EXIT_OK
