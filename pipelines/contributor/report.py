"""The steward's report of what leaves the building: a terminal summary and an HTML page.

Only counts, column names, rule names, reason codes, row numbers, ids and hashes; no values.
"""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from dvnet.pipelines.contributor.run import ContributionResult
from dvnet.common.files import atomic_write
from dvnet.common.htmlpage import esc, page, table
from dvnet.pipelines.contributor.wording import plain_rule

STATUS_TEXT = {
    "sealed": "SEALED: the bundle is in the outbox, ready to send to the coordinator",
    "dry-run": "DRY RUN: everything was checked; nothing was sealed",
    "refused": "REFUSED: nothing leaves; fix the problems below and run again",
}


def _accounting(r: ContributionResult) -> list[tuple[str, int]]:
    rows = [("records read", r.records_read), ("rejected (contract)", r.rejected)]
    if r.mode == "record":
        rows.append(("excluded (no consent / expired)", r.excluded_consent))
        rows.append((f"withheld (k-anonymity)", r.withheld_k))
    if r.held_back:
        rows.append(("held back (run refused)", r.held_back))
    rows.append(("sent" if r.mode == "record" else "counted into tables", r.sent))
    return rows


_PROBLEM_COLUMNS = ("reason", "line", "record", "byte", "column", "what")
#: Rows as a spreadsheet shows the extract: the header is row 1, the first record row 2.
_ISSUE_COLUMNS = ("column", "must be", "reason", "rows", "first rows (header = row 1)")
ROWS_NOTE = "Rows are numbered as a spreadsheet shows the file: the header is row 1, the first record row 2. No values are shown."


def _issue_rows(r: ContributionResult) -> list[tuple]:
    return [(i.column, plain_rule(i.rule), i.reason, i.rows, ", ".join(str(n + 1) for n in i.first_rows)) for i in r.issues]


def _problem_rows(problems: list[dict]) -> list[tuple]:
    """Pre-scan findings as table rows: where and what, never a value from the file."""
    dash = lambda v: "—" if v is None else v  # noqa: E731
    column = lambda p: p["column"] if p["column"] is not None else f"#{p['position']}" if p.get("position") else "—"  # noqa: E731
    return [(p["reason"], dash(p["line"]), dash(p["record"]), dash(p["byte_offset"]), column(p), p["detail"]) for p in problems]


def print_summary(r: ContributionResult, console: Console, report_path: Path | None = None) -> None:
    colour = {"sealed": "green", "dry-run": "cyan", "refused": "red"}[r.status]
    console.print(f"[bold {colour}]{STATUS_TEXT[r.status]}[/]")
    console.print(f"{r.agency_id}  {r.contract}  mode={r.mode}  period={r.period}  extract={r.extract_name}")
    t = Table(show_header=False, box=None, pad_edge=False)
    for label, n in _accounting(r):
        t.add_row(label, f"{n:>10,}")
    console.print(t)
    if r.read_problems:
        pt = Table(title="Problems in the file (all at once; no values shown)", title_justify="left")
        for h in _PROBLEM_COLUMNS:
            pt.add_column(h)
        for row in _problem_rows(r.read_problems[:30]):
            pt.add_row(*map(str, row))
        console.print(pt)
        if len(r.read_problems) > 30:
            console.print(f"... and {len(r.read_problems) - 30} more in the HTML report")
    if r.issues:
        it = Table(title="Problems found (all at once; no values shown)", title_justify="left", caption=ROWS_NOTE, caption_justify="left")
        for h in _ISSUE_COLUMNS:
            it.add_column(h)
        for column, rule, reason, rows, first in _issue_rows(r)[:30]:
            it.add_row(column, rule, reason, f"{rows:,}", first)
        console.print(it)
        if len(r.issues) > 30:
            console.print(f"... and {len(r.issues) - 30} more in the HTML report")
    if r.excluded_by_reason:
        console.print("excluded by reason: " + ", ".join(f"{k}={v}" for k, v in sorted(r.excluded_by_reason.items())))
    if r.k_summary:
        console.print(r.k_summary)
    if r.cube_tables is not None:
        console.print(f"standard tables: {r.cube_tables} tables, {r.cube_cells:,} cells (counts only leave)")
    if r.status != "refused":
        console.print(f"output columns: {', '.join(r.output_columns) if r.output_columns else '(none)'}")
    if r.refusal:
        console.print(f"[red]refused: {r.refusal['reason']}: {r.refusal['message']}[/]")
    if r.bundle_id:
        console.print(f"bundle {r.bundle_id}  sequence {r.sequence}  sha256 {r.bundle_sha256}")
        console.print(f"file: {r.bundle_file} ({r.bundle_bytes:,} bytes)")
    if report_path:
        console.print(f"report: {report_path}")


