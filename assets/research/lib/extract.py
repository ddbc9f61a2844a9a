"""Research extracts: what a data-sharing agreement lets its named researchers have, sealed to each.

From the research contributions loaded under the DSA (staged record rows of bundles whose project
is the DSA, not superseded), only the rows of its parties (those active in the registry: a
suspended party's rows are held back) and periods and only its listed fields leave. Rows whose
quasi-identifier combination (among the listed fields) is shared by fewer than the DSA's minimum
cell size are withheld. People are linked across agencies by the project's
linkage token: the same person at two agencies carries the same token, and a token of one project
is no token of another (HKDF per project at the contributor). Each named researcher gets the rows
as a bundle sealed to their own X25519 key and signed by the coordinator (``bundle/``), valid
until the DSA's end; nothing is made once the DSA has ended or been revoked.

``close`` destroys the project's staged rows and its extracts on the coordinator, with a signed
destruction record, and marks the DSA closed.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as arrow
import pyarrow.parquet as pq

from dvnet import bundle
from dvnet.assets.warehouse.lib import schema as warehouse
from dvnet.assets.warehouse.lib import writes
from dvnet.assets.warehouse.lib.writes import table_exists
from dvnet.assets.warehouse.lib.postgres import configured_url
from dvnet.common import agreements, audit
from dvnet.common.agreements import EXTRACT_SUFFIX, extracts_folder, sealed_copies
from dvnet.common.audit import Signer
from dvnet.common.faults import maybe_crash
from dvnet.common.files import atomic_write, private_folder
from dvnet.common.network import NetworkPaths, coordinator_key, load_network
from dvnet.common.signed_records import read_signed, write_signed
from dvnet.contracts.agreements import CONTRACT_REF, Agreement
from dvnet.contracts.errors import DvnetError, RegistryError
from dvnet.contracts.registry import Contract, get_contract

DESTRUCTION_FORMAT = "dvnet-destruction/1"


class ExtractRefusal(DvnetError):
    """An extract the DSA does not allow (exit 1)."""


@dataclass(frozen=True)
class Extract:
    dsa: str
    version: int
    rows: int
    withheld: int
    people: int  # distinct linkage tokens among the rows that leave
    linked_people: int  # of them, people seen at two or more agencies
    columns: tuple[str, ...]
    files: dict[str, Path]  # researcher id -> sealed file
    suspended: tuple[str, ...] = ()  # parties whose rows were held back: suspended or gone from the registry


def _contracts(dsa: Agreement) -> list[Contract]:
    return [get_contract(m.group(1), int(m.group(2))) for m in map(CONTRACT_REF.match, dsa.contracts)]


def _project_bundles(con, dsa_id: str) -> list[str]:
    return [b for (b,) in con.execute("SELECT bundle_id FROM ledger WHERE project = ? ORDER BY bundle_id", [dsa_id]).fetchall()]


def _rows(con: duckdb.DuckDBPyConnection, dsa: Agreement, parties: list[str]) -> arrow.Table | None:
    """The rows of ``parties`` (the DSA's in good standing) under the DSA, its listed fields plus
    ``agency_id`` (for counting linked people; dropped before anything leaves); None when nothing
    has been loaded under it."""
    existing = {t for (t,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    fields = ", ".join(f's."{f}"' for f in dsa.fields)
    parts = []
    for contract in _contracts(dsa):
        table = warehouse.staged_table(contract.id)
        if table in existing:
            parts.append(f"""SELECT s.agency_id AS "__agency", {fields} FROM {table} s JOIN ledger l USING (bundle_id)
                WHERE l.project = $dsa AND l.superseded_by IS NULL AND l.contract_version = {contract.version}
                  AND s.agency_id IN (SELECT unnest($parties)) AND s.period IN (SELECT unnest($periods))""")  # fmt: skip
    if not parts:
        return None
    return con.sql(" UNION ALL ".join(parts), params={"dsa": dsa.id, "parties": parties, "periods": list(dsa.periods)}).to_arrow_table()


def _protect(rows: arrow.Table, dsa: Agreement) -> tuple[arrow.Table, int]:
    """Withhold the rows whose combination of listed quasi-identifiers occurs fewer than
    ``min_cell_size`` times; returns what is kept and how many were withheld."""
    qis = [f for f in dsa.fields if any(f in c.quasi_identifiers() for c in _contracts(dsa))]
    con = duckdb.connect()
    try:
        con.register("rows_in", rows)
        partition = f"PARTITION BY {', '.join(f'{chr(34)}{q}{chr(34)}' for q in qis)}" if qis else ""
        kept = con.sql(f"SELECT * EXCLUDE (__n) FROM (SELECT *, count(*) OVER ({partition}) AS __n FROM rows_in) WHERE __n >= ?",
                       params=[dsa.min_cell_size]).to_arrow_table()  # fmt: skip
    finally:
        con.close()
    return kept, rows.num_rows - kept.num_rows


def _people(rows: arrow.Table) -> tuple[int, int]:
    """Distinct linkage tokens, and those seen at two or more agencies (0, 0 without tokens)."""
    if "linkage_token" not in rows.column_names:
        return 0, 0
    con = duckdb.connect()
    try:
        con.register("r", rows)
        return con.execute("SELECT count(*), count(*) FILTER (WHERE k >= 2) FROM "
                           "(SELECT linkage_token, count(DISTINCT __agency) AS k FROM r GROUP BY linkage_token)").fetchone()  # fmt: skip
    finally:
        con.close()


def make_extract(root: Path, dsa_id: str, actor: Signer, *, now: dt.datetime | None = None) -> Extract:
    """Assemble, protect and seal the DSA's extract for each named researcher (``ExtractRefusal``
    when the DSA is not in force at ``now``, or nothing may leave)."""
    root = Path(root)
    now = now or dt.datetime.now(dt.UTC)
    network = load_network(root)
    dsa = agreements.require(root, dsa_id, network)
    if not dsa.in_force(now):
        why = dsa.status if dsa.status != "active" else f"in force only from {dsa.start} to {dsa.end}"
        raise ExtractRefusal("DSA_NOT_IN_FORCE", f"{dsa.id} (version {dsa.version}) is {why}: no extract is made under it")
    researchers = [network.person(r) for r in dsa.researchers]
    unusable = [p.id for p in researchers if p is None or not p.active or not p.encryption_public_key or "researcher" not in p.roles]
    if unusable:
        raise ExtractRefusal("RESEARCHER_UNUSABLE", f"{', '.join(unusable)}: not an active researcher with an encryption key")
    # A suspended party's rows stay on the coordinator: its participation is on hold, and what
    # leaves under its name would be what it may not send now.
    suspended = tuple(p for p in dsa.parties if network.organisation(p) is None or not network.organisation(p).active)
    parties = [p for p in dsa.parties if p not in suspended]
    con = warehouse.connect(NetworkPaths(root).warehouse, read_only=True) if warehouse.exists(NetworkPaths(root).warehouse) else None
    try:
        rows = _rows(con, dsa, parties) if con is not None and parties else None
    finally:
        if con is not None:
            con.close()
    if rows is None or rows.num_rows == 0:
        held = f" (suspended parties held back: {', '.join(suspended)})" if suspended else ""
        raise ExtractRefusal("EXTRACT_EMPTY", f"no research rows of {dsa.id}'s parties and periods have been loaded{held}")
    kept, withheld = _protect(rows, dsa)
    people, linked = _people(kept)  # of the rows that leave: what the researcher's copy holds
    kept = kept.drop_columns(["__agency"])
    if kept.num_rows == 0:
        raise ExtractRefusal("EXTRACT_EMPTY", f"every row of {dsa.id} is in a cell smaller than {dsa.min_cell_size}: nothing may leave")
    payload = io.BytesIO()
    pq.write_table(kept, payload, write_statistics=False, store_schema=False)
    contract = _contracts(dsa)[0]
    folder = private_folder(extracts_folder(root, dsa.id))
    signing = coordinator_key(root)
    files = {}
    for person in researchers:
        sealed = bundle.seal(
            payload.getbuffer(), agency_id=network.coordinator.id, contract_id=contract.id, contract_version=contract.version, mode="record",
            sequence=len(sealed_copies(root, dsa.id)) + 1, period=dsa.periods[-1], record_count=kept.num_rows,
            signing_key=signing, recipient_public_key=bundle.encryption_public_key_from_text(person.encryption_public_key), now=now,
            lifetime=dsa.ends_at - now, key_epoch=network.coordinator.key_epoch,
            details={"project": dsa.id, "dsa_version": dsa.version, "researcher": person.id, "periods": list(dsa.periods), "fields": list(dsa.fields)},
        )  # fmt: skip
        path = folder / f"{dsa.id}-{person.id}-{sealed.bundle_id[:12]}{EXTRACT_SUFFIX}"
        # The audit line first, then the file, whole and owner-only: a kill in between leaves a
        # logged extract that never left, never a file that left unlogged.
        audit.append(NetworkPaths(root).audit_log, "extract_sealed", actor=actor, objects={"dsa": dsa.id, "version": dsa.version, "researcher": person.id,
                     "bundle": sealed.bundle_id}, head_key=signing, now=now, rows=kept.num_rows, withheld=withheld,
                     **({"parties_held_back": list(suspended)} if suspended else {}))  # fmt: skip
        maybe_crash("after_extract_audit")
        atomic_write(path, sealed.blob)
        files[person.id] = path
    return Extract(dsa.id, dsa.version, kept.num_rows, withheld, people, linked, tuple(kept.column_names), files, suspended)


def _project_rows(root: Path, dsa: Agreement) -> tuple[int, int, list[str]]:
    """What closing the project destroys in the warehouse (read under the warehouse lock the
    close holds, so nothing is loaded in between): (staged rows, count rows, bundle ids)."""
    contract_ids = [c.id for c in _contracts(dsa)]
    url = configured_url()
    con = warehouse.open_postgres(url, NetworkPaths(root).warehouse) if url else warehouse.connect(NetworkPaths(root).warehouse, read_only=True)
    try:
        bundles = _project_bundles(con, dsa.id)
        staged = sum(con.execute(f"SELECT count(*) FROM {writes.staged_source(con, c, bundles)} WHERE list_contains(?::VARCHAR[], bundle_id)",
                                 [bundles]).fetchall()[0][0] for c in contract_ids)  # fmt: skip
        counts = con.execute("SELECT count(*) FROM contribution_counts WHERE list_contains(?::VARCHAR[], bundle_id)", [bundles]).fetchall()[0][0]
    finally:
        con.close()
    return int(staged), int(counts), bundles


def _destroy_rows(root: Path, dsa: Agreement) -> None:
    """Delete the project's staged rows and their counts in one transaction, then rewrite the
    file so their bytes leave it too (``_project_rows`` counted them for the record first).

    The scaled profile deletes them in PostgreSQL first and rewrites those tables there
    (``VACUUM FULL``: a DELETE alone leaves the rows in the table's pages); opening the file then
    brings the copy to the same state, and the file is rewritten as in the embedded profile."""
    contract_ids = [c.id for c in _contracts(dsa)]
    url = configured_url()
    if url:
        pg = warehouse.open_postgres(url, NetworkPaths(root).warehouse)
        try:
            _delete_bundles(pg, contract_ids, _project_bundles(pg, dsa.id))
            for table in [*map(warehouse.staged_table, contract_ids), "contribution_counts"]:
                if table_exists(pg, table):
                    pg.execute(f"VACUUM FULL {table}")
        finally:
            pg.close()
    con = warehouse.connect(NetworkPaths(root).warehouse)  # scaled: the copy loses the same rows here
    try:
        if not url:
            _delete_bundles(con, contract_ids, _project_bundles(con, dsa.id))
    finally:
        con.close()
    warehouse.rewrite_live_rows_only(NetworkPaths(root).warehouse)  # a DELETE alone leaves the rows' bytes in the file


def _delete_bundles(con, contract_ids: list[str], bundles: list[str]) -> None:
    """The staged rows and count rows of ``bundles`` deleted in one transaction (the embedded
    warehouse's staged files removed once it commits)."""
    con.execute("BEGIN TRANSACTION")
    try:
        for c in contract_ids:
            writes.unstage(con, c, bundles)
        con.execute("DELETE FROM contribution_counts WHERE list_contains(?::VARCHAR[], bundle_id)", [bundles])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    writes.discard_unlisted(con)


def close(root: Path, dsa_id: str, reason: str, actor: Signer, *, now: dt.datetime | None = None) -> dict:
    """Write the signed destruction record (what this close destroys, counted first), destroy the
    DSA's staged rows, their counts and its extracts on the coordinator, then write the DSA's
    closing version and its audit line. Returns the record.

    A close killed after its record finishes when run again: the interrupted close's record stands
    (the rows it counts may be gone already), the rest is destroyed and the DSA closed."""
    root = Path(root)
    dsa = agreements.require(root, dsa_id)
    if dsa.status == "closed":
        raise RegistryError("AGREEMENT_NOT_ACTIVE", f"{dsa.id} is closed already")
    if not reason.strip():
        raise RegistryError("AGREEMENT_INVALID", "a reason is required: it is kept with the destruction record", field="reason")
    stored = agreements.folder(root, dsa.id) / "destruction.yaml"
    extracts = sealed_copies(root, dsa.id)
    has_rows = warehouse.exists(NetworkPaths(root).warehouse)
    try:
        record = _interrupted_close(root, stored, dsa)
        if record is None:
            staged, counts, bundles = _project_rows(root, dsa) if has_rows else (0, 0, [])
            record = {"format": DESTRUCTION_FORMAT, "dsa": dsa.id, "closed_version": dsa.version + 1, "reason": reason.strip(), "bundles": [b for b in bundles if b],
                      "staged_rows_destroyed": staged, "count_rows_destroyed": counts, "extracts_destroyed": len(extracts)}  # fmt: skip
            write_signed(stored, record, actor, now)
            maybe_crash("after_destruction_record")
        if has_rows:
            _destroy_rows(root, dsa)
    except duckdb.IOException:  # another process holds the warehouse; nothing is lost by running again
        raise ExtractRefusal("WAREHOUSE_BUSY", "another process has the warehouse open", hint="stop `dvnet ui` or the running job, then close again") from None
    for path in extracts:
        path.unlink()
    agreements.close(root, dsa, reason, actor, now=now)
    return {k: v for k, v in record.items() if k in DESTRUCTION_FIELDS}


#: What a destruction record says (the signature's fields besides).
DESTRUCTION_FIELDS = ("format", "dsa", "closed_version", "reason", "bundles", "staged_rows_destroyed", "count_rows_destroyed", "extracts_destroyed")


def _interrupted_close(root: Path, stored: Path, dsa: Agreement) -> dict | None:
    """The destruction record a close wrote before it was killed, if any (a DSA closes once: a
    record beside one not closed yet is such a close's)."""
    if not stored.exists():
        return None
    record = read_signed(stored, load_network(root))
    return record if record.get("dsa") == dsa.id else None
