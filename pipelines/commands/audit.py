"""`dvnet audit`: verify an audit log against its anchors, and read it by actor, action, object, date."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
from rich.table import Table
from rich.text import Text

from dvnet.pipelines.cli import EXIT_OK, EXIT_REFUSED
from dvnet.pipelines.commands.options import INPUT_FILE
from dvnet.pipelines.console import make_console

LOG = click.argument("log", type=INPUT_FILE)


@click.group("audit")
def audit() -> None:
    """Verify and read audit logs (the coordinator's, an agency's, the custodian's)."""


@audit.command("verify")
@LOG
@click.option("--anchor", "anchor_files", multiple=True, type=INPUT_FILE,
              help="A receipt or release manifest kept elsewhere, whose anchored head the log must still hold (repeatable).")  # fmt: skip
def verify(log: Path, anchor_files: tuple[Path, ...]) -> int:
    """Check LOG's hash chain, its entries' signatures, its signed head and every anchor.

    For the coordinator's log the anchors are its head file, every signed receipt and every release
    manifest in its folder. Exit 0 intact; 1 names the first bad entry (edited, removed, reordered,
    truncated or rewritten), or the manifest that disagrees with a log that verifies.
    """
    from dvnet.common.audit import AuditError
    from dvnet.common.audit_trail import verify_log

    console = make_console()
    try:
        result = verify_log(log, extra=anchor_files)
    except AuditError as e:
        console.print(_not_intact(e), soft_wrap=True)
        return EXIT_REFUSED
    console.print(f"[green]audit log intact[/]: {result.entries} entries; {result.signatures} signatures checked; "
                  f"{result.anchors} anchors checked; head {'signed by the keeper' if result.head_signed else 'unsigned or keeper unknown'}")  # fmt: skip
    altered = _altered_releases(log)
    if altered is None:
        return EXIT_OK
    if altered:
        for release, files in sorted(altered.items()):
            console.print(f"[red]release folder NOT intact[/]: RELEASE_ALTERED: release {release}: {len(files)} file(s) differ from what "
                          f"the audit log anchors: {', '.join(files)}", soft_wrap=True, highlight=False)
        return EXIT_REFUSED
    console.print("[green]release folders intact[/]: every file as its publication was logged")
    return EXIT_OK


def _altered_releases(log: Path) -> dict[str, list[str]] | None:
    """For the coordinator's own log (in its network folder): each release folder whose files are
    not what its publication (or withdrawal) logged (``dvnet release verify``'s check); None for
    any other log, or a copy kept without its network."""
    from dvnet.common.network import NetworkPaths

    root = Path(log).resolve().parent.parent
    paths = NetworkPaths(root)
    if Path(log).resolve() != paths.audit_log.resolve() or not paths.registry.exists() or not paths.releases.is_dir():
        return None
    from dvnet.assets.releases.lib.review import altered_releases

    return altered_releases(root)


def _not_intact(e) -> str:
    from dvnet.common.audit import ANCHOR_MISMATCH

    if e.reason == ANCHOR_MISMATCH:
        return f"[red]audit log and an anchor disagree[/]: {e.reason}: {e.message}"
    return f"[red]audit log NOT intact[/]: {e.reason}: first bad entry {e.context.get('entry')}: {e.message}"


def _day(value: str | None, end: bool) -> dt.datetime | None:
    if value is None:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("a date is written YYYY-MM-DD") from None
    return dt.datetime.combine(day + dt.timedelta(days=1) if end else day, dt.time(), dt.UTC)


@audit.command("show")
@LOG
@click.option("--actor", help="Only entries by this actor (a person id, or agency:<id>, coordinator:<id>).")
@click.option("--action", help="Only this action (e.g. publish, bundle_loaded).")
@click.option("--object", "object_id", help="Only entries touching this id (an agency, bundle, release, person …).")
@click.option("--outcome", help="Only this outcome (granted, refused, failed, done, loaded, quarantined …).")
@click.option("--since", help="From this day (YYYY-MM-DD).")
@click.option("--until", help="To this day, inclusive (YYYY-MM-DD).")
def show(log: Path, actor: str | None, action: str | None, object_id: str | None, outcome: str | None, since: str | None, until: str | None) -> int:
    """List LOG's entries: number, time, actor, action, objects, outcome, reason (never values).

    The log is verified as it is shown (the checks of `dvnet audit verify`): the "verified" column
    says what vouches for each entry (its signature and the chain, or the chain only when no
    registry beside the log names its signers), NO for entries from the first bad one on. Exit 0
    intact; 1 when the log is not intact, has damaged lines (named by line number) or is not an
    audit log.
    """
    from dvnet.common import audit
    from dvnet.common.audit_trail import checks_for

    start, end = _day(since, False), _day(until, True)  # a bad option before any work
    entries, damaged = audit.scan_log(log)
    checks = checks_for(log)
    try:
        result, problem = audit.verify(log, **checks), None
    except audit.AuditError as e:
        result, problem = None, e
    first_bad = None if problem is None or problem.reason == audit.ANCHOR_MISMATCH else problem.context.get("entry")

    def vouched(e: dict) -> str:
        if first_bad is not None and e["n"] >= first_bad:
            return "[red]NO[/]"
        return "signature" if checks["keys"] is not None and e.get("sig") else "chain"

    rows = [
        e for e in entries
        if (actor is None or e.get("actor") == actor) and (action is None or e.get("action") == action)
        and (outcome is None or e.get("outcome") == outcome)
        and (object_id is None or object_id in map(str, (e.get("objects") or {}).values()))
        and (start is None or dt.datetime.fromisoformat(e["at"]) >= start) and (end is None or dt.datetime.fromisoformat(e["at"]) < end)
    ]  # fmt: skip
    t = Table(title=f"{len(rows)} entries of {log.name}", title_justify="left")
    for h in ("#", "at", "actor", "action", "objects", "outcome", "reason", "verified"):
        t.add_column(h)
    for e in rows:
        objects = ", ".join(f"{k}={v}" for k, v in (e.get("objects") or {}).items())
        # An edited entry can hold any text: shown as text, never read as markup.
        t.add_row(*(Text(str(v)) for v in (e["n"], e["at"], e.get("actor") or "—", e.get("action", ""), objects, e.get("outcome", ""), e.get("reason") or "")), vouched(e))  # fmt: skip
    console = make_console()
    console.print(t)
    if damaged:
        shown = ", ".join(map(str, damaged[:20])) + (f" and {len(damaged) - 20} more" if len(damaged) > 20 else "")
        console.print(f"[red]{len(damaged)} damaged line{'s' if len(damaged) != 1 else ''}[/], not shown (not an entry): line{'s' if len(damaged) != 1 else ''} {shown}",
                      soft_wrap=True)  # fmt: skip
    if problem is not None:
        console.print(_not_intact(problem), soft_wrap=True)
        console.print(f"run `dvnet audit verify {log}` (with --anchor for copies of receipts or manifests kept elsewhere)", soft_wrap=True)
        return EXIT_REFUSED
    signed = f"{result.signatures} signatures, " if checks["keys"] is not None else "no signatures (no registry beside the log names its signers), "
    console.print(f"[green]verified as shown[/]: chain, {signed}{result.anchors} anchors; head {'signed by the keeper' if result.head_signed else 'unsigned or keeper unknown'}",
                  soft_wrap=True)  # fmt: skip
    return EXIT_OK
