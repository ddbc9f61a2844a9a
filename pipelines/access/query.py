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


#: How many of a release's tables a catalog error's hint names.
MAX_TABLES_NAMED = 12


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


def default_release(releases_root: Path) -> Path:
    """The release a query reads when none is named: the newest one not withdrawn (an older release
    still stands when a newer one was withdrawn); the newest when every one was withdrawn."""
    newest = newest_release(releases_root)  # NO_RELEASES before anything else
    withdrawn = {rid for rid, _, _ in withdrawn_releases(releases_root)}
    standing = [d for d in published_releases(releases_root) if d.name not in withdrawn]
    return standing[-1] if standing else newest


def query_releases(releases_root: Path, sql: str, release: str | None = None) -> pd.DataFrame:
    """Run ``sql``; the chosen release (default: ``default_release``) is the default schema, every
    release is ``r_<id>``."""
    default = default_release(releases_root)
    dirs = published_releases(releases_root)
    chosen = next((d for d in dirs if d.name == release), None) if release else default
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
        except duckdb.CatalogException as e:  # a table (or schema) not in the releases: say which are
            tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables WHERE table_catalog = ? ORDER BY 1", [alias(chosen)]).fetchall()]
            shown = ", ".join(tables[:MAX_TABLES_NAMED]) + (f" and {len(tables) - MAX_TABLES_NAMED} more" if len(tables) > MAX_TABLES_NAMED else "")
            raise DvnetError("QUERY_FAILED", str(e).splitlines()[0],
                             hint=f"release {chosen.name} holds the tables {shown}; every release is also r_<release id>: list all with \"SHOW ALL TABLES\"") from None  # fmt: skip
        except duckdb.Error as e:
            raise DvnetError("QUERY_FAILED", str(e).splitlines()[0]) from None
    finally:
        con.close()
