"""Everything in a release folder is published: no file holds a suppressed cell's value or reason,
nor any sum over suppressed values; those stay in the coordinator's record."""

from __future__ import annotations

import json
import re

import duckdb
import pandas as pd

from dvnet.assets.releases.lib.records import reasons_of, records_root
from dvnet.common.network import NetworkPaths

REASON_WORDS = ("suppressed:", "primary", "complementary", "dominance", "numerator", "denominator", "earlier release", "suppressed_total", "complementary_total")


def _suppressed_sums(records: dict[str, pd.DataFrame]) -> set[int]:
    """Every sum over hidden true counts an attacker would want: overall, per reason, per table, per
    table and reason (and each single hidden count of 100 or more)."""
    sums = set()
    frames = []
    for name, rec in records.items():
        hidden = rec[rec["published_value"].isna()].assign(table=name)
        frames.append(hidden)
        sums.add(int(hidden["true_value"].sum()))
        for _, g in hidden.groupby("reason"):
            sums.add(int(g["true_value"].sum()))
    everything = pd.concat(frames)
    sums.add(int(everything["true_value"].sum()))
    for _, g in everything.groupby("reason"):
        sums.add(int(g["true_value"].sum()))
    sums |= {int(v) for v in everything["true_value"] if v >= 100}
    return {s for s in sums if s >= 100}  # small numbers are everywhere (cell counts, dates)


def _numbers(text: str) -> set[int]:
    return {int(x) for x in re.findall(r"(?<![\w.])\d+(?![\w.])", text)}


def test_no_file_of_a_release_holds_a_hidden_value_a_reason_or_a_sum_over_hidden_values(published):
    root, release = published
    folder = release.folder
    records = reasons_of(NetworkPaths(root), release.release_id)
    assert records, "the coordinator's record exists"
    assert (records_root(NetworkPaths(root)) / release.release_id).is_dir()
    assert not (folder / "record.json").exists()
    # Every hidden cell carries the one mark and no value, in every format.
    for name, rec in records.items():
        hidden = rec["published_value"].isna().to_numpy()
        csv = pd.read_csv(folder / "csv" / f"{name}.csv", dtype=str, keep_default_na=False)
        parquet = pd.read_parquet(folder / "parquet" / f"{name}.parquet")
        with duckdb.connect(str(folder / "release.duckdb"), read_only=True) as db:
            stored = db.execute(f'SELECT * FROM "{name}"').df()
        for frame in (csv, parquet, stored):
            assert len(frame) == len(rec)
            assert set(frame["status"].astype(str)) <= {"published", "suppressed"}
            assert (frame.loc[hidden, "status"] == "suppressed").all()
        assert (csv.loc[hidden, "value"] == "").all()
        assert parquet.loc[hidden, "value"].isna().all() and stored.loc[hidden, "value"].isna().all()
    # No reason, and no sum over hidden values, in any text file of the folder.
    sums = _suppressed_sums(records)
    manifest = json.loads((folder / "manifest.json").read_text())
    # Published values, and how many cells each table and the release have, publish and hide: an
    # equal number elsewhere in a file is one of those, not a sum (the audit takes them as known).
    published_values = {int(v) for rec in records.values() for v in rec["published_value"].dropna()}
    published_values |= {int(info["cells"]) for info in manifest["tables"].values()} | set(manifest["suppression"].values())
    for rec in records.values():
        hidden = int(rec["published_value"].isna().sum())
        published_values |= {hidden, len(rec) - hidden}
    for path in folder.rglob("*"):
        if path.suffix not in (".json", ".html", ".csv"):
            continue
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".html":  # the page's words and numbers, not its styling or images
            text = re.sub(r"<style[^>]*>.*?</style>", "", text, flags=re.S)
            text = re.sub(r"<[^>]+>", " ", text)
        lowered = text.lower().replace("dominance_p", "")  # the profile's setting, not a reason
        for word in REASON_WORDS:
            assert word not in lowered, f"{path.name} says '{word}'"
        leaked = (_numbers(text) & sums) - published_values
        assert not leaked, f"{path.name} holds a sum over suppressed values"
    assert set(manifest["suppression"]) == {"cells", "published", "suppressed"}
