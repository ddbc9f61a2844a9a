"""Nothing in a release folder tells a suppressed cell's value, its reason, or a sum over the
suppressed values: every file is read (DuckDB, CSV, Parquet, manifest, report, anything else),
in every format, and compared with the true values taken from the warehouse."""

from __future__ import annotations

import csv
import html
import json
import re
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from dvnet.anonymize.disclosure.tables import quantity_keys
from dvnet.assets.releases.lib.internal import internal_record_path
from dvnet.assets.warehouse.lib.cubes import RELEASE_TABLES, load_organisations, release_frame
from dvnet.common.network import NetworkPaths, load_network

REASON_WORDS = ("primary", "dominance", "complementary", "numerator", "denominator", "component")
# A published fact, not a suppression reason: the denominator 0 is in the table beside the rate.
ALLOWED_PHRASES = ("undefined: zero denominator",)
NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?")


@pytest.fixture(scope="module")
def truth(published):
    """Per count table: the published frame beside the true value of each cell (warehouse)."""
    root, r = published
    con = duckdb.connect(str(NetworkPaths(root).warehouse), read_only=True)
    try:
        load_organisations(con, load_network(root))
        out = {}
        for spec in RELEASE_TABLES:
            if spec.name not in r.manifest["tables"]:
                continue
            true = release_frame(con, spec, r.manifest["periods"])
            pub = pd.read_parquet(r.folder / "parquet" / f"{spec.name}.parquet")
            dims = ["period", *spec.dims]
            merged = pub.merge(true.astype({d: str for d in dims}).rename(columns={"value": "true"}), on=dims, how="left", validate="one_to_one")
            assert merged["true"].notna().all(), spec.name
            out[spec.name] = merged
        return out
    finally:
        con.close()


def _suppressed_sums(truth: dict[str, pd.DataFrame], reasons: dict[str, list[str]]) -> dict[str, int]:
    """The sums over suppressed true values a release could let slip: overall and per reason (the
    figures manifests used to carry), and per table and per table and reason where large enough
    not to collide by chance with a count of cells or a published count."""
    sums: dict[str, int] = {"all": 0}
    for name, frame in truth.items():
        hidden = (frame["status"] == "suppressed").to_numpy()
        why = np.asarray(reasons[name], dtype=object)
        sums["all"] += int(frame.loc[hidden, "true"].sum())
        sums[name] = int(frame.loc[hidden, "true"].sum())
        for reason in ("primary", "dominance", "complementary"):
            part = int(frame.loc[hidden & (why == reason), "true"].sum())
            sums[reason] = sums.get(reason, 0) + part
            sums[f"{name}/{reason}"] = part
    overall = {"all", "primary", "dominance", "complementary"}
    return {k: v for k, v in sums.items() if v > 0 and (k in overall or v >= 1000)}


def _numbers(text: str) -> set[float]:
    return {float(m.replace(",", "")) for m in NUMBER.findall(text)}


def _strings_and_numbers(obj, strings: list[str], numbers: set[float]) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            strings.append(str(k))
            _strings_and_numbers(v, strings, numbers)
    elif isinstance(obj, list):
        for v in obj:
            _strings_and_numbers(v, strings, numbers)
    elif isinstance(obj, bool) or obj is None:
        return
    elif isinstance(obj, int | float):
        numbers.add(float(obj))
    else:
        strings.append(str(obj))
        numbers |= _numbers(str(obj))


