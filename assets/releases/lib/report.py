"""The evaluator's HTML report for a release (``templates/release_report.html.j2``): what is in it,
how it was protected, every table's values, an equity section, and charts with alternative text.

Everything shown comes from the published tables and the manifest: a suppressed cell is shown with
the one public mark and never with its reason; the equity section compares published rates only.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display; decided here because reports are written by servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from dvnet.anonymize.disclosure.audit import SUPPRESSED_MARK  # noqa: E402
from dvnet.anonymize.disclosure.tables import TOTAL  # noqa: E402
from dvnet.common.files import atomic_write  # noqa: E402
from dvnet.assets.releases.lib.files import PUBLICATION_PENDING  # noqa: E402
from dvnet.common.templates import render  # noqa: E402

#: A group's rate this many percentage points or more from the network rate is flagged.
EQUITY_THRESHOLD_PP = 10.0
EQUITY_TABLE = "safety_plan_rate_by_equity_group"
#: Every status a release cell can have, in words (the report explains each one it shows).
STATUS_WORDS = {
    "published": "the value is published as computed (a zero is published as 0)",
    SUPPRESSED_MARK: "the value is hidden to protect the people counted; every hidden cell carries this same mark, whatever the cause",
    "undefined: zero denominator": "a rate over no one: the count it would divide by is 0, so there is no rate",
}


@dataclass(frozen=True)
class Chart:
    title: str
    alt: str
    png: str  # base64


@dataclass(frozen=True)
class EquityRow:
    dimension: str
    group: str
    rate: str
    difference: str
    finding: str
    flagged: bool


def _pct(v: float) -> str:
    return f"{100 * v:.1f} %"


def _chart(frame: pd.DataFrame, label: str, title: str, percent: bool = False) -> Chart | None:
    if frame.empty:
        return None
    values = pd.to_numeric(frame["value"], errors="coerce").astype(float)
    published = (frame["status"] == "published").to_numpy()
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(frame) + 1.2))
    ax.barh(frame[label].astype(str), values.fillna(0) * (100 if percent else 1), color=["#3366aa" if p else "#d0d7de" for p in published])
    for i, p in enumerate(published):
        if not p:
            ax.text(0, i, f"  {SUPPRESSED_MARK}", va="center", fontsize=8, color="#555")
    ax.set_title(title, fontsize=11)
    ax.set_xlabel("%" if percent else "count")
    ax.invert_yaxis()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    said = [f"{k}: {(_pct(v) if percent else f'{int(v):,}') if p else s}" for k, v, p, s in zip(frame[label].astype(str), values, published, frame["status"], strict=True)]
    alt = f"Bar chart. {title}. " + "; ".join(said) + "."
    return Chart(title, alt, base64.b64encode(buf.getvalue()).decode())


def _charts(tables: dict[str, tuple[pd.DataFrame, str]], period: str) -> list[Chart]:
    out = []
    if "episodes_by_region_service_risk" in tables:
        f = tables["episodes_by_region_service_risk"][0]
        f = f[(f.period == period) & (f.province == TOTAL) & (f.region == TOTAL) & (f.risk_level == TOTAL) & (f.service_type != TOTAL)]
        out.append(_chart(f, "service_type", f"Service episodes by service type, {period}"))
    if "risk_indicator_prevalence" in tables:
        f = tables["risk_indicator_prevalence"][0]
        f = f[(f.period == period) & (f.service_type == TOTAL)]
        out.append(_chart(f, "indicator", f"Risk indicator prevalence, all services, {period}", percent=True))
    if "referral_acceptance_rate" in tables:
        f = tables["referral_acceptance_rate"][0]
        f = f[(f.period == period) & (f.referring_org_type == TOTAL) & (f.receiving_org_type != TOTAL)]
        out.append(_chart(f, "receiving_org_type", f"Referral acceptance by receiving organisation type, {period}", percent=True))
    if EQUITY_TABLE in tables:
        f = tables[EQUITY_TABLE][0]
        f = f[(f.period == period) & (f.group != TOTAL)].copy()
        f["label"] = f["dimension"] + ": " + f["group"].astype(str)
        out.append(_chart(f, "label", f"Safety plan completed, by equity group, {period}", percent=True))
    return [c for c in out if c]


def _network_rate(f: pd.DataFrame) -> float | None:
    """The period's network rate: a published ``Total`` row (every dimension's counts all episodes)."""
    total = f[(f["group"] == TOTAL) & (f["status"] == "published")]
    return float(total["value"].iloc[0]) if len(total) else None


def equity(frame: pd.DataFrame, period: str, threshold_pp: float = EQUITY_THRESHOLD_PP) -> list[EquityRow]:
    """Each group's published rate against the network rate (the dimension's own ``Total`` row, or
    for a dimension published without one, such as region, the period's), both published; a
    suppressed group is "too small to compare", never estimated."""
    rows = []
    f = frame[frame["period"] == period]
    overall = _network_rate(f)
    for dim, g in f.groupby("dimension", sort=False):
        total = g[g["group"] == TOTAL]
        network = overall if total.empty else _network_rate(total)
        for _, r in g[g["group"] != TOTAL].iterrows():
            status, rate = r["status"], (float(r["value"]) if r["status"] == "published" else None)
            if status == SUPPRESSED_MARK:
                rows.append(EquityRow(dim, str(r["group"]), SUPPRESSED_MARK, "—", "too small to compare (suppressed cell)", False))
            elif rate is None:
                rows.append(EquityRow(dim, str(r["group"]), "—", "—", "no episodes in this group", False))
            elif network is None:
                rows.append(EquityRow(dim, str(r["group"]), _pct(rate), "—", "the network rate is not published: no comparison", False))
            else:
                diff = 100 * (rate - network)
                flagged = abs(diff) >= threshold_pp
                word = "above" if diff > 0 else "below"
                finding = f"{abs(diff):.1f} points {word} the network: look into it" if flagged else "within the threshold"
                rows.append(EquityRow(dim, str(r["group"]), _pct(rate), f"{diff:+.1f}", finding, flagged))
    return rows


def network_rate(frame: pd.DataFrame, period: str) -> str:
    rate = _network_rate(frame[frame["period"] == period])
    return "not published" if rate is None else _pct(rate)


def values_table(name: str, frame: pd.DataFrame, kind: str) -> str:
    """``frame`` as a formatted HTML table (pandas Styler): counts with thousands separators, rates
    as percentages, a hidden cell as the one public mark."""
    shown = frame.copy()
    shown["value"] = pd.to_numeric(shown["value"], errors="coerce") if kind != "text" else shown["value"]
    fmt = (lambda v: _pct(v)) if kind == "rate" else (lambda v: f"{int(v):,}") if kind == "count" else str
    styler = shown.style.hide(axis="index").format(fmt, subset=["value"], na_rep="—").format(escape="html", subset=[c for c in shown.columns if c != "value"])
    hidden = (shown["status"] == SUPPRESSED_MARK).to_numpy()
    styler = styler.format(lambda v: SUPPRESSED_MARK, subset=pd.IndexSlice[shown.index[hidden], ["value"]]) if hidden.any() else styler
    styler = styler.set_table_attributes('class="values"').set_td_classes(pd.DataFrame({c: ["num" if c == "value" else ""] * len(shown) for c in shown.columns}, index=shown.index))
    return styler.set_uuid(name).to_html(doctype_html=False)


def _kind(name: str, manifest: dict, frame: pd.DataFrame) -> str:
    if manifest["tables"].get(name, {}).get("kind") == "count":
        return "count"
    return "rate" if pd.api.types.is_numeric_dtype(frame["value"]) else "text"  # a median is a bucket label


def write_report(path: Path, manifest: dict, tables: dict[str, tuple[pd.DataFrame, str]]) -> None:
    """``report.html`` for a release folder. Suppression totals come from the manifest alone (the
    count tables); per-table figures are counted from the published frames and add up to them."""
    listed = []
    for name, (frame, description) in tables.items():
        status = frame["status"].astype(str)
        kind = _kind(name, manifest, frame)
        listed.append({"name": name, "description": description, "kind": kind, "cells": len(frame),
                       "published": int((status == "published").sum()), "suppressed": int((status == SUPPRESSED_MARK).sum()),
                       "html": values_table(name, frame, kind)})
    shown_statuses = sorted({s for frame, _ in tables.values() for s in frame["status"].astype(str)})
    periods = manifest["periods"]
    eq = tables.get(EQUITY_TABLE, (None,))[0]
    html = render(
        "dvnet.assets.releases.lib", "release_report.html.j2",
        title=f"dvnet release {manifest['release_id']}", subtitle="Published aggregates with small-cell suppression",
        m=manifest, s=manifest["suppression"], tables=listed,
        count_tables=[t for t in listed if t["kind"] == "count"], derived_tables=[t for t in listed if t["kind"] != "count"],
        statuses=[(s, STATUS_WORDS.get(s, s)) for s in shown_statuses],
        charts={p: _charts(tables, p) for p in periods},
        equity={p: equity(eq, p) for p in periods} if eq is not None else {},
        network={p: network_rate(eq, p) for p in periods} if eq is not None else {},
        threshold=EQUITY_THRESHOLD_PP, disclosure=manifest.get("disclosure"),
        # A request's manifest holds its request time as published_at; publication stamps the row (files.stamp_publication).
        published_at=manifest["published_at"] if "requested_at" in manifest else PUBLICATION_PENDING,
    )
    atomic_write(path, html.encode("utf-8"))
