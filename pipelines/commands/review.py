"""`dvnet review`: reviewers check release requests and approve or reject them (signed, audited)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from dvnet.pipelines.commands.acting import acting_as
from dvnet.pipelines.commands.options import network_option
from dvnet.pipelines.console import make_console

NETWORK = network_option()
REQUEST = click.argument("request_id", metavar="REQUEST")
COMMENT = click.option("--comment", required=True, help="What you checked and why you decide so (kept with your signed decision).")


@click.group("review")
def review() -> None:
    """Release requests: list, show, approve, reject. Two reviewers other than the author must approve."""


@review.command("list")
@NETWORK
@click.option("--waiting", is_flag=True, help="Only the requests still waiting for decisions (not rejected, altered or published).")
@click.option("--ids", is_flag=True, help="Print only the request ids, one per line (for scripts).")
@acting_as("review.read")
def list_(actor, network_dir: Path, waiting: bool, ids: bool) -> None:
    """The release requests and where each stands."""
    from dvnet.assets.releases.lib.review import list_requests

    states = [s for s in list_requests(network_dir) if not waiting or not (s.published or s.rejections or s.altered)]
    if ids:
        for state in states:
            click.echo(state.request_id)
        return
    table = Table("request", "author", "status", "content sha256")
    for state in states:
        table.add_row(state.request_id, state.author, state.status, state.content_sha256[:16])
    make_console().print(table)


@review.command("show")
@NETWORK
@REQUEST
@acting_as("review.read")
def show(actor, network_dir: Path, request_id: str) -> None:
    """A request's disclosure record, suppression per reason and decisions so far (coordinator-side only)."""
    from dvnet.assets.releases.lib.internal import read_record, suppression_line
    from dvnet.assets.releases.lib.review import read_disclosure, request_folder, review_state
    from dvnet.common.network import NetworkPaths

    paths = NetworkPaths(network_dir)
    state = review_state(network_dir, request_id)
    record = read_disclosure(request_folder(paths, request_id))
    stats = (read_record(paths.coordinator, request_id) or {}).get("stats", {})
    console = make_console()
    console.print(f"request {request_id} by {state.author} at {record['requested_at']}: {state.status}")
    console.print(f"profile {record['profile']['name']}  periods {', '.join(record['periods'])}  software dvnet {record['software']['dvnet']}")
    console.print(suppression_line(stats) if stats else "no internal record: the per-reason counts are unknown")
    if state.altered:  # the audit's verdict is about other content: never show it as this content's
        console.print(f"[bold red]ALTERED since its disclosure audit[/] (REQUEST_ALTERED): {', '.join(state.altered)} differ from what the audit passed; "
                      "it can never be approved or published: make a new request (`dvnet publish`)")  # fmt: skip
    else:
        console.print(record["audit"]["summary"])
    console.print(f"content sha256 {state.content_sha256}" + ("  (ALTERED: not the audited content)" if state.altered else "  (the audited content)"))
    console.print(f"approved by: {', '.join(state.approvals) or 'nobody yet'}; rejected by: {', '.join(state.rejections) or 'nobody'}")
    console.print(f"files: {request_folder(paths, request_id)}")


PAST = {"approve": "approved", "reject": "rejected"}


def _decide(actor, network_dir: Path, request_id: str, verdict: str, comment: str) -> None:
    from dvnet.assets.releases.lib.review import decide

    state = decide(network_dir, request_id, actor, verdict, comment)
    make_console().print(f"{PAST[verdict]} {request_id} as {actor.actor} (signed, bound to content {state.content_sha256[:16]}): now {state.status}")


@review.command("approve")
@NETWORK
@REQUEST
@COMMENT
@acting_as("review.approve")
def approve(actor, network_dir: Path, request_id: str, comment: str) -> None:
    """Approve the request (bound to its content hash). Refused (exit 1) when its files are not what
    its disclosure audit passed (REQUEST_ALTERED) or it was rejected (REQUEST_REJECTED)."""
    _decide(actor, network_dir, request_id, "approve", comment)


@review.command("reject")
@NETWORK
@REQUEST
@COMMENT
@acting_as("review.reject")
def reject(actor, network_dir: Path, request_id: str, comment: str) -> None:
    """Reject the request: it can never be published (make a new request)."""
    _decide(actor, network_dir, request_id, "reject", comment)
