"""Central ingest of one sealed bundle: verify, quarantine or load, in DESIGN §7's order.

Each check fails with a typed reason; the raw file then moves to ``quarantine/`` with a JSON reason
beside it, and nothing is loaded. A bundle that passes is loaded with its ledger row in **one**
DuckDB transaction (a correction deletes what it supersedes in the same transaction), so a crash
leaves the warehouse as it was before or after, never between. Every processed bundle gets a
receipt signed by the coordinator. Pure Python: the Dagster assets are thin wrappers around it.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import pyarrow as arrow
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dvnet import bundle
from dvnet.anonymize.counts import standard_counts
from dvnet.contracts.agreements import DSA_ID
from dvnet.contracts.conformance import content
from dvnet.contracts.errors import ContractError, DvnetError
from dvnet.contracts.network import Network
from dvnet.contracts.periods import Period
from dvnet.contracts.registry import Contract, get_contract
from dvnet.contracts.tiers import check_allowed
from dvnet.common import agreements, audit
from dvnet.common.audit import KeySigner
from dvnet.common.faults import maybe_crash
from dvnet.assets.intake.lib.conform import OFF_GEOGRAPHY, count_violations, off_geography_rows, record_failures
from dvnet.assets.intake.lib import rollback
from dvnet.assets.intake.lib.filing import SENTINEL, partition_of
from dvnet.assets.intake.lib.inbox import arrivals, destination, inbox_name, move_out, read_entry, read_head
from dvnet.bundle.framing import PREFIX_SIZE
from dvnet.bundle.header import parse_time
from dvnet.assets.warehouse.lib import cubes_due, staged_files
from dvnet.assets.warehouse.lib.postgres import configured_url, is_unique_violation
from dvnet.assets.warehouse.lib.schema import count_dimensions, ensure_schema
from dvnet.assets.warehouse.lib.writes import append_rows, discard_unlisted, serial, stage_rows, unstage
from dvnet.common.files import atomic_write, make_private, private_dir
from dvnet.common.network import NetworkPaths, load_network

class IngestRefusal(DvnetError):
    """A bundle refused by the coordinator (the file goes to quarantine)."""


@dataclass
class IngestOutcome:
    file_name: str  # ``inbox_name``: safe text, never the raw name
    file_sha256: str | None  # None: an entry that was never read (not a regular file, or unreadable)
    outcome: str  # loaded | quarantined | duplicate
    reason: str | None = None
    message: str | None = None
    agency_id: str | None = None
    bundle_id: str | None = None
    sequence: int | None = None
    contract: str | None = None
    mode: str | None = None
    period: str | None = None
    record_count: int | None = None
    rows_loaded: int = 0
    replaced: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class CoordinatorContext:
    """What the coordinator needs to verify bundles: the registry, its keys and its folders."""

    paths: NetworkPaths
    network: Network
    encryption_key: object
    signing_key: object
    max_bundle_bytes: int = bundle.DEFAULT_MAX_BUNDLE_SIZE
    max_clock_skew: dt.timedelta = bundle.DEFAULT_MAX_CLOCK_SKEW
    max_period_age_years: int = content.MAX_PERIOD_AGE_YEARS  # the reporting window's depth (PERIOD_OUT_OF_WINDOW)

    @classmethod
    def load(cls, root: Path) -> CoordinatorContext:
        paths = NetworkPaths(Path(root))
        network = load_network(paths.root)
        return cls(
            paths=paths,
            network=network,
            max_period_age_years=network.reporting_window_years,
            encryption_key=bundle.load_encryption_key(paths.keys / "encryption.key"),
            signing_key=bundle.load_signing_key(paths.keys / "signing.key"),
        )


PAYLOAD_FORMAT = "parquet"
#: A duplicate of a bundle a correction has replaced since (no receipt: ``_write_receipt``).
SUPERSEDED = "SUPERSEDED"
MAX_LIFETIME = dt.timedelta(days=90)
#: Enough of a file's first bytes to hold its header.
HEAD_BYTES = PREFIX_SIZE + bundle.DEFAULT_MAX_HEADER_SIZE


def pending_files(inbox: Path) -> list[Path]:
    """Every arrival in the inbox (``inbox.arrivals``: bundle files and anything else named
    ``*.dvb``), oldest sequence first per agency (best effort, from each header alone)."""

    def order(p: Path) -> tuple:
        head = read_head(p, HEAD_BYTES)
        try:
            h = bundle.peek_header(head) if head is not None else None
        except DvnetError:
            h = None
        return (h["agency_id"], h["sequence"], p.name) if h else ("~", 0, p.name)

    return sorted(arrivals(inbox), key=order)


# --- the checks, in order ------------------------------------------------------------------------


def _check_lifetime(header: dict) -> None:
    """An agency's bundle lives at most ``MAX_LIFETIME``: one held back and delivered years after it
    was made would otherwise still load (the sealing default is 30 days)."""
    if parse_time(header["not_after"]) - parse_time(header["created_at"]) > MAX_LIFETIME:
        raise IngestRefusal("HEADER_INVALID", f"the bundle is valid for more than {MAX_LIFETIME.days} days (not_after − created_at)")


def _registry_checks(header: dict, ctx: CoordinatorContext, now: dt.datetime):
    org = ctx.network.organisation(header["agency_id"])
    if org is None:
        raise IngestRefusal("AGENCY_UNKNOWN", "the sending agency is not in the registry")
    if not org.active:
        raise IngestRefusal("AGENCY_SUSPENDED", f"agency {org.id} is suspended")
    try:
        contract = get_contract(header["contract_id"], header["contract_version"])
        check_allowed(org.tier, contract, header["mode"])
    except ContractError as e:
        raise IngestRefusal(e.reason if e.reason == "TIER_VIOLATION" else ("TIER_VIOLATION" if e.reason == "MODE_NOT_ALLOWED" else e.reason), e.message) from None
    if not org.signing_public_key or header["signing_key_id"] != org.signing_key_id:
        raise IngestRefusal("SIGNATURE_INVALID", "the bundle is signed with a key the registry does not hold for this agency")
    return org, contract


def _replay_checks(header: dict, file_sha: str, con: duckdb.DuckDBPyConnection) -> tuple[int, str | None] | None:
    """None for a new bundle; for this exact file seen before (a duplicate), the rows it loaded and
    the bundle that replaced it since (None while it is live)."""
    row = con.execute("SELECT file_sha256, rows_loaded, superseded_by FROM ledger WHERE bundle_id = ?", [header["bundle_id"]]).fetchone()
    if row is not None:
        if row[0] == file_sha:
            return int(row[1]), row[2]
        raise IngestRefusal("REPLAY", "a bundle with this id was already loaded")
    last = con.execute("SELECT max(sequence) FROM ledger WHERE agency_id = ?", [header["agency_id"]]).fetchone()[0]
    if last is not None and header["sequence"] <= last:
        raise IngestRefusal("SEQUENCE_ROLLBACK", f"sequence {header['sequence']} is not above the last loaded sequence {last}")
    return None


def _read_payload(data: memoryview, data_format: str, coded: list[str] | tuple[str, ...] = ()) -> arrow.Table:
    """The payload as one Arrow chunk per column, read in place. Parquet hands back a chunk per
    read batch, and DuckDB inserts chunks in parallel into partly filled row groups that every later
    CHECKPOINT rewrites: measured at 10 x 200,000 rows, 2.2 s of checkpoint with two chunks, 0.01 s
    with one (a load into a DuckDB table, as the counts' and PostgreSQL's copy, is then cut at
    DuckDB's row groups: ``writes.append_rows``; the staged file is written in such row groups).
    The ``coded`` columns (the contract's code-list text) are read as dictionaries: each distinct
    value once and the rows as codes, so validation decides a rule once per value, the counts
    group codes and the staged file is written from the dictionary. Any other column the file
    stores through a dictionary is read as one to be measured, then decoded (dvnet's contributor
    writes pseudonyms and tokens without one: a file that does costs the reader a hash of every
    value). A dictionary whose codes point outside it is refused
    (``_refuse_codes_outside_dictionaries``). A payload that would unpack to more than
    ``MAX_EXPANSION`` times its size is refused before it is unpacked: by what its metadata declares
    (its pages and rows), then by the lengths of its dictionaries' values times the rows that use
    them. Parquet is the only format read: a manifest naming another is refused, not read as
    Parquet."""
    if data_format != PAYLOAD_FORMAT:
        raise IngestRefusal("PAYLOAD_INVALID", f"the manifest's data_format is not {PAYLOAD_FORMAT}, the only format the coordinator reads")
    unreadable = IngestRefusal("PAYLOAD_INVALID", "the bundle's data is not a readable Parquet table")
    budget = MAX_EXPANSION * len(data) + EXPANSION_ALLOWANCE
    try:
        source = arrow.BufferReader(arrow.py_buffer(data))  # read in place, no copy of the bytes
        meta = pq.read_metadata(source)  # the footer, parsed once for the checks and the read
        chunks = [meta.row_group(g).column(c) for g in range(meta.num_row_groups) for c in range(meta.num_columns)]
        names = set(meta.schema.to_arrow_schema().names)
        # Every column the file stores through a dictionary is read as one too: a value stored
        # once may stand for every row, and its decoded size shows only once it is decoded.
        stored_coded = {chunk.path_in_schema for chunk in chunks if chunk.has_dictionary_page}
        as_dictionary = [c for c in names if c in set(coded) | stored_coded]
    except Exception:  # noqa: BLE001 - any parse failure of agency bytes is a refusal, never a crash
        raise unreadable from None
    declared = sum(chunk.total_uncompressed_size for chunk in chunks) + 8 * meta.num_rows * meta.num_columns
    if declared > budget:
        raise _unpacks_too_far(budget, len(data))
    try:
        table = pq.ParquetFile(source, metadata=meta, read_dictionary=as_dictionary).read()
    except Exception:  # noqa: BLE001
        raise unreadable from None
    _refuse_codes_outside_dictionaries(table)  # before the chunks are joined: joining maps every code through its dictionary
    # As a later step may decode a dictionary column (the content checks compare text), what the
    # payload may take is counted with every one of them decoded.
    if table.nbytes + sum(_plain_bytes(c) for c in table.columns if arrow.types.is_dictionary(c.type)) > budget:
        raise _unpacks_too_far(budget, len(data))
    try:
        for i, name in enumerate(table.column_names):  # read as dictionaries to be measured; judged as the plain columns they stand for
            if name not in coded and arrow.types.is_dictionary(table.field(i).type):
                table = table.set_column(i, name, table.column(i).cast(table.field(i).type.value_type))
        # The sender's schema metadata (pandas' dtypes among it) never steers how values are read here.
        return table.combine_chunks().replace_schema_metadata()
    except Exception:  # noqa: BLE001
        raise unreadable from None


#: A payload may unpack to at most this many times its size (plus the allowance): a 200k-row
#: service-episode bundle unpacks to about 7.5 times its 8 MB, read plain; a small file can
#: stand for gigabytes (one long value stored once, every row pointing at it), which would stop
#: the coordinator on every retry instead of being refused once.
MAX_EXPANSION = 64
EXPANSION_ALLOWANCE = 64 * 2**20


def _unpacks_too_far(budget: int, size: int) -> IngestRefusal:
    return IngestRefusal("PAYLOAD_INVALID", f"the bundle's data would unpack to more than {budget:,} bytes from {size:,} "
                                            f"({MAX_EXPANSION} times its size and {EXPANSION_ALLOWANCE // 2**20} MiB): not read")


def _plain_bytes(column: arrow.ChunkedArray) -> int:
    """The bytes a (checked) dictionary column's values take once decoded: each row's value's
    length for text and bytes, at most 8 a row for a fixed-width type."""
    total = 0
    for chunk in column.chunks:
        values = chunk.dictionary
        if arrow.types.is_string(values.type) or arrow.types.is_large_string(values.type) or arrow.types.is_binary(values.type) or arrow.types.is_large_binary(values.type):
            total += int(pc.sum(pc.take(pc.binary_length(values), chunk.indices)).as_py() or 0)
        else:
            total += 8 * len(chunk)
    return total


def _refuse_codes_outside_dictionaries(table: arrow.Table) -> None:
    """Every dictionary column checked whole, chunk by chunk: one whose codes point outside its
    dictionary is refused. Arrow's reader makes one from a file whose dictionary page repeats a
    value (it keeps the value once and the codes as they were), and no kernel may read it."""
    for i, column in enumerate(table.columns):
        if arrow.types.is_dictionary(column.type):
            try:
                column.validate(full=True)
            except arrow.ArrowException:
                raise IngestRefusal("PAYLOAD_INVALID", f"column {i + 1} is stored as codes into a dictionary that does not hold them") from None


def _validate_records(table: arrow.Table, contract: Contract) -> None:
    """Never trust the contributor: every row against the output model, by the same engine the
    contributor used (``contracts.conformance``). The refusal names columns and rules, no value."""
    allowed = set(contract.output_columns())
    unexpected = [i + 1 for i, name in enumerate(table.column_names) if name not in allowed]
    if unexpected:
        # By position, not name: a column name is sender text and may carry anything.
        where = ", ".join(f"column {i}" for i in unexpected[:10])
        raise IngestRefusal("CONTRACT_VIOLATION", f"{len(unexpected)} column(s) not in {contract.ref}'s output model: {where}")
    failures = record_failures(table, contract)
    if failures:
        rules = sorted({(f.column, f.rule) for f in failures})
        where = "; ".join(f"{c} ({r})" for c, r in rules[:5])
        raise IngestRefusal("CONTRACT_VIOLATION", f"{len(rules)} column/rule failures against {contract.ref}: {where}")


def _validate_counts(table: arrow.Table, contract: Contract) -> None:
    """An aggregate payload holds the contract's standard tables only: the rules the intake
    check re-applies after loading (``conform.count_violations``)."""
    cols = set(table.column_names)
    if not {"table_name", "n"} <= cols or not cols - {"table_name", "n"} <= set(count_dimensions()):
        raise IngestRefusal("CONTRACT_VIOLATION", "aggregate payload columns do not match the standard tables")
    con = duckdb.connect()
    try:
        con.register("payload", table.append_column("contract_id", arrow.array([contract.id] * table.num_rows, arrow.string())))
        violations = count_violations(con, "payload")
    finally:
        con.close()
    if violations:
        where = "; ".join(f"{rule} ({n} rows)" for rule, n in sorted(violations.items())[:5])
        raise IngestRefusal("CONTRACT_VIOLATION", f"{len(violations)} column/rule failures in {contract.ref}'s count tables: {where}")


def _check_period(period: str, ctx: CoordinatorContext, now: dt.datetime) -> Period:
    """The network reports by calendar quarter: a bundle for a month, a half or a year (which the
    bundle format allows) is refused, and so is a quarter outside the reporting window around now."""
    try:
        parsed = Period.parse(period)
    except DvnetError:
        raise IngestRefusal("PERIOD_INVALID", "the manifest's period is not a calendar quarter") from None
    why = content.period_window(parsed, now, ctx.max_period_age_years)
    if why:
        raise IngestRefusal(content.PERIOD_OUT_OF_WINDOW, why)
    return parsed


def _check_content(table: arrow.Table, contract: Contract, mode: str, period: Period, manifest: dict, ctx: CoordinatorContext) -> None:
    """The rules only the bundle's context decides (``contracts.conformance.content``): the first
    reason found refuses the bundle, its message naming every column, rule and row count."""
    org_ids = [o.id for o in ctx.network.organisations]
    if mode == "record":
        findings = content.record_findings(table, contract, period, org_ids)
    else:
        findings = content.count_findings(table, (manifest.get("details") or {}).get("records_sent"), org_ids)
    if findings:
        raise IngestRefusal(findings[0].reason, "; ".join(f.describe() for f in findings[:5]))


def _check_agreement(manifest: dict, header: dict, ctx: CoordinatorContext, contract: Contract, now: dt.datetime) -> str | None:
    if not contract.linkage_inputs:
        return None
    project = (manifest.get("details") or {}).get("project")
    dsa = agreements.current(ctx.paths.root, project, ctx.network) if isinstance(project, str) and DSA_ID.match(project) else None
    if dsa is None or not dsa.covers(header["agency_id"], contract.ref, str(manifest["period"])) or not dsa.in_force(now):
        raise IngestRefusal("DSA_INVALID", "no data-sharing agreement in force covers this agency, contract and date")
    return project


# --- load ----------------------------------------------------------------------------------------


def _staged_keys(header: dict, manifest: dict, contract: Contract) -> dict[str, str]:
    """The constant columns a bundle's rows are stored with."""
    return {"bundle_id": header["bundle_id"], "agency_id": header["agency_id"], "period": str(manifest["period"]), "contract_id": contract.id}


def _encoded(v: _Verified) -> staged_files.Encoded | None:
    """The staged file of a verified record bundle on the embedded warehouse, made once from the
    rows that passed: the load stores these bytes, and ``loaded_rows_conform`` proves the stored
    file by their SHA-256. None for an aggregate bundle and on PostgreSQL (rows go to a table).
    Made in the verifying thread when verification runs apart from the loads (``verify_files``,
    outside the warehouse lock), else in the loading one (in the look-ahead of ``ingest_files``
    the verifying thread given the encoding too was the slower by far: the 50 × 200k-row bench's
    core took 5 s longer)."""
    if v.staged is None and v.header["mode"] == "record" and configured_url() is None:
        v.staged = staged_files.encode(_staged_keys(v.header, v.manifest, v.contract), v.table)
    return v.staged


def _load(con, v: _Verified, file_sha: str, now: dt.datetime) -> str | None:
    """Rows, counts and the ledger row of a verified bundle in one transaction; returns the bundle
    id replaced, if any. A record bundle's counts (its standard tables) and staged file were made
    from its rows during verification."""
    header, manifest, contract, table, counts, project = v.header, v.manifest, v.contract, v.table, v.counts, v.project
    agency, period, bundle_id = header["agency_id"], str(manifest["period"]), header["bundle_id"]
    supersedes = manifest.get("supersedes")
    con.execute("BEGIN TRANSACTION")
    try:
        _claim_key(con, [agency, contract.id, period, project or ""], bundle_id, supersedes, contract)
        keys = _staged_keys(header, manifest, contract)
        if header["mode"] == "record":
            stage_rows(con, contract.id, keys, table, _encoded(v))
            rows = table.num_rows
            maybe_crash("after_rows")
            if counts is not None:
                append_rows(con, "contribution_counts", keys, counts)
        else:
            append_rows(con, "contribution_counts", keys, table)
            rows = table.num_rows
            maybe_crash("after_rows")
        con.execute(
            "INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?)",
            [bundle_id, agency, header["sequence"], contract.id, contract.version, header["mode"], period,
             manifest["record_count"], rows, (manifest.get("details") or {}).get("records_sent"), supersedes, project, file_sha, now],
        )
        # The journal row: this bundle is loaded, its audit line, receipt and archiving are still
        # to do. Committed with the load, removed once they are done (``_finish``), so a crash in
        # between is completed by the next run (``_replay_checks``).
        con.execute("INSERT INTO unfinished_loads VALUES (?)", [bundle_id])
        maybe_crash("before_commit")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        discard_unlisted(con)  # the file of rows this load wrote
        raise
    maybe_crash("after_commit")
    if supersedes:
        discard_unlisted(con)  # the replaced bundle's file
    return supersedes


def _claim_key(con, key: list[str], bundle_id: str, supersedes: str | None, contract: Contract) -> None:
    """Make ``bundle_id`` the one live contribution for ``key`` (agency, contract, period, project),
    inside the load's transaction. A correction names the live bundle it replaces: that bundle's
    counts and staged rows are deleted and its ledger row marked superseded. Without one, a key
    that already has a live bundle is refused (PERIOD_ALREADY_LOADED), by this check and, should
    any path get past it, by ``live_contributions``' primary key."""
    where = "agency_id = ? AND contract_id = ? AND period = ? AND project = ?"
    live = next(iter(con.execute(f"SELECT bundle_id FROM live_contributions WHERE {where}", key).fetchall()), None)
    if supersedes:
        if live is None or live[0] != supersedes:
            raise IngestRefusal("SUPERSEDES_INVALID", "supersedes does not name the current bundle of this agency, contract, period and project")
        con.execute("DELETE FROM contribution_counts WHERE bundle_id = ?", [supersedes])
        unstage(con, contract.id, [supersedes])
        con.execute("UPDATE ledger SET superseded_by = ? WHERE bundle_id = ?", [bundle_id, supersedes])
        con.execute(f"UPDATE live_contributions SET bundle_id = ? WHERE {where}", [bundle_id, *key])
        return
    if live is not None:
        raise _already_loaded(key, live[0])
    try:
        con.execute("INSERT INTO live_contributions VALUES (?, ?, ?, ?, ?)", [*key, bundle_id])
    except Exception as e:
        if is_unique_violation(e):
            raise _already_loaded(key, None) from None
        raise


def _already_loaded(key: list[str], live: str | None) -> IngestRefusal:
    agency, contract_id, period, project = key
    what = f"{contract_id} for {period}" + (f" (project {project})" if project else "")
    return IngestRefusal(
        "PERIOD_ALREADY_LOADED",
        f"agency {agency} already has {what} loaded" + (f" from bundle {live}" if live else "") + "; a second one would be counted twice. "
        f"To correct it, the agency contributes again with `dvnet contribute ... --supersedes {live or '<bundle id of the loaded one>'}`",
    )


# --- one file: verify (no warehouse), then apply (the warehouse, in order) -----------------------


@dataclass
class _Verified:
    """A bundle checked as far as it can be without the warehouse.

    DESIGN §7's order puts the replay check (which needs the ledger) between freshness and
    decryption. Verification runs every other check, so it can run ahead of the warehouse in a
    thread; a refusal is kept with its side of the replay check, and ``_apply`` reports exactly
    the reason a strictly sequential pass would have reported.
    """

    path: Path
    out: IngestOutcome
    now: dt.datetime
    before_replay: DvnetError | None = None  # parse .. freshness: reported without asking the ledger
    after_replay: DvnetError | None = None  # decrypt .. contract: reported only if the replay check passes
    header: dict | None = None
    manifest: dict | None = None
    contract: Contract | None = None
    table: arrow.Table | None = None
    counts: arrow.Table | None = None
    staged: staged_files.Encoded | None = None  # a record bundle's staged file, encoded from the rows that passed
    project: str | None = None
    gone: bool = False  # left the inbox before it was read: another writer has it; nothing to record
    partition: tuple[str, str] | None = None  # (agency, period) it is filed under; None when gone


def _unexpected() -> IngestRefusal:
    """A library crash on a bundle's bytes or while loading it: a refusal, never a lost file."""
    return IngestRefusal("UNEXPECTED_ERROR", "the bundle could not be processed")


@dataclass
class _Found:
    """What verifying a file found that filing it needs (``filing.partition_of``)."""

    blob: bytes | None = None
    parsed: bundle.ParsedBundle | None = None
    signed: bool | None = None  # None: the signature was not reached
    period: str | None = None  # the decrypted manifest's


def _verify(path: Path, ctx: CoordinatorContext, now: dt.datetime, encode: bool = False) -> _Verified:
    """Every check of one bundle file that does not need the warehouse, and the partition it is
    filed under (``filing.partition_of``, from what the checks found; what they did not reach is
    found there). Never raises for the file's content: a parser or library crash on hostile bytes
    is a refusal (UNEXPECTED_ERROR), and filed under the sentinel. ``encode``: a record bundle's
    staged file is made here too (``_encoded``), not by the load."""
    found = _Found()
    v = _verify_steps(Path(path), ctx, now, encode, found)
    if not v.gone:
        try:
            v.partition = partition_of(found.blob, ctx, found.parsed, found.signed, found.period)
        except Exception:  # noqa: BLE001 - a crash on hostile bytes files them with the unverified
            v.partition = SENTINEL
    return v


def _verify_steps(path: Path, ctx: CoordinatorContext, now: dt.datetime, encode: bool, found: _Found) -> _Verified:
    out = IngestOutcome(file_name=inbox_name(path), file_sha256=None, outcome="quarantined")
    v = _Verified(path, out, now)
    try:
        entry = read_entry(path, ctx.max_bundle_bytes)  # never follows a link, never opens a FIFO
    except FileNotFoundError:  # taken by a concurrent writer between listing and reading: its outcome, not ours
        v.gone = True
        return v
    except DvnetError as e:  # not a regular file, or the operating system refused it
        v.before_replay = e
        return v
    out.file_sha256 = entry.sha256
    try:
        if entry.blob is None:  # over the cap: hashed as a stream, never read whole
            raise IngestRefusal("TOO_LARGE", f"the file is larger than the {ctx.max_bundle_bytes} byte limit"
                                             + ("" if entry.sha256 else "; it was not read (far larger than anything sent, or still growing)"))
        found.blob = entry.blob
        parsed = found.parsed = bundle.parse(entry.blob, ctx.max_bundle_bytes)
        h = parsed.header
        out.agency_id, out.bundle_id, out.sequence = h["agency_id"], h["bundle_id"], h["sequence"]
        out.contract, out.mode = f"{h['contract_id']}/v{h['contract_version']}", h["mode"]
        org, contract = _registry_checks(h, ctx, now)
        found.signed = False
        bundle.verify_signature(parsed, bundle.signing_public_key_from_text(org.signing_public_key))
        found.signed = True
        bundle.check_recipient(parsed, ctx.network.coordinator.encryption_key_id, ctx.network.coordinator.key_epoch)
        bundle.check_freshness(parsed, now, ctx.max_clock_skew)
        _check_lifetime(h)
    except DvnetError as e:
        v.before_replay = e
        return v
    except Exception:  # noqa: BLE001
        v.before_replay = _unexpected()
        return v
    v.header, v.contract = h, contract
    try:
        opened = bundle.decrypt(parsed, ctx.encryption_key)
        found.period = str(opened.manifest["period"])
        bundle.check_manifest(h, opened.manifest)
        m = opened.manifest
        out.period, out.record_count = str(m["period"]), int(m["record_count"])
        period = _check_period(out.period, ctx, now)
        v.project = _check_agreement(m, h, ctx, contract, now)
        table = _read_payload(opened.data, m["data_format"], contract.coded_columns() if h["mode"] == "record" else ())
        del opened
        if table.num_rows != out.record_count:
            raise IngestRefusal("RECORD_COUNT_MISMATCH", f"manifest says {out.record_count} rows, payload has {table.num_rows}")
        if h["mode"] == "record":
            _validate_records(table, contract)
            # Counted from the bundle's own rows with the function the contributor uses in
            # aggregate mode: every cube is one sum over contribution_counts.
            v.counts = standard_counts(table, contract) if contract.standard_tables else None
        else:
            _validate_counts(table, contract)
        _check_content(table, contract, h["mode"], period, m, ctx)
        off = off_geography_rows(table, ctx.network.geography)
        if off:
            raise IngestRefusal("CONTRACT_VIOLATION", f"region (not a region of the network's geography; {OFF_GEOGRAPHY}): {off} rows")
        v.manifest, v.table = m, table
        if encode:
            _encoded(v)
    except DvnetError as e:
        v.after_replay = e
    except Exception:  # noqa: BLE001
        v.after_replay = _unexpected()
    return v


def _apply(v: _Verified, ctx: CoordinatorContext, con) -> IngestOutcome | None:
    """The warehouse steps for a verified file, in DESIGN §7's order: replay ledger, then the
    refusal verification found after it (if any), then the one-transaction load. Moves the file
    out of the inbox, writes its receipt and audit line. None when the file left the inbox before
    this writer's turn (another writer processed it: each bundle is loaded or quarantined once).

    Writers take turns per agency (per file when the agency is not known): on DuckDB the warehouse
    lock already makes it one writer; on PostgreSQL other agencies' bundles load meanwhile."""
    with serial(con, f"agency:{v.out.agency_id}" if v.before_replay is None else f"file:{v.out.file_name}"):
        if not os.path.lexists(v.path):
            return None
        return _apply_in_order(v, ctx, con)


def _apply_in_order(v: _Verified, ctx: CoordinatorContext, con) -> IngestOutcome:
    out, now = v.out, v.now
    try:
        if v.before_replay is not None:
            raise v.before_replay
        seen = _replay_checks(v.header, out.file_sha256, con)
        unfinished = seen is not None and _unfinished(con, v.header["bundle_id"])
        if unfinished:  # loaded by a run that stopped before its audit line, receipt and archiving
            out.outcome, out.rows_loaded, out.replaced = "loaded", seen[0], unfinished[0]
        elif seen is not None and seen[1] is not None:  # its rows were replaced by a correction: none held
            out.outcome, out.reason, out.rows_loaded = "duplicate", SUPERSEDED, 0
            out.message = f"this exact bundle was loaded, then replaced by bundle {seen[1]}; nothing changed"
        elif seen is not None:
            out.outcome, out.reason, out.rows_loaded = "duplicate", "DUPLICATE", seen[0]
            out.message = "this exact bundle was already loaded; nothing changed"
        else:
            if v.after_replay is not None:
                raise v.after_replay
            maybe_crash("after_verify")
            cubes_due.owe(ctx.paths.warehouse)  # before the load commits: a kill after it still leaves the cubes owed
            out.replaced = _load(con, v, out.file_sha256, now)
            out.outcome, out.rows_loaded = "loaded", v.table.num_rows
    except DvnetError as e:
        out.outcome, out.reason, out.message = "quarantined", e.reason, e.message
    except Exception:  # noqa: BLE001 - a library crash while loading is still a quarantine, never a lost file
        error = _unexpected()
        out.outcome, out.reason, out.message = "quarantined", error.reason, error.message
    _finish(v.path, out, ctx, con, now)
    return out


def _unfinished(con: duckdb.DuckDBPyConnection, bundle_id: str) -> tuple[str | None] | None:
    """(the bundle it replaced,) when ``bundle_id`` is loaded but its finishing steps are not done."""
    rows = con.execute("SELECT l.supersedes FROM unfinished_loads u JOIN ledger l USING (bundle_id) WHERE u.bundle_id = ?", [bundle_id]).fetchall()
    return rows[0] if rows else None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def ingest_file(path: Path, ctx: CoordinatorContext, con: duckdb.DuckDBPyConnection, now: dt.datetime | None = None) -> IngestOutcome:
    """Verify and load (or quarantine) one bundle file; moves the file out of the inbox either way.
    ``FileNotFoundError`` when the file left the inbox before it was read."""
    ensure_schema(con)
    verified = _verify(Path(path), ctx, now or _now())
    out = None if verified.gone else _apply(verified, ctx, con)
    if out is None:
        raise FileNotFoundError(errno.ENOENT, "the inbox file is gone", inbox_name(Path(path)))
    return out


def ingest_files(paths: list[Path], ctx: CoordinatorContext, con: duckdb.DuckDBPyConnection, now: dt.datetime | None = None) -> Iterator[IngestOutcome]:
    """``ingest_file`` for each path in order, with the next file's verification (decrypt, parse,
    re-validate, count) running in a thread while this one loads: the two cores overlap the
    warehouse insert with the next bundle's checks. At most two bundles are in memory. Outcomes,
    reasons and the warehouse are exactly those of calling ``ingest_file`` one by one."""
    ensure_schema(con)
    for verified in _verified_ahead([Path(p) for p in paths], ctx, now):
        out = None if verified.gone else _apply(verified, ctx, con)
        if out is not None:  # None: another writer took it; its outcome is recorded there
            yield out


@dataclass
class BatchGroup:
    """One agency × period of a batch (``ingest_batch``): its outcomes, how many of its files left
    the inbox before their load turn (another writer processed them: each bundle is loaded or
    quarantined exactly once), its writer connection (held until the next group is asked for),
    and the SHA-256 of each loaded record bundle's staged file as encoded from the rows that passed
    (for ``loaded_rows_conform``: a stored file with these bytes holds exactly those rows)."""

    agency: str
    period: str
    con: object
    outcomes: list[IngestOutcome] = field(default_factory=list)
    gone: int = 0
    digests: dict[str, str] = field(default_factory=dict)

    @property
    def files(self) -> int:
        return len(self.outcomes) + self.gone

    def add(self, v: _Verified, out: IngestOutcome | None) -> None:
        if out is None:
            self.gone += 1
            return
        self.outcomes.append(out)
        if out.outcome == "loaded" and v.staged is not None:
            self.digests[out.bundle_id] = v.staged.sha256


def ingest_batch(paths: list[Path], ctx: CoordinatorContext, writer: Callable[[], AbstractContextManager], unread: Counter,
                 now: dt.datetime | None = None) -> Iterator[BatchGroup]:  # fmt: skip
    """``ingest_files`` over a batch in ingest order, reported per group: consecutive bundles filed
    under one agency × period (``_Verified.partition``, found as each bundle verifies: no pass
    over the inbox beforehand), each group's loads in its own ``writer()`` turn, so another writer
    waits for one group's loads, never for the whole batch. The look-ahead verification runs
    across group boundaries. Files that left the inbox before they were read (another writer
    has them) belong to no group: ``unread["not_in_inbox"]`` counts them."""
    ahead = _still_there(_verified_ahead([Path(p) for p in paths], ctx, now), unread)
    schema_made = None
    pending = next(ahead, None)
    while pending is not None:
        agency, period = pending.partition
        with writer() as con:
            if con is not schema_made:  # once per connection: a turn may keep the last one
                ensure_schema(con)
                if schema_made is None:
                    rollback.refuse_if_behind(con, ctx.paths.audit_log)
                schema_made = con
            group = BatchGroup(agency, period, con)
            while pending is not None and pending.partition == (agency, period):
                group.add(pending, _apply(pending, ctx, con))
                pending = next(ahead, None)  # the group ends where the next bundle is filed elsewhere
            yield group


def _still_there(verified: Iterator[_Verified], unread: Counter) -> Iterator[_Verified]:
    for v in verified:
        if v.gone:
            unread["not_in_inbox"] += 1
        else:
            yield v


def _verified_ahead(paths: list[Path], ctx: CoordinatorContext, now: dt.datetime | None) -> Iterator[_Verified]:
    """``_verify`` of each path in order, the next one verified in a thread while the caller works
    on this one (at most two bundles in memory)."""
    if not paths:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dvnet-verify") as pool:
        ahead = pool.submit(_verify, paths[0], ctx, now or _now())
        for nxt in [*paths[1:], None]:
            verified = ahead.result()
            if nxt is not None:
                ahead = pool.submit(_verify, nxt, ctx, now or _now())
            yield verified


def verify_files(paths: list[Path], ctx: CoordinatorContext, now: dt.datetime | None = None) -> list[_Verified]:
    """Every check of each file that needs no warehouse (parse, signature, decrypt, re-validate,
    count), taken OUTSIDE the warehouse lock: intake runs of other partitions verify at the same
    time and only queue for ``load_verified``. All the files' tables are held until they load."""
    return [_verify(Path(p), ctx, now or _now(), encode=True) for p in paths]


def load_verified(verified: list[_Verified], ctx: CoordinatorContext, con: duckdb.DuckDBPyConnection) -> tuple[list[IngestOutcome], int]:
    """The warehouse steps (``_apply``) of files ``verify_files`` checked; and how many were skipped because they had left the inbox meanwhile (another writer
    processed them while this run verified: each bundle is loaded or quarantined exactly once)."""
    ensure_schema(con)
    outcomes = [out for v in verified if not v.gone and (out := _apply(v, ctx, con)) is not None]
    return outcomes, len(verified) - len(outcomes)


def _finish(path: Path, out: IngestOutcome, ctx: CoordinatorContext, con: duckdb.DuckDBPyConnection, now: dt.datetime) -> None:
    """Record the outcome (audit line, receipt, quarantine log), then move the entry out of the inbox.

    The durable records come first and the move last: until the entry leaves the inbox, a crash is
    completed by the next run (a load by its ``unfinished_loads`` row, a refusal by refusing it
    again), so no bundle ends loaded or quarantined without its audit line and receipt. A crash
    between the records and the move neither loses the audit line nor repeats it (``_arrival``).
    Everything is named by ``out.file_name`` (``inbox_name``), never by the raw name. An entry that
    was never read (``file_sha256`` None) gets no receipt: a receipt names the bytes received."""
    quarantined = out.outcome == "quarantined"
    # The audit entry first: the receipt anchors the log's head including it. It is logged once per
    # arrival: a rerun after a crash before the move finds it (``once``) instead of repeating it.
    once, since = _arrival(path)
    head = audit.append(
        ctx.paths.audit_log, f"bundle_{out.outcome}", actor=KeySigner(f"coordinator:{ctx.network.coordinator.id}", ctx.signing_key),
        objects={"agency": out.agency_id, "bundle": out.bundle_id, "file_sha256": out.file_sha256, "file": out.file_name}, outcome=out.outcome,
        reason=out.reason, head_key=ctx.signing_key, now=now, contract=out.contract, mode=out.mode, period=out.period, sequence=out.sequence,
        record_count=out.record_count, rows_loaded=out.rows_loaded, replaced=out.replaced, once=once, once_since=since,
    )  # fmt: skip
    maybe_crash("after_audit")
    if out.file_sha256 is not None:
        _write_receipt(out, ctx, now, head)
    maybe_crash("after_receipt")
    dest_dir = ctx.paths.quarantine if quarantined else ctx.paths.archive
    private_dir(dest_dir)
    dest = destination(dest_dir, out.file_name, out.file_sha256)
    if quarantined:
        # Once per arrival, like the audit line: a rerun after a crash before the move finds the
        # row this arrival already wrote (same name and bytes, logged since it arrived).
        con.execute(
            "INSERT INTO quarantine_log SELECT ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM quarantine_log"
            " WHERE file_name = ? AND file_sha256 IS NOT DISTINCT FROM ? AND quarantined_at >= ?)",
            [out.file_name, out.file_sha256, out.reason, out.message, out.agency_id, out.bundle_id, now, out.file_name, out.file_sha256, since or now],
        )
        reason = {k: v for k, v in out.to_dict().items() if k in ("file_name", "file_sha256", "reason", "message", "agency_id", "bundle_id", "sequence")}
        atomic_write(dest.with_name(dest.name + ".reason.json"), json.dumps({**reason, "at": now.isoformat()}, indent=2).encode())
        maybe_crash("after_quarantine_log")
    elif out.outcome == "loaded":
        con.execute("DELETE FROM unfinished_loads WHERE bundle_id = ?", [out.bundle_id])
    move_out(path, dest)
    try:
        make_private(dest)  # an entry keeps the mode it was delivered with; a folder, what it holds too (links not followed)
    except PermissionError:
        pass  # another account's upload (an SFTP drop user's): only its owner may change its mode; the folder is owner-only
    maybe_crash("after_archive")


def _arrival(path: Path) -> tuple[str | None, dt.datetime | None]:
    """This inbox entry's arrival, as the audit log's ``once`` key, and the time it arrived (its
    inode's change time, minus a margin for the log's whole seconds). A new delivery of the same
    file is a new inode, so it is logged again; nothing touches the entry until it is moved out."""
    try:
        st = os.lstat(path)
    except OSError:
        return None, None
    arrived = dt.datetime.fromtimestamp(st.st_ctime_ns / 1e9, dt.UTC) - dt.timedelta(seconds=2)
    return f"inbox:{st.st_dev}:{st.st_ino}:{st.st_ctime_ns}", arrived


def _write_receipt(out: IngestOutcome, ctx: CoordinatorContext, now: dt.datetime, head: audit.Head) -> None:
    quarantined = out.outcome == "quarantined"
    # Named by the file's hash too: a replay claiming a loaded bundle's id must not overwrite
    # the original's receipt. A duplicate never rewrites the receipt already written for its file
    # (its time and anchor are the first delivery's); a duplicate of a bundle replaced since gets
    # none: "loaded" is no longer true, and a receipt has no other outcome for it (SPEC §6).
    name = f"{out.bundle_id or 'unreadable'}.{out.file_sha256[:16]}.receipt.json"
    path = ctx.paths.receipts / (out.agency_id or "_unknown") / name
    if out.outcome == "duplicate" and (path.exists() or out.reason == SUPERSEDED):
        return
    receipt = bundle.make_receipt(
        bundle_sha256=out.file_sha256,
        bundle_id=out.bundle_id,
        agency_id=out.agency_id,
        sequence=out.sequence,
        outcome="quarantined" if quarantined else "loaded",
        reason=out.reason if quarantined else None,
        rows_loaded=0 if quarantined else out.rows_loaded,
        received_at=now,
        signing_key=ctx.signing_key,
        audit_head=head.to_dict(),
    )
    atomic_write(path, receipt)


def ingest_inbox(ctx: CoordinatorContext, con: duckdb.DuckDBPyConnection, files: list[Path] | None = None, now: dt.datetime | None = None) -> list[IngestOutcome]:
    return list(ingest_files(files if files is not None else pending_files(ctx.paths.inbox), ctx, con, now))


__all__ = ["CoordinatorContext", "IngestOutcome", "IngestRefusal", "ingest_file", "ingest_files", "ingest_inbox", "load_verified", "pending_files", "verify_files"]