def _read_every_file(folder: Path) -> dict[str, tuple[list[str], set[float], dict[str, pd.DataFrame]]]:
    """Per file: its strings, its numbers, and its tables (by name) where it has tables."""
    out = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = str(path.relative_to(folder))
        strings: list[str] = []
        numbers: set[float] = set()
        tables: dict[str, pd.DataFrame] = {}
        if path.suffix == ".duckdb":
            con = duckdb.connect(str(path), read_only=True)
            try:
                for name, comment in con.execute("SELECT table_name, comment FROM duckdb_tables()").fetchall():
                    strings += [name, comment or ""]
                    tables[name] = con.execute(f'SELECT * FROM "{name}"').df()
            finally:
                con.close()
        elif path.suffix == ".parquet":
            tables[path.stem] = pd.read_parquet(path)
            meta = pq.read_metadata(path).metadata or {}  # schema metadata is a file part too
            strings += [v.decode("utf-8", "replace") for v in meta.values()]
        elif path.suffix == ".csv":
            with path.open(newline="", encoding="utf-8") as fh:
                rows = list(csv.reader(fh))
            tables[path.stem] = pd.read_csv(path, dtype=str, keep_default_na=False)
            strings += [c for row in rows for c in row]
            numbers |= {n for row in rows for c in row for n in _numbers(c)}
        elif path.suffix == ".json":
            _strings_and_numbers(json.loads(path.read_text(encoding="utf-8")), strings, numbers)
        elif path.suffix == ".html":
            text = html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r'src="data:[^"]*"', "", path.read_text(encoding="utf-8"))))
            strings.append(text)
            numbers |= _numbers(text)
        else:
            raw = path.read_bytes()
            strings.append(raw.decode("utf-8", "replace"))
        for frame in tables.values():
            for col in frame.columns:
                strings += frame[col].astype(str).tolist()
                numbers |= set(pd.to_numeric(frame[col], errors="coerce").dropna().astype(float))
        out[rel] = (strings, numbers, tables)
    return out


def test_no_file_holds_a_suppressed_value_a_reason_or_a_sum_of_suppressed_values(published, truth):
    root, r = published
    reasons = json.loads(internal_record_path(NetworkPaths(root).coordinator, r.release_id).read_text())["reasons"]
    files = _read_every_file(r.folder)
    assert {"release.duckdb", "manifest.json", "report.html"} <= set(files)
    assert sum(1 for f in files if f.startswith("csv/")) == sum(1 for f in files if f.startswith("parquet/")) == len(r.manifest["tables"])
    n_suppressed = sum(int((f["status"] == "suppressed").sum()) for f in truth.values())
    assert n_suppressed > 0  # the release does hide cells, so the search below means something

    # 1. At a suppressed cell's place every table file shows no value and the one mark.
    for name, frame in truth.items():
        dims = [c for c in frame.columns if c not in ("value", "status", "true")]
        keys = set(quantity_keys(frame[frame["status"] == "suppressed"], dims, "m"))
        for rel, (_, _, tables) in files.items():
            if name not in tables:
                continue
            t = tables[name]
            at = np.isin(quantity_keys(t.astype({d: str for d in dims}), dims, "m"), list(keys))
            assert at.sum() == len(keys), (rel, name)
            assert (t.loc[at, "status"].astype(str) == "suppressed").all(), (rel, name)
            values = t.loc[at, "value"]
            assert values.isna().all() or (values.astype(str) == "").all(), (rel, name)

    # 2. No reason anywhere: neither as a status, nor as a word in any text.
    for rel, (strings, _, _) in files.items():
        for s in strings:
            text = s.lower()
            for phrase in ALLOWED_PHRASES:
                text = text.replace(phrase, "")
            found = [w for w in REASON_WORDS if re.search(rf"\b{w}\b", text)]
            assert not found, (rel, found)
            assert not text.startswith("suppressed:"), rel

    # 3. No sum over suppressed true values in any file (numbers parsed from every format).
    sums = _suppressed_sums(truth, reasons)
    assert sums, "the release has suppressed values to sum"
    public_counts = {float(v) for f in truth.values() for v in f.loc[f["status"] == "published", "value"].dropna()}
    for rel, (_, numbers, _) in files.items():
        leaked = sorted(k for k, v in sums.items() if float(v) in numbers and float(v) not in public_counts)
        assert not leaked, (rel, leaked)


def test_the_internal_record_keeps_reasons_and_information_loss_outside_the_folder(published):
    root, r = published
    path = internal_record_path(NetworkPaths(root).coordinator, r.release_id)
    assert path.is_file() and not path.is_relative_to(r.folder)
    assert path.stat().st_mode & 0o077 == 0  # owner-only
    record = json.loads(path.read_text())
    assert record["stats"]["primary"] > 0 and "suppressed_total" in record["stats"]
    assert set(record["reasons"]) == {n for n, i in r.manifest["tables"].items() if i["kind"] == "count"}
    assert r.internal["primary"] == record["stats"]["primary"]  # what publish shows the coordinator
    assert not {"primary", "dominance", "complementary", "suppressed_total", "complementary_total"} & set(r.manifest["suppression"])
