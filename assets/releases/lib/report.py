"""The evaluator's HTML report for a release: what is in it, how it was protected, and charts.

Charts use published values only; suppressed cells are shown as gaps and said so.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display; decided here because reports are written by servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from dvnet.anonymize.disclosure.tables import TOTAL  # noqa: E402
from dvnet.common.files import atomic_write  # noqa: E402
from dvnet.common.htmlpage import esc, page, table  # noqa: E402


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return f'<img alt="chart" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _bar(frame: pd.DataFrame, label: str, title: str, percent: bool = False) -> str:
    if frame.empty:
        return ""
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(frame) + 1.2))
    values = pd.to_numeric(frame["value"], errors="coerce").astype(float)
    shown = values.fillna(0) * (100 if percent else 1)
    colors = ["#3366aa" if s == "published" else "#d0d7de" for s in frame["status"]]
    ax.barh(frame[label].astype(str), shown, color=colors)
    for i, (v, s) in enumerate(zip(values, frame["status"], strict=True)):
        if s != "published":
            ax.text(0, i, "  suppressed", va="center", fontsize=8, color="#555")
    ax.set_title(title, fontsize=11)
    ax.set_xlabel("%" if percent else "count")
    ax.invert_yaxis()
    return _png(fig)


def _charts(tables: dict[str, tuple[pd.DataFrame, str]], period: str) -> list[str]:
    out = []
    if "episodes_by_region_service_risk" in tables:
        f = tables["episodes_by_region_service_risk"][0]
        f = f[(f.period == period) & (f.province == TOTAL) & (f.region == TOTAL) & (f.risk_level == TOTAL) & (f.service_type != TOTAL)]
        out.append(_bar(f, "service_type", f"Service episodes by service type, {period}"))
    if "risk_indicator_prevalence" in tables:
        f = tables["risk_indicator_prevalence"][0]
        f = f[(f.period == period) & (f.service_type == TOTAL)]
        out.append(_bar(f, "indicator", f"Risk indicator prevalence, all services, {period}", percent=True))
    if "referral_acceptance_rate" in tables:
        f = tables["referral_acceptance_rate"][0]
        f = f[(f.period == period) & (f.referring_org_type == TOTAL) & (f.receiving_org_type != TOTAL)]
        out.append(_bar(f, "receiving_org_type", f"Referral acceptance by receiving organisation type, {period}", percent=True))
    if "safety_plan_rate_by_equity_group" in tables:
        f = tables["safety_plan_rate_by_equity_group"][0]
        f = f[(f.period == period) & (f.group != TOTAL) & f.dimension.isin(["gender", "indigenous_identity", "disability", "language"])].copy()
        f["label"] = f["dimension"] + ": " + f["group"].astype(str)
        out.append(_bar(f, "label", f"Safety plan completed, by equity group, {period}", percent=True))
    return [c for c in out if c]


def write_report(path: Path, manifest: dict, tables: dict[str, tuple[pd.DataFrame, str]]) -> None:
    s = manifest["suppression"]
    parts = [
        '<div class="box">',
        f"<b>Release {esc(manifest['release_id'])}</b>: periods {esc(', '.join(manifest['periods']))}; "
        f"profile <code>{esc(manifest['profile']['name'])}</code>; {manifest['contributing_agencies']} contributing agencies.<br>",
        f"{esc(manifest['audit']['summary'])}",
        "</div>",
        "<h2>How to read it</h2>",
        "<p>Every table is tidy: one column per dimension, where <code>Total</code> is the margin over that dimension, then "
        "<code>value</code> and <code>status</code>. A suppressed cell has no value and the status <code>suppressed</code>, "
        "whatever the reason (a small count, a cell mostly from one agency, or a cell hidden so that another cannot be worked out "
        "from the totals): the reason would tell a range. A zero is published as 0, never suppressed. Rates are computed from "
        "published counts and published exactly when both counts are (0 % and 100 % included); otherwise the rate is "
        "<code>suppressed</code>.</p>",
        "<p>Open <code>release.duckdb</code> read-only (<code>duckdb -readonly release.duckdb</code>), or the CSV/Parquet files, "
        "or run <code>dvnet query \"SHOW ALL TABLES\"</code>.</p>",
        "<h2>Protection</h2>",
        table(["cells", "published", "suppressed", "method"], [(s["cells"], s["published"], s["suppressed"], s["method"])], numeric=(0, 1, 2)),
        "<h2>Charts</h2>",
    ]
    for period in manifest["periods"]:
        parts += _charts(tables, period)
    parts.append("<h2>Tables</h2>")
    rows = []
    for name, (frame, description) in tables.items():
        status = frame["status"].astype(str)
        rows.append((name, description, len(frame), int((status == "published").sum()), int((status == "suppressed").sum())))
    parts.append(table(["table", "description", "cells", "published", "suppressed"], rows, numeric=(2, 3, 4)))
    atomic_write(path, page(f"dvnet release {manifest['release_id']}", "".join(parts), "Published aggregates with small-cell suppression").encode("utf-8"))