def write_report(r: ContributionResult, folder: Path, stamp: str) -> Path:
    """Write ``<stamp>_<contract>_<period>.html`` and ``.json`` into ``folder`` (``-2``, ``-3``, ...
    appended when a report of that name exists); return the HTML path."""
    base = folder / f"{stamp}_{r.contract.replace('/', '-')}_{r.period}"
    # Two runs within the same second (a dry run, then the real one) each keep their report.
    n = 1
    while base.with_suffix(".json").exists() or base.with_suffix(".html").exists():
        n += 1
        base = folder / f"{stamp}_{r.contract.replace('/', '-')}_{r.period}-{n}"
    atomic_write(base.with_suffix(".json"), json.dumps(r.to_dict(), indent=2, default=str).encode())
    parts = [f'<div class="box"><b>{esc(STATUS_TEXT[r.status])}</b></div>']
    parts.append("<h2>What was sent</h2>")
    parts.append(
        table(
            ["item", "value"],
            [
                ("agency", r.agency_id),
                ("contract and version", r.contract),
                ("mode", r.mode + (" (only counts leave)" if r.mode == "aggregate" else " (de-identified rows of consenting clients)")),
                ("period", r.period),
                ("extract file", r.extract_name),
                ("extract SHA-256", r.extract_sha256),
                ("bundle id", r.bundle_id or "—"),
                ("sequence", r.sequence or "—"),
                ("bundle file SHA-256", r.bundle_sha256 or "—"),
                ("supersedes", r.supersedes or "—"),
                ("research project (DSA)", r.project or "—"),
            ],
        )
    )
    parts.append("<h2>Every record accounted for</h2>")
    parts.append(table(["", "records"], _accounting(r), numeric=(1,)))
    parts.append(f"<p>Reconciles: <span class='{'ok' if r.reconciles else 'bad'}'>{'yes' if r.reconciles else 'NO'}</span></p>")
    if r.rejected_by_reason:
        parts.append("<h2>Rejected records by reason</h2>")
        parts.append(table(["reason", "records"], sorted(r.rejected_by_reason.items()), numeric=(1,)))
    if r.read_problems:
        parts.append("<h2>Problems in the file</h2><p class='muted'>Lines count from 1 (the header is line 1); records count data records. No values are shown.</p>")
        parts.append(table(list(_PROBLEM_COLUMNS), _problem_rows(r.read_problems)))
    if r.issues:
        parts.append(f"<h2>Problems found</h2><p class='muted'>{ROWS_NOTE}</p>")
        parts.append(table(list(_ISSUE_COLUMNS), _issue_rows(r), numeric=(3,)))
    if r.excluded_by_reason:
        parts.append("<h2>Excluded for consent</h2>")
        parts.append(table(["reason", "records"], sorted(r.excluded_by_reason.items()), numeric=(1,)))
    if r.status != "refused":  # a refused run sent nothing: no "what was sent" sections
        parts.append("<h2>Disclosure check</h2>")
        if r.k_summary:
            parts.append(f"<p>{esc(r.k_summary)}</p>")
        if r.cube_tables is not None:
            parts.append(f"<p>Standard count tables: {r.cube_tables} tables, {r.cube_cells} cells. Only these counts leave.</p>")
        parts.append("<h2>Exact columns that leave</h2>")
        parts.append("<p>" + ", ".join(f"<code>{esc(c)}</code>" for c in r.output_columns) + "</p>")
    if r.refusal:
        parts.append(f"<h2>Why nothing was sent</h2><p class='bad'>{esc(r.refusal['reason'])}: {esc(r.refusal['message'])}</p>")
    html_path = base.with_suffix(".html")
    atomic_write(html_path, page(f"Contribution report — {r.contract} {r.period}", "".join(parts), f"{r.agency_id}, run {stamp}").encode())
    return html_path
