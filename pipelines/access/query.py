"""Read-only SQL over published releases only.

The releases are attached read-only into an in-memory DuckDB; then external access is switched off
and the configuration locked, so a query cannot attach the warehouse, read a file or write one.

A query is also bounded, so none runs forever or takes the machine's memory: it is interrupted after
``time_limit`` seconds (``QUERY_TIME_LIMIT``), DuckDB works within ``MEMORY_LIMIT`` and never spills
to disk (no temporary directory: an out-of-memory query is ``QUERY_FAILED``), and the result is
read in chunks, at most ``MAX_ROWS`` rows (``QUERY_TOO_LARGE``: the rows are not all materialised
first, as a whole-result fetch would).
"""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import pandas as pd

from dvnet.assets.releases.lib.files import newest_release, published_releases, read_manifest
from dvnet.common.sql_text import sql_string
from dvnet.contracts.errors import DvnetError
from dvnet.pipelines.access.limits import MAX_ROWS, MEMORY_LIMIT, TIME_LIMIT_SECONDS


#: How many of a release's tables a catalog error's hint names.
MAX_TABLES_NAMED = 12
_CHUNK_VECTORS = 16  # rows fetched at a time: 16 DuckDB vectors of 2,048


def alias(release_dir: Path) -> str:
    return "r_" + "".join(c if c.isalnum() else "_" for c in release_dir.name)


def withdrawn_releases(releases_root: Path) -> list[tuple[str, str, str]]:
    """(id, when, reason) of every withdrawn release (its manifest says so; it is still served)."""
    out = []
    for d in published_releases(releases_root):
        manifest = read_manifest(d)
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


def query_releases(releases_root: Path, sql: str, release: str | None = None, *, time_limit: float = TIME_LIMIT_SECONDS) -> pd.DataFrame:
    """Run ``sql``; the chosen release (default: ``default_release``) is the default schema, every
    release is ``r_<id>``. Stopped after ``time_limit`` seconds (``QUERY_TIME_LIMIT``); more than
    ``MAX_ROWS`` rows is ``QUERY_TOO_LARGE``."""
    default = default_release(releases_root)
    dirs = published_releases(releases_root)
    chosen = next((d for d in dirs if d.name == release), None) if release else default
    if chosen is None:
        raise DvnetError("RELEASE_UNKNOWN", f"no release named {release}", hint="known: " + ", ".join(d.name for d in dirs))
    con = duckdb.connect(":memory:")
    timer = threading.Timer(time_limit, con.interrupt)
    try:
        for d in dirs:
            _attach(con, d)
        con.execute(f"USE {alias(chosen)}")
        con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        con.execute("SET temp_directory = ''")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        timer.start()
        try:
            con.execute(sql)
            return _bounded_result(con)
        except duckdb.InterruptException:
            raise DvnetError("QUERY_TIME_LIMIT", f"the query was stopped after {time_limit:g} s",
                             hint="narrow it (fewer joins, a WHERE, an aggregate), or give more time with --time-limit") from None  # fmt: skip
        except duckdb.CatalogException as e:  # a table (or schema) not in the releases: say which are
            tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables WHERE table_catalog = ? ORDER BY 1", [alias(chosen)]).fetchall()]
            shown = ", ".join(tables[:MAX_TABLES_NAMED]) + (f" and {len(tables) - MAX_TABLES_NAMED} more" if len(tables) > MAX_TABLES_NAMED else "")
            raise DvnetError("QUERY_FAILED", str(e).splitlines()[0],
                             hint=f"release {chosen.name} holds the tables {shown}; every release is also r_<release id>: list all with \"SHOW ALL TABLES\"") from None  # fmt: skip
        except duckdb.Error as e:
            raise DvnetError("QUERY_FAILED", str(e).splitlines()[0]) from None
    finally:
        timer.cancel()
        con.close()


def _attach(con: duckdb.DuckDBPyConnection, release_dir: Path) -> None:
    """``release_dir``'s ``release.duckdb``, read-only, as ``r_<id>``; its path only ever as an SQL
    string literal (``sql_string``): a folder name is published text, never SQL."""
    try:
        con.execute(f"ATTACH {sql_string(release_dir / 'release.duckdb')} AS {alias(release_dir)} (READ_ONLY)")
    except duckdb.Error as e:
        raise DvnetError("QUERY_FAILED", f"release {release_dir.name} cannot be opened: {str(e).splitlines()[0]}",
                         hint="every folder under the releases folder holding a manifest.json must hold its release.duckdb") from None  # fmt: skip


def _bounded_result(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The pending result of ``con``, read a chunk at a time: at most ``MAX_ROWS`` rows."""
    chunks, rows = [], 0
    while True:
        chunk = con.fetch_df_chunk(_CHUNK_VECTORS)
        if chunk.empty and chunks:  # the first chunk is kept even empty: it carries the columns
            break
        chunks.append(chunk)
        rows += len(chunk)
        if rows > MAX_ROWS:
            raise DvnetError("QUERY_TOO_LARGE", f"the query returns more than {MAX_ROWS:,} rows",
                             hint="aggregate, filter or add a LIMIT: a release's tables hold a few thousand rows")  # fmt: skip
        if chunk.empty:
            break
    return pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]
