"""The earlier releases of a period, rebuilt from their published folders for the joint audit.

What an attacker holds is the folders, so the history the audit uses is read from them: every
count table of every release folder whose periods overlap, with the profile its manifest names.
The coordinator's internal record adds what was never published (reasons, true counts). The
warehouse's release ledger is the cross-check: a release it names must still have its folder
(``HISTORY_MISSING``) showing the very numbers it recorded (``HISTORY_ALTERED``); otherwise the
audit cannot know what the world has seen, and the publish step refuses. Folders the ledger does
not name (a lost ledger, a restored backup) are history all the same.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np

from dvnet.anonymize.disclosure.errors import HISTORY_ALTERED, HISTORY_MISSING, DisclosureError
from dvnet.anonymize.disclosure.tables import EarlierCell
from dvnet.assets.releases.lib import ledger
from dvnet.assets.releases.lib.files import published_releases
from dvnet.assets.releases.lib.internal import read_record
from dvnet.assets.releases.lib.verify import manifest_profile, release_tables

HINT = "restore the release folder from its copy, or withdraw the release from the ledger before publishing this period again"


def earlier_cells(con: duckdb.DuckDBPyConnection, releases_root: Path, coordinator: Path, periods: list[str]) -> list[EarlierCell]:
    """Every cell of every published release of ``periods``, read from its folder."""
    recorded = _ledger_releases(con, periods)
    folders = {f.name: f for f in published_releases(releases_root)}
    missing = sorted(set(recorded) - set(folders))
    if missing:
        raise DisclosureError(HISTORY_MISSING, f"{len(missing)} earlier release(s) of this period named by the ledger have no folder", hint=HINT,
                              releases=missing)  # fmt: skip
    out: list[EarlierCell] = []
    for rid, folder in folders.items():
        cells = folder_cells(folder, read_record(coordinator, rid), set(periods))
        if rid in recorded:
            _check_against_ledger(rid, cells, recorded[rid])
        out += cells
    return out


def _ledger_releases(con: duckdb.DuckDBPyConnection, periods: list[str]) -> dict[str, dict[tuple[str, str], int | None]]:
    """Per release of ``periods`` the ledger names: (table, coords) -> published value."""
    ledger.ensure_ledger(con)
    rows = con.execute(
        "SELECT c.release_id, c.table_name, c.coords, c.value FROM release_cells c JOIN releases r USING (release_id) "
        "WHERE len(list_intersect(r.periods, ?)) > 0",
        [periods],
    ).fetchall()
    out: dict[str, dict[tuple[str, str], int | None]] = {}
    for rid, table, coords, value in rows:
        out.setdefault(rid, {})[(table, json.dumps(json.loads(coords), sort_keys=True))] = value
    return out


def folder_cells(folder: Path, record: dict | None, periods: set[str], release_id: str | None = None) -> list[EarlierCell]:
    """The cells of the release in ``folder`` (``release_id``: its id, when the folder is not yet named so)."""
    try:
        manifest, tables = release_tables(folder)
    except (OSError, KeyError, ValueError, DisclosureError) as err:  # fail closed: a history that cannot be read is no history
        raise DisclosureError(HISTORY_ALTERED, f"release {folder.name}: its folder cannot be read back ({type(err).__name__})", hint=HINT,
                              release=folder.name) from err  # fmt: skip
    if not periods & set(manifest.get("periods", [])):
        return []
    profile = manifest_profile(manifest)
    rid = release_id or folder.name
    out = []
    for t in tables:
        reasons = (record or {}).get("reasons", {}).get(t.name)
        truths = (record or {}).get("truth", {}).get(t.name)
        owners = (record or {}).get("owners", {}).get(t.name) or [None] * len(t.frame)
        frame = t.frame
        values = frame["value"].to_numpy(dtype=object, na_value=None)
        coords = frame[list(t.dims)].astype(str).to_dict("records")
        for i, (c, v) in enumerate(zip(coords, values, strict=True)):
            out.append(EarlierCell(
                measure=t.measure, coords=c, value=None if v is None else int(v), rounding_base=profile.rounding_base, table=f"{rid}/{t.name}",
                reason=None if reasons is None else str(reasons[i]), suppressed_floor=profile.suppressed_floor,
                protection_width=profile.protection_width, truth=None if truths is None else int(truths[i]), owner=owners[i],
            ))  # fmt: skip
    return out


def _check_against_ledger(rid: str, cells: list[EarlierCell], recorded: dict[tuple[str, str], int | None]) -> None:
    shown = {(c.table.split("/", 1)[1], json.dumps(dict(c.coords), sort_keys=True)): c.value for c in cells}
    differ = sum(1 for k in set(shown) | set(recorded) if shown.get(k, np.nan) != recorded.get(k, np.nan))
    if differ:
        raise DisclosureError(HISTORY_ALTERED, f"release {rid}: {differ} cell(s) of its folder differ from what the ledger recorded", hint=HINT,
                              release=rid, cells=differ)  # fmt: skip
