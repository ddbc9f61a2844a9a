"""Release files for evaluators: DuckDB, CSV, Parquet, each table documented; and which release
folders there are, in the order they were published.

Text cells are escaped against spreadsheet formula injection (OWASP "CSV injection"): a cell that
starts with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading apostrophe.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dvnet.common.files import atomic_write
from dvnet.common.sql_text import sql_string
from dvnet.contracts.errors import DvnetError

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MANIFEST = "manifest.json"
#: What a request's report.html says in its "published at" row; publication puts the time there,
#: the one change to the report its reviewers saw.
PUBLICATION_PENDING = "not yet: a release request awaiting review"
PUBLISHED_AT_ROW = "<tr><th>published at</th><td>{}</td></tr>"


def escape_formula(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def escaped(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or str(out[col].dtype).startswith("string"):
            out[col] = out[col].map(escape_formula).astype(out[col].dtype)  # a text column stays typed as text
    return out


def write_release_files(folder: Path, tables: dict[str, tuple[pd.DataFrame, str]]) -> None:
    """``release.duckdb`` (documented tables), ``csv/`` and ``parquet/`` for ``{name: (frame, description)}``."""
    (folder / "csv").mkdir(parents=True, exist_ok=True)
    (folder / "parquet").mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(folder / "release.duckdb"))
    try:
        for name, (frame, description) in tables.items():
            safe = escaped(frame)
            safe.to_csv(folder / "csv" / f"{name}.csv", index=False)
            pq.write_table(pa.Table.from_pandas(safe, preserve_index=False), folder / "parquet" / f"{name}.parquet", compression="zstd")
            con.register("_t", safe)
            con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM _t')
            con.unregister("_t")
            con.execute(f'COMMENT ON TABLE "{name}" IS {sql_string(description)}')
        con.execute("CHECKPOINT")
    finally:
        con.close()


def file_hashes(folder: Path, names: tuple[str, ...]) -> dict[str, str]:
    """Each file under ``names`` (files, or folders read whole) by its path in ``folder``: its SHA-256."""
    files = sorted(p for name in names for p in ([folder / name] if (folder / name).is_file() else sorted((folder / name).rglob("*"))) if p.is_file())
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def combined_hash(hashes: dict[str, str]) -> str:
    """One SHA-256 over ``file_hashes`` (names and each file's hash), in a fixed order."""
    h = hashlib.sha256()
    for name in sorted(hashes):
        h.update(name.encode() + b"\x00" + bytes.fromhex(hashes[name]))
    return h.hexdigest()


def differing_files(now: dict[str, str], then: dict[str, str]) -> list[str]:
    """The files added, removed or changed between two ``file_hashes``."""
    return sorted(name for name in now.keys() | then.keys() if now.get(name) != then.get(name))


def stamp_publication(report: Path, published_at: str) -> None:
    """Put the publication time into a request's ``report.html`` (its one pending row; nothing else changes)."""
    html = report.read_text(encoding="utf-8")
    pending = PUBLISHED_AT_ROW.format(PUBLICATION_PENDING)
    if html.count(pending) != 1:  # a report from before the row, or a hand-made one: publish nothing unknown
        raise DvnetError("REQUEST_OUTDATED", f"{report.name} has no pending publication row", hint="make a new request (`dvnet publish`)")
    atomic_write(report, html.replace(pending, PUBLISHED_AT_ROW.format(published_at)).encode("utf-8"))


def read_manifest(folder: Path) -> dict:
    """A release folder's ``manifest.json``, as a mapping that says when it was published. A release
    folder is published text anyone may have edited or damaged: one that is not JSON, not a mapping,
    or without a readable ``published_at`` is ``RELEASE_MANIFEST_INVALID``, naming the folder."""
    def invalid(why: str) -> DvnetError:
        return DvnetError("RELEASE_MANIFEST_INVALID", f"release {folder.name}: its {MANIFEST} {why}",
                          hint="put back the folder as it was published (`dvnet release verify` names what changed), or move it out of the releases folder")  # fmt: skip

    try:
        manifest = json.loads((Path(folder) / MANIFEST).read_bytes())
    except OSError:
        raise invalid("cannot be read") from None
    except ValueError:  # not UTF-8 or not JSON
        raise invalid("is not JSON") from None
    if not isinstance(manifest, dict):
        raise invalid("is not a mapping of fields")
    try:
        dt.datetime.fromisoformat(manifest["published_at"])
    except (KeyError, TypeError, ValueError):
        raise invalid("has no publication time (published_at)") from None
    return manifest


def published_releases(releases_root: Path) -> list[Path]:
    """The release folders under ``releases_root``, oldest first by the publish time each
    manifest records (then by name). Not by folder name: a release id starts with its periods,
    so a Q2 release published after a Q3 one sorts before it. Folders still being written
    (``.<id>.partial``, already holding a manifest) are not releases yet."""
    root = Path(releases_root)
    folders = [p for p in root.iterdir() if not p.name.startswith(".") and (p / MANIFEST).is_file()] if root.is_dir() else []
    return sorted(folders, key=lambda p: (_published_at(p), p.name))


def newest_release(releases_root: Path) -> Path:
    """The release published last (see ``published_releases``)."""
    folders = published_releases(releases_root)
    if not folders:
        raise DvnetError("NO_RELEASES", f"no published release under {releases_root}", hint="publish one with `dvnet publish`")
    return folders[-1]


def _published_at(folder: Path) -> dt.datetime:
    return dt.datetime.fromisoformat(read_manifest(folder)["published_at"])
