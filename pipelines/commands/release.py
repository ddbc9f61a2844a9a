"""`dvnet release`: publish an approved release request; withdraw a published release."""

from __future__ import annotations

import os
from pathlib import Path

import click

from dvnet.pipelines.commands.acting import acting_as
from dvnet.pipelines.commands.options import dagster_home_option, network_option
from dvnet.pipelines.commands.waiting import holding_warehouse, wait_option
from dvnet.pipelines.console import make_console

NETWORK = network_option()
RELEASE = click.argument("release_id", metavar="REQUEST")


@click.group("release")
def release() -> None:
    """Publish an approved release request (`publish`), withdraw a published release (`withdraw`),
    check the release folders against the audit log (`verify`)."""


@release.command("publish")
@NETWORK
@RELEASE
@dagster_home_option()
@wait_option()
@acting_as("release.publish")
@click.pass_context
def publish(ctx: click.Context, actor, network_dir: Path, release_id: str, dagster_home: Path | None, wait: float) -> int:
    """Publish a request two reviewers (not its author) approved as it is now, as a Dagster run.

    Refused (exit 1) when any of its files is not what its disclosure audit passed (REQUEST_ALTERED:
    make a new request), it has fewer than two such approvals (REVIEW_INCOMPLETE), its author's
    own (REVIEW_BY_AUTHOR), decisions on other content only (REVIEW_STALE), a rejection
    (REQUEST_REJECTED), or when a release of its periods was published after it was made
    (REQUEST_STALE: make a new request). Then `dvnet query` serves it.
    """
    from dvnet.assets.releases.lib.review import request_folder
    from dvnet.assets.runs import dagster_home_for, run_release_step
    from dvnet.common.network import NetworkPaths
    from dvnet.pipelines.cli import EXIT_OK, EXIT_REFUSED

    network = network_dir.resolve()
    request_folder(NetworkPaths(network), release_id)  # REQUEST_UNKNOWN before any run
    home = dagster_home_for(network, dagster_home, (ctx.obj or {}).get("environ", os.environ))
    with holding_warehouse(network, wait):
        _, checks = run_release_step(network, home, "published_release", {"request_id": release_id}, "dvnet release publish")
    console = make_console()
    console.print(f"[bold green]published[/] release {release_id} as {actor.actor}: `dvnet query` serves it")
    console.print("checks: " + ", ".join(f"{name} {'passed' if passed else 'FAILED'}" for name, passed in sorted(checks.items())))
    return EXIT_OK if all(checks.values()) else EXIT_REFUSED


@release.command("withdraw")
@NETWORK
@RELEASE
@click.option("--reason", required=True, help="Why it is withdrawn (written into the release's manifest).")
@acting_as("release.withdraw")
def withdraw(actor, network_dir: Path, release_id: str, reason: str) -> None:
    """Mark a published release withdrawn: `dvnet query` and its manifest say so; it still counts
    as published for every later disclosure audit."""
    from dvnet.assets.releases.lib.review import withdraw as withdraw_release

    folder, finished = withdraw_release(network_dir, release_id, actor, reason)
    if finished:
        make_console().print(f"release {release_id} was withdrawn already by an interrupted run; its audit line is written now (the reason in {folder / 'manifest.json'} stands)")
    else:
        make_console().print(f"withdrew release {release_id} as {actor.actor}; {folder / 'manifest.json'} says so")


@release.command("verify")
@NETWORK
def verify(network_dir: Path) -> int:
    """Check every release folder against the audit log: its manifest's SHA-256 is the one its
    publication (or withdrawal) logged, and every other file is the one its manifest lists.

    Exit 0 intact; 1 RELEASE_ALTERED, naming each release and its files that differ.
    """
    from dvnet.assets.releases.lib.review import altered_releases
    from dvnet.pipelines.cli import EXIT_OK, EXIT_REFUSED

    altered = altered_releases(network_dir)
    console = make_console()
    for release_id, files in altered.items():
        console.print(f"[red]RELEASE_ALTERED[/]: release {release_id}: {len(files)} file(s) differ from what the audit log anchors: {', '.join(files)}")
    if not altered:
        console.print("[green]release folders intact[/]: every file is the one its publication logged")
    return EXIT_REFUSED if altered else EXIT_OK
