"""Checks anyone can run over a published release's own files (as an evaluator would).

The release's tables are tidy with ``Total`` margins, so every margin relation can be rebuilt from
the files alone and the LP audit re-run without the warehouse.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dvnet.anonymize.disclosure.audit import AuditReport, audit
from dvnet.anonymize.disclosure.profiles import Profile, get_profile
from dvnet.assets.releases.lib.files import read_manifest
from dvnet.anonymize.disclosure.tables import Table


def release_tables(folder: Path) -> tuple[dict, list[Table]]:
    """The manifest and the count tables of a release, read back from its Parquet files."""
    manifest = read_manifest(Path(folder))
    tables = []
    for name, info in manifest["tables"].items():
        if info["kind"] != "count":
            continue
        frame = pd.read_parquet(Path(folder) / "parquet" / f"{name}.parquet")
        dims = [c for c in frame.columns if c not in ("value", "status")]
        tables.append(Table(name, frame, tuple(dims), info["measure"], info["description"]))
    return manifest, tables


def reaudit_release(folder: Path, reasons: dict[str, list[str]] | None = None) -> AuditReport:
    """The LP audit over the release's published files alone; ``reasons`` (the coordinator's
    internal record, ``internal.read_reasons``) says which suppressed cells are sensitive."""
    manifest, tables = release_tables(folder)
    return audit(tables, manifest_profile(manifest), reasons=reasons)


def manifest_profile(manifest: dict) -> Profile:
    """The profile a release was published under, from its manifest."""
    if manifest["profile"]["name"] != "custom":
        return get_profile(manifest["profile"]["name"])
    return get_profile("custom", **{k: v for k, v in manifest["profile"].items() if k not in ("name", "source")})


def small_published_cells(folder: Path) -> int:
    """Published counts between 1 and the profile's threshold (there should be none)."""
    manifest, tables = release_tables(folder)
    threshold = int(manifest["profile"]["threshold"])
    n = 0
    for t in tables:
        f = t.frame
        v = pd.to_numeric(f["value"], errors="coerce")
        n += int(((f["status"] == "published") & (v > 0) & (v < threshold)).sum())
    return n
