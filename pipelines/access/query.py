"""Read-only SQL over published releases only.

The releases are attached read-only into an in-memory DuckDB; then external access is switched off
and the configuration locked, so a query cannot attach the warehouse, read a file or write one.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd

from dvnet.assets.releases.lib.files import MANIFEST, newest_release, published_releases
from dvnet.contracts.errors import DvnetError


def alias(release_dir: Path) -> str:
    return "r_" + "".join(c if c.isalnum() else "_" for c in release_dir.name)


def withdrawn_releases(releases_root: Path) -> list[tuple[str, str, str]]:
    """(id, when, reason) of every withdrawn release (its manifest says so; it is still served)."""
    out = []
    for d in published_releases(releases_root):
        manifest = json.loads((d / MANIFEST).read_text(encoding="utf-8"))
        if "withdrawn" in manifest:
            out.append((d.name, manifest["withdrawn"]["at"], manifest["withdrawn"]["reason"]))
    return out


def query_releases(releases_root: Path, sql: str, release: str | None = None) -> pd.DataFrame:
    """Run ``sql``; the chosen (or newest) release is the default schema, every release is ``r_<id>``."""
    newest = newest_release(releases_root)  # NO_RELEASES before anything else
    dirs = published_releases(releases_root)
    chosen = next((d for d in dirs if d.name == release), None) if release else newest
    if chosen is None:
        raise DvnetError("RELEASE_UNKNOWN", f"no release named {release}", hint="known: " + ", ".join(d.name for d in dirs))
    con = duckdb.connect(":memory:")
    try:
        for d in dirs:
            con.execute(f"ATTACH '{d / 'release.duckdb'}' AS {alias(d)} (READ_ONLY)")
        con.execute(f"USE {alias(chosen)}")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        try:
            return con.execute(sql).df()
        except duckdb.Error as e:
            raise DvnetError("QUERY_FAILED", str(e).splitlines()[0]) from None
    finally:
        con.close()
