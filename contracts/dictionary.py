"""The data dictionary for stewards, generated from the contracts (Markdown and HTML).

For each contract: what a row is, every field with its type, whether it is required, its role,
what happens to it before it leaves, and its checks; then the output columns and the standard
count tables sent in aggregate mode. Given the network's geography, also the regions a postal
code can become, their parent areas and the postal prefixes of each.
"""

from __future__ import annotations

import html
from pathlib import Path

from dvnet.contracts.geography import UNKNOWN, Geography
from dvnet.contracts.registry import Contract, all_contracts
from dvnet.contracts.roles import Transform

LEAVES_AS = {
    Transform.DROP: "never leaves",
    Transform.PSEUDONYM: "keyed pseudonym (agency key)",
    Transform.LINKAGE_INPUT: "linkage token input, then dropped",
    Transform.AGE_BAND: "age band",
    Transform.POSTAL_REGION: "region",
    Transform.QUARTER: "quarter",
    Transform.MONTH: "month",
    Transform.DAYS_BUCKET: "bucket",
    Transform.KEEP: "as is",
    Transform.CONSENT: "consent filter only; never leaves",
}
TYPE_NAMES = {"string": "text", "string[python]": "text", "string[pyarrow]": "text", "datetime64[ns]": "date", "boolean": "true/false", "Int64": "whole number"}


def _rows(c: Contract) -> list[list[str]]:
    rows = []
    for f in c.fields():
        leaves = LEAVES_AS[f.transform] + (f" → `{f.output}`" if f.output else "")
        rows.append([f"`{f.name}`", TYPE_NAMES.get(f.dtype, f.dtype), "no" if f.nullable else "yes", f.role.value, leaves, f.description])
    return rows


GEOGRAPHY_INTRO = (f"A postal code leaves only as the region its first characters lie in, from the network's declared geography; "
                   f"a code with no declared prefix, or none at all, leaves as `{UNKNOWN}`.")  # fmt: skip


def _geography_rows(g: Geography) -> list[list[str]]:
    return [[r.id, r.name or "", r.parent_area, " ".join(r.postal_prefixes)] for r in g.regions]


def markdown(geography: Geography | None = None) -> str:
    out = ["# dvnet data dictionary", "", "Generated from the contracts in `contracts/`. Do not edit by hand.", ""]
    if geography is not None:
        out += ["## The network's geography", "", GEOGRAPHY_INTRO, "", "| region | name | parent area | postal prefixes |", "|---|---|---|---|"]
        out += ["| " + " | ".join(r) + " |" for r in _geography_rows(geography)]
        out += [""]
    for c in all_contracts():
        out += [f"## `{c.id}` version {c.version}: {c.title}", "", (c.source.__doc__ or "").strip(), ""]
        out += [f"Minimum tier: {c.min_tier}. Modes: {', '.join(c.modes)}. Event date: `{c.event_date}`.", ""]
        out += ["| field | type | required | role | leaves as | description |", "|---|---|---|---|---|---|"]
        out += ["| " + " | ".join(r) + " |" for r in _rows(c)]
        out += ["", f"Columns that leave in record mode: {', '.join(f'`{x}`' for x in c.output_columns())}.", ""]
        if c.standard_tables:
            out += ["Standard count tables (aggregate mode):", ""]
            out += [f"- `{t.name}`: {t.description} Dimensions: {', '.join(t.dims)}." for t in c.standard_tables]
            out += [""]
    return "\n".join(out)


def html_page(geography: Geography | None = None) -> str:
    parts = ["<h1>dvnet data dictionary</h1><p>Generated from the contracts. Do not edit by hand.</p>"]
    if geography is not None:
        parts.append(f"<h2>The network's geography</h2><p>{html.escape(GEOGRAPHY_INTRO.replace('`', ''))}</p>"
                     "<table><tr><th>region</th><th>name</th><th>parent area</th><th>postal prefixes</th></tr>")  # fmt: skip
        parts += ["<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in r) + "</tr>" for r in _geography_rows(geography)]
        parts.append("</table>")
    for c in all_contracts():
        parts.append(f"<h2>{html.escape(c.id)} v{c.version}: {html.escape(c.title)}</h2><p>{html.escape((c.source.__doc__ or '').strip())}</p>")
        parts.append(f"<p>Minimum tier {c.min_tier}; modes {html.escape(', '.join(c.modes))}.</p><table><tr><th>field</th><th>type</th><th>required</th><th>role</th><th>leaves as</th><th>description</th></tr>")
        for r in _rows(c):
            parts.append("<tr>" + "".join(f"<td>{html.escape(v.replace('`', ''))}</td>" for v in r) + "</tr>")
        parts.append("</table>")
        if c.standard_tables:
            parts.append("<p>Standard count tables:</p><ul>" + "".join(f"<li><b>{html.escape(t.name)}</b>: {html.escape(t.description)}</li>" for t in c.standard_tables) + "</ul>")
    css = "body{font-family:system-ui,sans-serif;max-width:75rem;margin:2rem auto;padding:0 1rem}table{border-collapse:collapse}td,th{border:1px solid #ccd;padding:.25rem .5rem;text-align:left;vertical-align:top}th{background:#eef}"
    return f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>dvnet data dictionary</title><style>{css}</style></head><body>{''.join(parts)}</body></html>"


def write_dictionary(folder: Path, geography: Geography | None = None) -> tuple[Path, Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    md, page = folder / "data-dictionary.md", folder / "data-dictionary.html"
    md.write_text(markdown(geography), encoding="utf-8")
    page.write_text(html_page(geography), encoding="utf-8")
    return md, page
