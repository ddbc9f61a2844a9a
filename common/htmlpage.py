"""A tiny HTML page builder for reports people read (steward report, directory, data dictionary).

Everything inserted is escaped; pages are self-contained (inline CSS, no scripts, no network).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:72rem;color:#1f2933;line-height:1.45;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #d9e2ec;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.92rem}th,td{border:1px solid #d9e2ec;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f0f4f8}td.num{text-align:right;font-variant-numeric:tabular-nums}.muted{color:#627d98}
.ok{color:#1f7a3d;font-weight:600}.bad{color:#b42318;font-weight:600}.box{background:#f8fafc;border:1px solid #d9e2ec;padding:.8rem 1rem;border-radius:6px}
code{background:#f0f4f8;padding:0 .25rem;border-radius:3px}
"""


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], numeric: Sequence[int] = ()) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{esc(v)}</td>' if i in numeric else f"<td>{esc(v)}</td>" for i, v in enumerate(r)) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def page(title: str, body: str, subtitle: str = "") -> str:
    sub = f'<p class="muted">{esc(subtitle)}</p>' if subtitle else ""
    return f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title><style>{CSS}</style></head><body><h1>{esc(title)}</h1>{sub}{body}</body></html>'
