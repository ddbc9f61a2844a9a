"""The evaluator reads the release in report.html: every table's values (a hidden cell shows the one
public mark), each status explained, one set of suppression totals agreeing with the manifest, a
link to each CSV and Parquet file, the disclosure record, charts with real alternative text, and an
equity section computed from the published rates only."""

from __future__ import annotations

import html
import re

import pandas as pd
from chromium_page import needs_chromium, open_page

from dvnet.anonymize.disclosure.tables import TOTAL
from dvnet.assets.releases.lib.report import EQUITY_TABLE, EQUITY_THRESHOLD_PP, STATUS_WORDS


def _section(text: str, ident: str, end: str = "</section>") -> str:
    return text.split(f'id="{ident}"', 1)[1].split(end, 1)[0]


def _cells(fragment: str) -> list[str]:
    return [html.unescape(c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", fragment, re.S)]


def test_every_table_s_values_are_in_the_report_with_the_one_mark(published):
    _, r = published
    text = (r.folder / "report.html").read_text(encoding="utf-8")
    for name in r.manifest["tables"]:
        frame = pd.read_parquet(r.folder / "parquet" / f"{name}.parquet")
        section = _section(text, f"t-{name}")
        rows = re.findall(r"<tr>(.*?)</tr>", section.split("<tbody>", 1)[1], re.S)
        assert len(rows) == len(frame), name
        values = [_cells(row)[list(frame.columns).index("value")] for row in rows]
        hidden = (frame["status"] == "suppressed").to_numpy()
        assert [v == "suppressed" for v in values] == list(hidden), name
        shown = frame.loc[~hidden & (frame["status"] == "published"), "value"]
        if r.manifest["tables"][name]["kind"] == "count":  # counts with thousands separators, as published
            assert [v for v, h in zip(values, hidden, strict=True) if not h] == [f"{int(v):,}" for v in frame.loc[~hidden, "value"]], name
        assert len(shown) == 0 or any(v not in ("suppressed", "—") for v in values), name
        assert f'href="csv/{name}.csv"' in section and f'href="parquet/{name}.parquet"' in section
        assert (r.folder / "csv" / f"{name}.csv").is_file() and (r.folder / "parquet" / f"{name}.parquet").is_file()


def test_statuses_totals_disclosure_record_and_alt_text(published):
    _, r = published
    text = (r.folder / "report.html").read_text(encoding="utf-8")
    statuses = {s for name in r.manifest["tables"] for s in pd.read_parquet(r.folder / "parquet" / f"{name}.parquet")["status"]}
    assert {"published", "suppressed"} <= statuses
    explained = _section(text, "statuses", "</dl>")
    for status in statuses:
        assert f"<dt><code>{html.escape(status)}</code></dt><dd>{html.escape(STATUS_WORDS[status])}</dd>" in explained, status

    s = r.manifest["suppression"]
    totals = _cells(_section(text, "suppression-totals", "</table>"))
    assert totals[:3] == [f"{s['cells']:,}", f"{s['published']:,}", f"{s['suppressed']:,}"]
    listed = re.findall(r'<tr><td><a href="#t-([^"]+)">.*?</a></td><td>.*?</td><td class="num">([\d,]+)</td>\s*<td class="num">([\d,]+)</td><td class="num">([\d,]+)</td>',
                        _section(text, "table-list", "</table>"), re.S)
    assert {n for n, *_ in listed} == set(r.manifest["tables"])
    counts = [tuple(int(x.replace(",", "")) for x in rest) for n, *rest in listed if r.manifest["tables"][n]["kind"] == "count"]
    assert tuple(map(sum, zip(*counts, strict=True))) == (s["cells"], s["published"], s["suppressed"])  # one set of totals

    record = _section(text, "disclosure-record", "</table>")
    assert all(f"<code>{k}</code> = {html.escape(str(v))}" in record for k, v in r.manifest["profile"].items()), record
    assert html.escape(r.manifest["audit"]["summary"]) in record
    # The audit counts distinct values, the totals count table cells: the page says so, never two
    # unexplained numbers for the same thing.
    assert "distinct suppressed values" in r.manifest["audit"]["summary"] and "counts each hidden value once" in " ".join(text.split())

    alts = [html.unescape(a) for a in re.findall(r'<img alt="([^"]*)"', text)]
    assert alts and all(a.startswith("Bar chart. ") and ": " in a.split(". ", 2)[2] for a in alts), alts
    assert 'alt="chart"' not in text


def test_the_equity_section_compares_published_rates_with_the_network_rate(published):
    _, r = published
    text = (r.folder / "report.html").read_text(encoding="utf-8")
    period = r.manifest["periods"][0]
    frame = pd.read_parquet(r.folder / "parquet" / f"{EQUITY_TABLE}.parquet")
    frame = frame[frame["period"] == period]
    rows = re.findall(r"<tr>(.*?)</tr>", _section(text, f"equity-{period}", "</table>").split("<tbody>", 1)[1], re.S)
    shown = {(c[0], c[1]): c for c in map(_cells, rows)}
    groups = frame[frame["group"] != TOTAL]
    assert len(shown) == len(groups) and set(groups["dimension"]) >= {"gender", "indigenous_identity", "disability", "language"}
    totals = frame[frame["group"] == TOTAL].set_index("dimension")
    overall = float(totals.loc[totals["status"] == "published", "value"].iloc[0])
    network = {d: overall if d not in totals.index else float(totals.loc[d, "value"]) for d in frame["dimension"].unique()
               if d not in totals.index or totals.loc[d, "status"] == "published"}
    assert "region" in network and "region" not in totals.index  # regions are compared with the whole network
    kinds = set()
    for _, g in groups.iterrows():
        cells = shown[(g["dimension"], g["group"])]
        if g["status"] == "suppressed":
            assert cells[2] == "suppressed" and cells[4] == "too small to compare (suppressed cell)"
            kinds.add("small")
        elif g["status"] == "published" and g["dimension"] in network:
            diff = 100 * (float(g["value"]) - network[g["dimension"]])
            assert cells[3] == f"{diff:+.1f}"
            assert ("look into it" in cells[4]) == (abs(diff) >= EQUITY_THRESHOLD_PP), cells
            kinds.add("flagged" if abs(diff) >= EQUITY_THRESHOLD_PP else "within")
    assert "small" in kinds and "within" in kinds, kinds  # the release exercises both
    assert f"{EQUITY_THRESHOLD_PP:g} percentage points" in text or f"{EQUITY_THRESHOLD_PP} percentage points" in text


@needs_chromium
def test_the_release_report_in_headless_chromium(published, tmp_path):
    """The browser builds the page with the values tables, the equity section and the charts."""
    _, r = published
    dom = open_page(r.folder / "report.html", tmp_path / "release_report.png", tmp_path / "chromium")
    assert dom.count('class="values-section"') == len(r.manifest["tables"])
    assert '<h2 id="equity">Equity: safety plans across communities</h2>' in dom and 'class="equity"' in dom
    assert "too small to compare" in dom and dom.count('<img alt="Bar chart. ') >= 3


def test_equity_flags_beyond_the_threshold_and_never_estimates_a_hidden_group():
    from dvnet.assets.releases.lib.report import equity

    f = pd.DataFrame({
        "period": ["Q"] * 9,
        "dimension": ["gender"] * 6 + ["language"] * 2 + ["region"],
        "group": [TOTAL, "a", "b", "c", "d", "e", TOTAL, "x", "r"],
        "value": pd.array([0.5, 0.61, 0.45, None, None, 0.39, None, 0.9, 0.75], dtype="Float64"),
        "status": ["published", "published", "published", "suppressed", "undefined: zero denominator", "published", "suppressed", "published", "published"],
    })  # fmt: skip
    rows = {(e.dimension, e.group): e for e in equity(f, "Q", threshold_pp=10)}
    assert rows["gender", "a"].flagged and rows["gender", "a"].difference == "+11.0" and "above" in rows["gender", "a"].finding
    assert not rows["gender", "b"].flagged and rows["gender", "b"].finding == "within the threshold"
    assert rows["gender", "e"].flagged and "below" in rows["gender", "e"].finding
    assert rows["gender", "c"].rate == "suppressed" and rows["gender", "c"].finding == "too small to compare (suppressed cell)"
    assert rows["gender", "d"].finding == "no episodes in this group"
    assert rows["language", "x"].finding == "the network rate is not published: no comparison" and not rows["language", "x"].flagged
    assert rows["region", "r"].difference == "+25.0" and rows["region", "r"].flagged  # no Total of its own: the network's


def test_every_value_column_has_a_type_in_every_format(published):
    """A column whose every cell is suppressed still says what it holds: a count is an integer, a
    rate a decimal, the median's bucket text, in DuckDB and in Parquet, never the null type."""
    import duckdb
    import pyarrow.parquet as pq

    _, r = published
    with duckdb.connect(str(r.folder / "release.duckdb"), read_only=True) as con:
        types = dict(con.execute("SELECT table_name, data_type FROM information_schema.columns WHERE column_name = 'value'").fetchall())
    assert set(types) == set(r.manifest["tables"])
    assert '"NULL"' not in types.values() and "NULL" not in types.values(), types
    for name in r.manifest["tables"]:
        assert str(pq.read_schema(r.folder / "parquet" / f"{name}.parquet").field("value").type) != "null", name
    assert types["median_days_to_first_contact"] == "VARCHAR"
