"""The coordinator's record of each release, and the history every later audit is joined to.

A release folder is published whole: its tables, manifest, report. What must never be published
lives beside the releases, in ``coordinator/release_records/<release id>/`` (owner-only): each
table's true counts and why each hidden cell is hidden, the information-loss figures and the full
audit (which names agencies). Later releases of the same periods are audited jointly with every
earlier one: what each published is read back from its folder (or, for a folder that is gone,
from the warehouse ledger: a release can be withdrawn, never unpublished from the audit's view),
and the true counts from its record.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dvnet.anonymize.disclosure import PublishedRelease, Table, get_profile
from dvnet.anonymize.disclosure.errors import HISTORY_INCOMPLETE, DisclosureError
from dvnet.anonymize.disclosure.protect import ProtectedRelease
from dvnet.assets.releases.lib import ledger
from dvnet.assets.releases.lib.files import published_releases
from dvnet.assets.releases.lib.verify import profile_of, release_tables
from dvnet.common.files import atomic_write
from dvnet.common.network import NetworkPaths

RECORD_FILE = "record.json"


def records_root(paths: NetworkPaths) -> Path:
    return paths.coordinator / "release_records"


def write_record(paths: NetworkPaths, release_id: str, protected: ProtectedRelease, extra: dict) -> Path:
    """The release's internal record: per table true counts and reasons; stats; the audit."""
    folder = records_root(paths) / release_id
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(records_root(paths), 0o700)
    os.chmod(folder, 0o700)
    for name, frame in protected.record().items():
        sink = pa.BufferOutputStream()
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), sink, compression="zstd")
        atomic_write(folder / f"{name}.parquet", sink.getvalue(), mode=0o600)
    audit_cells = protected.audit.cells
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pandas(audit_cells.astype({c: str for c in audit_cells.columns if audit_cells[c].dtype == object}), preserve_index=False), sink)
    atomic_write(folder / "audit_cells.parquet", sink.getvalue(), mode=0o600)
    body = {"release_id": release_id, "stats": protected.stats.to_dict(), "audit": protected.audit.to_dict(), **extra}
    atomic_write(folder / RECORD_FILE, json.dumps(body, indent=2, default=str).encode(), mode=0o600)
    return folder


def release_history(paths: NetworkPaths, con: duckdb.DuckDBPyConnection | None = None) -> list[PublishedRelease]:
    """Every release published so far, oldest first, with its true counts where recorded.

    From the release folders; the ledger adds any release whose folder is gone (its cells).
    """
    out = []
    seen = set()
    for folder in published_releases(paths.releases):
        manifest, tables = release_tables(folder)
        out.append(_with_truth(paths, manifest["release_id"], profile_of(manifest), tables))
        seen.add(manifest["release_id"])
    if con is not None:
        for release_id, profile, tables in ledger.ledger_releases(con):
            if release_id not in seen:
                out.append(_with_truth(paths, release_id, get_profile(profile) if isinstance(profile, str) else profile_of({"profile": profile}), tables))
    return out


def _with_truth(paths: NetworkPaths, release_id: str, profile, tables: list[Table]) -> PublishedRelease:
    folder = records_root(paths) / release_id
    if not (folder / RECORD_FILE).is_file():
        return PublishedRelease(release_id, profile, tuple(tables), None)
    truth = {}
    for t in tables:
        path = folder / f"{t.name}.parquet"
        if not path.is_file():
            return PublishedRelease(release_id, profile, tuple(tables), None)
        rec = pd.read_parquet(path)
        dims = list(t.dims)
        merged = t.frame[dims].astype(str).merge(rec.astype({d: str for d in dims}), on=dims, how="left", validate="one_to_one")
        if merged["true_value"].isna().any():
            raise DisclosureError(
                HISTORY_INCOMPLETE,
                f"the coordinator's record of release {release_id} lacks cells of its table {t.name}",
                hint="the record belongs to another release, or the release folder was edited",
                release=release_id,
                table=t.name,
            )
        truth[t.name] = merged["true_value"].to_numpy(dtype=float)
    return PublishedRelease(release_id, profile, tuple(tables), truth)


def reasons_of(paths: NetworkPaths, release_id: str) -> dict[str, pd.DataFrame]:
    """The recorded tables of a release (coordinates, true and published value, reason)."""
    folder = records_root(paths) / release_id
    return {p.stem: pd.read_parquet(p) for p in sorted(folder.glob("*.parquet")) if p.stem != "audit_cells"}


