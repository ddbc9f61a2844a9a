"""Finishing a publication a crash interrupted, so every release folder is in the ledger.

``review.publish_request`` writes a release in this order: the files into ``.<id>.partial``, the release
ledger (one transaction), the audit line, then the rename to ``<id>``. A crash before the ledger
leaves only a partial folder, which nobody serves: it is removed. A crash after it leaves a
release the ledger holds (so every later disclosure audit already counts it as published, the
safe side), whose files are complete: its audit line is written if missing (``once``) and the folder renamed.
Run at the start of every publication, before anything else is read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from pathlib import Path

import duckdb

from dvnet.common import audit
from dvnet.common.network import NetworkPaths
from dvnet.assets.releases.lib import ledger
from dvnet.assets.releases.lib.files import MANIFEST, read_manifest
from dvnet.assets.releases.lib.internal import read_record

PARTIAL = ".partial"
PUBLISHED = "release_published"


def partial_folder(paths: NetworkPaths, release_id: str) -> Path:
    return paths.releases / f".{release_id}{PARTIAL}"


def manifest_sha256(folder: Path) -> str:
    """The SHA-256 of a release folder's manifest (which lists every other file's): the folder's
    content as the audit log records it at publication and withdrawal."""
    return hashlib.sha256((folder / MANIFEST).read_bytes()).hexdigest()


def audit_published(paths: NetworkPaths, coordinator, folder: Path, now: dt.datetime) -> None:
    """The coordinator's audit line for the release in ``folder`` (complete, not yet renamed), from
    its manifest (and that manifest's hash) and the coordinator's internal record (the per-reason
    counts are in no release file)."""
    manifest = read_manifest(folder)
    record = read_record(paths.coordinator, manifest["release_id"])
    stats = record["stats"] if record is not None else manifest["suppression"]
    audit.append(paths.audit_log, PUBLISHED, actor=coordinator, head_key=coordinator.key, objects={"release": manifest["release_id"]}, now=now,
                 once=f"release:{manifest['release_id']}", once_since=now - dt.timedelta(seconds=2),
                 profile=manifest["profile"]["name"], periods=manifest["periods"], cells=stats["cells"], primary=stats.get("primary"),
                 complementary=stats.get("complementary"), dominance=stats.get("dominance"), audit=manifest["audit"]["summary"],
                 manifest_sha256=manifest_sha256(folder))  # fmt: skip


def finish_interrupted(paths: NetworkPaths, con: duckdb.DuckDBPyConnection, coordinator) -> tuple[list[str], list[str]]:
    """Complete or roll back every interrupted publication; returns (finished ids, removed ids)."""
    finished, removed = [], []
    if not paths.releases.is_dir():
        return finished, removed
    ledger.ensure_ledger(con)
    for tmp in sorted(p for p in paths.releases.iterdir() if p.name.startswith(".") and p.name.endswith(PARTIAL)):
        release_id = tmp.name[1 : -len(PARTIAL)]
        final = paths.releases / release_id
        recorded = con.execute("SELECT published_at FROM releases WHERE release_id = ?", [release_id]).fetchall()  # all: no open result
        if not recorded or final.exists():
            shutil.rmtree(tmp)
            removed.append(release_id)
            continue
        audit_published(paths, coordinator, tmp, recorded[0][0])  # logged once: skipped if it was
        tmp.rename(final)
        finished.append(release_id)
    return finished, removed
