"""The steward's report of what leaves the building: a terminal summary and an HTML page.

Only counts, column names, rule names, reason codes, row numbers, ids and hashes; no values.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd

from rich.console import Console
from rich.table import Table

from dvnet.pipelines.contributor.run import ContributionResult
from dvnet.common.decisions import Decision, current
from dvnet.common.files import atomic_write
from dvnet.common.templates import render
from dvnet.pipelines.contributor.wording import absent_line, lifting, plain_rule, whole_file_lines

STATUS_TEXT = {
    "sealed": "SEALED: the bundle is in the outbox, ready to send to the coordinator",
    "dry-run": "DRY RUN: everything was checked; nothing was sealed",
    "refused": "REFUSED: nothing leaves; fix the problems below and run again",
}


def _accounting(r: ContributionResult) -> list[tuple[str, int]]:
    rows = [("records read", r.records_read), ("rejected (contract)", r.rejected)]
    if r.mode == "record":
        rows.append(("excluded (no consent / expired)", r.excluded_consent))
        rows.append(("withheld (k-anonymity)", r.withheld_k))
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
    for warning in r.warnings:
        console.print(warning, style="yellow", markup=False, highlight=False)
    if r.fields_absent:
        console.print(absent_line(r.fields_absent), markup=False, highlight=False)
    whole_file, problems = whole_file_lines(r.read_problems)
    for line in whole_file:
        console.print(line, style="red", markup=False, highlight=False)
    if problems:
        pt = Table(title="Problems in the file (all at once; no values shown)", title_justify="left")
        for h in _PROBLEM_COLUMNS:
            pt.add_column(h)
        for row in _problem_rows(problems[:30]):
            pt.add_row(*map(str, row))
        console.print(pt)
        if len(problems) > 30:
            console.print(f"... and {len(problems) - 30} more in the HTML report")
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
        if r.counts is not None:
            console.print("every count that leaves is shown, table by table, in the HTML report")
    if r.status != "refused":
        console.print(f"output columns: {', '.join(r.output_columns) if r.output_columns else '(none)'}")
    if r.refusal:
        console.print(f"[red]refused: {r.refusal['reason']}: {r.refusal['message']}[/]")
        if lift := lifting(r.refusal):
            console.print(lift, markup=False, highlight=False)
    if r.bundle_id:
        console.print(f"bundle {r.bundle_id}  sequence {r.sequence}  sha256 {r.bundle_sha256}")
        console.print(f"file: {r.bundle_file} ({r.bundle_bytes:,} bytes)")
    if report_path:
        console.print(f"report: {report_path}")


def count_tables(r: ContributionResult) -> list[tuple[str, list[str], list[tuple]]]:
    """Aggregate mode: the count tables that leave, as (table, columns, rows) with each table's
    own dimensions (the payload has one column per dimension of any table, null where not its own)."""
    if r.counts is None:
        return []
    frame = r.counts.to_pandas()
    out = []
    for name, g in frame.groupby("table_name", sort=False):
        dims = [c for c in g.columns if c not in ("table_name", "n") and g[c].notna().any()]
        out.append((str(name), [*dims, "n"], [tuple("—" if pd.isna(v) else v for v in row) for row in g[[*dims, "n"]].itertuples(index=False)]))
    return out


def decision_rows(decisions: list[Decision], today: dt.date) -> list[dict[str, str]]:
    """The agency's current decisions as the report cites them: what was adopted or stopped, and
    when it is reviewed; who decided and why stay in the signed log."""
    return [{"decision": d.id, "change": d.change, "kind": d.kind, "subject": d.subject, "decided_on": d.decided_on,
             "review_date": d.review_date + (" (due)" if d.due(today) else "")} for d in current(decisions)]  # fmt: skip


def write_report(r: ContributionResult, folder: Path, stamp: str, decisions: list[Decision] = ()) -> Path:
    """Write ``<stamp>_<contract>_<period>.html`` (``templates/steward_report.html.j2``) and ``.json``
    into ``folder`` (``-2``, ``-3``, ... appended when a report of that name exists); return the HTML path.
    ``decisions``: the agency's decision log (``common.decisions.in_agency_folder``); its current ones are cited."""
    base = folder / f"{stamp}_{r.contract.replace('/', '-')}_{r.period}"
    # Two runs within the same second (a dry run, then the real one) each keep their report.
    n = 1
    while base.with_suffix(".json").exists() or base.with_suffix(".html").exists():
        n += 1
        base = folder / f"{stamp}_{r.contract.replace('/', '-')}_{r.period}-{n}"
    cited = decision_rows(list(decisions), dt.datetime.now(dt.UTC).date())
    atomic_write(base.with_suffix(".json"), json.dumps({**r.to_dict(), "decisions": cited}, indent=2, default=str).encode())
    whole_file, problems = whole_file_lines(r.read_problems)
    sent = [
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
    ]
    html = render(
        "dvnet.pipelines.contributor", "steward_report.html.j2",
        title=f"Contribution report — {r.contract} {r.period}", subtitle=f"{r.agency_id}, run {stamp}",
        r=r, status_text=STATUS_TEXT[r.status], sent=sent, accounting=_accounting(r),
        whole_file=whole_file, problem_columns=_PROBLEM_COLUMNS, problems=_problem_rows(problems),
        issue_columns=_ISSUE_COLUMNS, issues=_issue_rows(r), rows_note=ROWS_NOTE,
        counts=count_tables(r), decisions=[tuple(d.values()) for d in cited], lift=lifting(r.refusal), absent=absent_line(r.fields_absent) if r.fields_absent else None,
    )
    html_path = base.with_suffix(".html")
    atomic_write(html_path, html.encode())
    return html_path
