"""One contribution, end to end: read → validate → consent → de-identify → disclosure check → seal
(aggregate mode: each block de-identified and counted as it is validated, then the counts
checked and sealed; record mode: each block's consent settled and its keys hashed as it is
validated, then the consenting rows checked, de-identified and sealed).

Every record read is accounted for: ``read = rejected + excluded (consent) + withheld (k) + sent``
(in aggregate mode, "sent" means counted into the standard tables). The function returns a
value-free result for the steward's report; it never prints.
"""

from __future__ import annotations

import datetime as dt
import errno
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dvnet import bundle
from dvnet.anonymize import consent as consent_rules
from dvnet.anonymize import kanonymity
from dvnet.anonymize.counts import merge_counts, standard_counts
from dvnet.anonymize.deidentify import DeidentificationError, KeyedColumns, deidentify, generalise_early, keyed_outputs, quasi_identifier_frame, read_after_validation, take_rows
from dvnet.anonymize.pseudonyms import KeyedHashError, project_linkage_key
from dvnet.anonymize import scratch
from dvnet.contracts.errors import DvnetError, ExtractError, RegistryError
from dvnet.contracts.geography import Geography
from dvnet.contracts.periods import Period
from dvnet.contracts.registry import Contract, get_contract
from dvnet.contracts.roles import Transform
from dvnet.contracts.tiers import check_allowed, default_mode
from dvnet.common import audit
from dvnet.kernels.arrow_memory import give_back_freed_memory
from dvnet.pipelines.contributor import history, outbox, sequence
from dvnet.pipelines.contributor.mapping import Mapping
from dvnet.pipelines.contributor.read import RESTART, ExtractRead, ReadLimits
from dvnet.pipelines.contributor.validate import BlockValidation, Issue, ValidationResult, validate_extract
from dvnet.pipelines.contributor.wording import LIFTED_BY
from dvnet.common.faults import maybe_crash
from dvnet.common.files import private_folder, reveal, write_hidden
from dvnet.common.network import AgencyConfig, agency_actor, agency_geography

#: What --project and --supersedes name: a registry id (a DSA's), a bundle id (SPEC §3).
PROJECT_ID = re.compile(r"[a-z0-9][a-z0-9-]{1,40}")
BUNDLE_ID = re.compile(r"[0-9a-f]{32}")
STAGES = ("read", "validate", "consent", "de-identify", "disclosure check", "seal")
#: Rows per Parquet row group of a record payload: the keyed columns join a part at a time.
PART_ROWS = 1 << 17


@dataclass
class ContributionOptions:
    contract_id: str
    extract: Path
    period: str
    mode: str | None = None  # None: the contract's default (aggregate where allowed)
    version: int | None = None
    dry_run: bool = False
    k: int | None = None
    max_reject_share: float | None = None
    max_withheld_share: float | None = None
    project: str | None = None  # DSA id, for research extracts
    supersedes: str | None = None
    resend: bool = False  # send again a contract × period this agency sent before (history.check_not_sent)
    now: dt.datetime | None = None
    rng: Callable[[int], bytes] = os.urandom
    limits: ReadLimits = field(default_factory=ReadLimits)
    read_ahead: ExtractRead | None = None  # the reading of ``extract`` under ``limits``, started early (ExtractRead.ahead)


@dataclass
class ContributionResult:
    agency_id: str
    contract: str
    mode: str
    period: str
    status: str = "started"  # sealed | dry-run | refused
    refusal: dict | None = None
    extract_name: str = ""
    extract_sha256: str = ""
    records_read: int = 0
    rejected: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    fields_absent: list[str] = field(default_factory=list)  # optional fields the export has no column for: read as empty
    warnings: list[str] = field(default_factory=list)  # what the steward should know before a real run (a dry run's findings)
    issues: list[Issue] = field(default_factory=list)
    read_problems: list[dict] = field(default_factory=list)  # the pre-scan's findings: reason, place, wording (no values)
    excluded_consent: int = 0
    excluded_by_reason: dict[str, int] = field(default_factory=dict)
    withheld_k: int = 0
    held_back: int = 0  # records not sent because the whole run was refused
    sent: int = 0
    output_columns: list[str] = field(default_factory=list)
    k_summary: str | None = None
    k_achieved: int | None = None
    cube_tables: int | None = None
    cube_cells: int | None = None
    #: aggregate mode: the count tables that leave (table_name, the dimensions, n), for the
    #: steward's report; not in the JSON report (the bundle holds them)
    counts: pa.Table | None = field(default=None, repr=False)
    bundle_id: str | None = None
    bundle_file: str | None = None
    bundle_sha256: str | None = None
    bundle_bytes: int | None = None
    sequence: int | None = None
    supersedes: str | None = None
    project: str | None = None

    @property
    def reconciles(self) -> bool:
        return self.records_read == self.rejected + self.excluded_consent + self.withheld_k + self.held_back + self.sent

    def to_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k not in ("issues", "counts")}
        d["issues"] = [i.to_dict() for i in self.issues]
        d["reconciles"] = self.reconciles
        return d


class _Refused(Exception):
    def __init__(self, reason: str, message: str, hint: str | None = None):
        self.reason, self.message, self.hint = reason, message, hint

    @classmethod
    def of(cls, error: Exception) -> _Refused:
        """A typed error's refusal, its hint (what lifts it) kept for the steward's report."""
        return cls(error.reason, error.message, getattr(error, "hint", None))


def _write_payload(tables: Iterable[pa.Table], sink, unique_columns: frozenset[str] = frozenset()) -> None:
    """Parquet (zstd) of ``tables`` (one row group each, all of one schema) into ``sink`` (a
    ``bundle.BundleWriter``, which encrypts it as it comes; or a path, for the benchmarks).
    ``unique_columns`` (pseudonyms, tokens: one value per row) skip dictionary encoding, which
    for them is a hash table built only to be thrown away, and are written DELTA_LENGTH_BYTE_ARRAY
    (the lengths apart from the bytes): for 650,000 pairs of 32-hex-character pseudonyms 88 ms and
    19.9 MiB against 150 ms and 21.6 MiB in PLAIN encoding. No column statistics: the coordinator
    reads every row of a payload, so min/max would only cost time (a fifth of the write) and put
    two pseudonyms per column in the footer. No stored Arrow or pandas schema either: a reader
    gets text as plain Arrow ``string`` whichever string type the pipeline held (large or not:
    Parquet stores both alike), and no software versions."""
    writer = None
    for table in tables:
        if writer is None:
            dictionary = [c for c in table.column_names if c not in unique_columns]
            writer = pq.ParquetWriter(
                sink, table.schema, compression="zstd", use_dictionary=dictionary, write_statistics=False, store_schema=False,
                column_encoding={c: "DELTA_LENGTH_BYTE_ARRAY" for c in table.column_names if c in unique_columns} or None,
            )
        writer.write_table(table)
    if writer is None:
        raise ValueError("a payload needs at least one table (an empty one for no rows)")
    writer.close()


def _record_parts(unkeyed: Iterator[pa.Table], keyed_parts: Iterator[tuple[int, dict[str, pd.Series]]], columns: list[str],
                  labelled: frozenset[str] = frozenset()) -> Iterator[pa.Table]:  # fmt: skip
    """The record payload part by part: each keyed part joined to the same rows of the unkeyed
    columns (``unkeyed``: tables of consecutive rows, cut anywhere), in output order (one empty
    table when no record is sent). Each part is one chunk per column, and its ``labelled``
    columns (dictionaries of labels made from the rows: quarters, months) hold the labels its
    rows use, in order, so that a part's bytes do not depend on where the blocks were cut."""
    rows_of = _Rows(unkeyed)
    sent = 0
    for rows, part in keyed_parts:
        piece = _canonical(rows_of.take(rows), labelled)
        for name, series in part.items():
            piece = piece.append_column(name, pa.chunked_array([pa.array(series.array)]).cast(pa.large_string()))
        sent += rows
        yield piece.select(columns)
    if rows_of.take(None).num_rows:
        raise AssertionError("the keyed parts do not cover the records sent")
    if sent == 0:  # nothing is sent: an empty payload with the same columns
        empty = rows_of.empty
        for name in columns:
            if name not in empty.column_names:
                empty = empty.append_column(name, pa.array([], pa.large_string()))
        yield _canonical(empty, labelled).select(columns)


class _Rows:
    """The rows of a stream of tables taken ``n`` at a time, across the tables' ends."""

    def __init__(self, tables: Iterator[pa.Table]) -> None:
        self._tables, self._held = iter(tables), []
        self.empty: pa.Table | None = None

    def take(self, n: int | None) -> pa.Table:
        """The next ``n`` rows (None: all that are left) as one table."""
        pieces, wanted = [], n
        while wanted is None or wanted > 0:
            if not self._held:
                table = next(self._tables, None)
                if table is None:
                    break
                if self.empty is None:
                    self.empty = table.slice(0, 0)
                self._held.append(table)
                continue
            table = self._held.pop(0)
            if wanted is not None and table.num_rows > wanted:
                self._held.insert(0, table.slice(wanted))
                table = table.slice(0, wanted)
            pieces.append(table)
            wanted = None if wanted is None else wanted - table.num_rows
        if wanted:
            raise AssertionError("the keyed parts ask for more records than are sent")
        if not pieces:
            if self.empty is None:
                raise AssertionError("no block was de-identified")
            return self.empty
        return pa.concat_tables(pieces).combine_chunks()


def _canonical(table: pa.Table, labelled: frozenset[str]) -> pa.Table:
    """``table`` with each ``labelled`` dictionary column holding only the labels its rows use, sorted
    (labels of quarters and months sort as their dates do)."""
    for name in labelled & set(table.column_names):
        column = table.column(name).combine_chunks()
        if not pa.types.is_dictionary(column.type):
            continue
        used = pc.unique(column.indices).drop_null().to_numpy()
        labels = column.dictionary.take(pa.array(used, pa.int64())).to_pylist()
        order = sorted(range(len(labels)), key=labels.__getitem__)
        remap = np.zeros(len(column.dictionary), dtype=np.int64)
        remap[used[order]] = np.arange(len(order))
        indices = pc.take(pa.array(remap), column.indices).cast(column.type.index_type)
        relabelled = pa.DictionaryArray.from_arrays(indices, pa.array([labels[i] for i in order], column.type.value_type))
        table = table.set_column(table.column_names.index(name), name, relabelled)
    return table


def _label_columns(contract: Contract) -> frozenset[str]:
    """The output columns whose labels ``generalise`` makes from the rows (quarters, months)."""
    made = {f.output or f.name for f in contract.fields() if f.transform in (Transform.QUARTER, Transform.MONTH)}
    return frozenset(made | {contract.quarter_column})


@dataclass
class _Run:
    """One contribution as settled before the extract is opened: what is sent, in which mode,
    for which period, under which limits; and the result every step accounts into."""

    agency: AgencyConfig
    opts: ContributionOptions
    contract: Contract
    mode: str
    period: Period
    now: dt.datetime
    k: int
    max_reject: float
    max_withheld: float
    result: ContributionResult
    keyed: KeyedColumns | None = None  # record mode: the pseudonyms, hashed block by block from validation on
    pseudonym_key: bytes | None = None  # record mode
    project_key: bytes | None = None  # record mode, contracts with a linkage token
    signing_key: object | None = None  # unless a dry run
    recipient_key: object | None = None  # unless a dry run: the coordinator's pinned key
    key_epoch: int = 1
    mapping: Mapping = field(default_factory=Mapping)  # the agency's mapping file for the contract, read when the run is settled
    scratch: str | None = None  # where long runs' encrypted scratch files go (None: the temporary folder)
    unnamed: tuple[Path, Path] | None = None  # the sealed bundle's hidden file and its name, until it is logged

    @property
    def geography(self) -> Geography:
        return agency_geography(self.agency)


@dataclass
class _Payload:
    """What the seal step writes: the payload's tables and the record count its header declares."""

    parts: Iterator[pa.Table]
    record_count: int


def contribute(
    agency: AgencyConfig,
    opts: ContributionOptions,
    progress: Callable[[str], None] | None = None,
) -> ContributionResult:
    """Run one contribution for ``agency``; always returns a result (refusals included).

    The steps are ``STAGES``; record mode settles each block's consent and starts hashing its
    keyed columns as the block is validated (``_BlockConsent``), then checks disclosure
    (k-anonymity) before it de-identifies; aggregate mode de-identifies and counts each block as
    it is validated (``_BlockCounts``: no consent step, every row is counted), and its disclosure
    check is the standard tables."""
    step = progress or (lambda _stage: None)
    run = _settle(agency, opts)
    try:
        try:
            step("read")
            frame, per_block = _read_and_validate(run, step)
        except ExtractError as e:
            run.result.read_problems = [p.to_dict() for p in e.context.get("problems", [])]
            raise _Refused.of(e) from None
        del frame  # record mode keeps no rows (``_BlockRecords``), aggregate mode counts (``_BlockCounts``)
        if run.mode == "record":
            step("consent")
            per_block.finish(run.result)
            step("disclosure check")
            small = _withhold_small_classes(run, per_block.classes)
            step("de-identify")
            payload, per_block = per_block.payload(run, small), None  # the blocks' tables live on in the payload's parts only
        else:
            step("disclosure check")
            payload = _standard_tables(run, per_block)
        _seal(run, payload, step)
    except _Refused as r:
        _account_refusal(run.result, r)
    except DeidentificationError as e:  # OUTPUT_MODEL_VIOLATION: a bug, but the steward still gets the report
        _account_refusal(run.result, _Refused.of(e))
    finally:
        if run.keyed is not None:
            run.keyed.cancel()  # a refused run stops the hashing it started; a finished one has nothing left
    if not run.result.reconciles:
        raise AssertionError("records read do not reconcile with rejected + excluded + withheld + held back + sent")
    _audit(run)
    if run.unnamed is not None:  # logged: now it may wait to be sent
        maybe_crash("after_contribution_audit")
        reveal(*run.unnamed)
    return run.result


def check_options(agency: AgencyConfig, opts: ContributionOptions) -> None:
    """Raise the usage or configuration error ``contribute`` would raise before reading anything
    (for a command to check its options before it sets up the run)."""
    _settle(agency, opts)


def _settle(agency: AgencyConfig, opts: ContributionOptions) -> _Run:
    """The contract, mode, period, limits and keys of the run, or a usage or configuration error
    (exit 2): every option and policy value is checked, and every key the run will need is read,
    before the extract is opened, so a run that cannot finish never starts."""
    now = opts.now or dt.datetime.now(dt.UTC).replace(microsecond=0)
    contract = get_contract(opts.contract_id, opts.version)
    policy = agency.policy
    preferred = policy.get("default_mode")
    # An agency-wide preference applies only where the contract offers it (research extracts
    # are record-only even for an agency that prefers aggregate mode).
    mode = opts.mode or (preferred if preferred in contract.modes else None) or default_mode(contract)
    period = Period.parse(opts.period)
    check_allowed(agency.tier, contract, mode)
    agency_geography(agency)  # a configuration error before the extract is opened, not after
    if contract.linkage_inputs and not opts.project:
        raise DvnetError("USAGE_PROJECT_REQUIRED", f"{contract.ref} is sent for a research project: pass --project <DSA id>")
    if opts.project is not None and not contract.linkage_inputs:
        raise DvnetError("USAGE_PROJECT_UNEXPECTED", f"{contract.ref} is not sent for a research project: leave out --project")
    if opts.project is not None and not PROJECT_ID.fullmatch(opts.project):
        raise DvnetError("USAGE_PROJECT_INVALID", "--project is a data-sharing agreement id: lowercase letters, digits and dashes")
    if opts.supersedes is not None and not BUNDLE_ID.fullmatch(opts.supersedes):
        raise DvnetError("USAGE_SUPERSEDES_INVALID", "--supersedes is the bundle id of the contribution it corrects: 32 lowercase hex digits")
    result = ContributionResult(agency.agency_id, contract.ref, mode, str(period), supersedes=opts.supersedes, project=opts.project)
    if not opts.dry_run:
        outbox.finish_interrupted(agency)  # a bundle an earlier run logged but was killed before naming
        history.check_not_sent(agency, contract.id, str(period), opts.project, opts.supersedes, opts.resend)
    else:  # a dry run shows what would leave, and says what would stop the real run
        try:
            history.check_not_sent(agency, contract.id, str(period), opts.project, opts.supersedes, opts.resend)
        except DvnetError as e:
            result.warnings.append(f"the real run would be refused: {e.reason}: {e.message}" + (f" ({e.hint})" if e.hint else ""))
    result.extract_name = Path(opts.extract).name
    run = _Run(
        agency, opts, contract, mode, period, now,
        k=_option_or_policy(kanonymity.check_k, "k", opts.k, policy, kanonymity.DEFAULT_K),
        max_reject=_option_or_policy(_share, "max_reject_share", opts.max_reject_share, policy, 0.0),
        max_withheld=_option_or_policy(_share, "max_withheld_share", opts.max_withheld_share, policy, 0.0),
        result=result,
    )
    _load_keys(run)
    run.mapping = Mapping.load(agency.mapping_path(contract.id))  # a broken mapping file is configuration: refused before reading
    run.scratch = scratch_folder(agency.folder / "scratch")  # on disk even where /tmp is held in memory
    return run


def scratch_folder(on_disk: Path) -> str | None:
    """Where a run's scratch files go (``anonymize.scratch``): the system's temporary folder
    (None) unless it is held in memory, then ``on_disk`` (made owner-only), so what leaves the
    process's memory is not kept in memory elsewhere; the temporary folder again where ``on_disk``
    cannot be made (read-only, not ours)."""
    if not scratch.memory_backed(tempfile.gettempdir()):
        return None
    try:
        return str(private_folder(on_disk))
    except OSError:
        return None


def _share(value: object) -> float:
    """A share of records, a finite number from 0 to 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:  # NaN fails the range too
        raise DvnetError("USAGE_SHARE_INVALID", "a share of records is a number from 0 to 1, e.g. 0.05")
    return float(value)


def _option_or_policy(check: Callable[[object], object], name: str, option: object, policy: dict, default: object):
    """The option if given, else the agency's policy value, else ``default``, each checked by
    ``check``; a bad option is a usage error, a bad policy value an agency configuration error."""
    if option is not None:
        return check(option)
    try:
        return check(policy.get(name, default))
    except DvnetError as e:
        raise RegistryError("AGENCY_CONFIG_INVALID", f"agency.yaml: policy.{name}: {e.message}", field=f"policy.{name}") from None


def _load_keys(run: _Run) -> None:
    """Every key the run needs, read now: an unreadable or insecure key file refuses the run
    before anything is read or a sequence number taken."""
    agency, contract = run.agency, run.contract
    if run.mode == "record":
        run.pseudonym_key = bundle.read_secret(agency.pseudonym_key_path)
        if contract.linkage_inputs:
            run.project_key = project_linkage_key(agency.linkage_key(), run.opts.project)
    if not run.opts.dry_run:
        run.signing_key = bundle.load_signing_key(agency.signing_key_path)
        try:
            run.recipient_key = bundle.encryption_public_key_from_text(agency.coordinator["encryption_public_key"])
        except DvnetError:
            raise RegistryError("AGENCY_CONFIG_INVALID", "agency.yaml: coordinator.encryption_public_key is not a valid X25519 key",
                                field="coordinator.encryption_public_key") from None
        epoch = agency.coordinator.get("key_epoch", 1)
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 1:
            raise RegistryError("AGENCY_CONFIG_INVALID", "agency.yaml: coordinator.key_epoch must be a whole number of at least 1", field="coordinator.key_epoch")
        run.key_epoch = epoch


def _read_and_validate(run: _Run, step: Callable[[str], None]) -> tuple[pd.DataFrame, _BlockCounts | _BlockRecords]:
    """read and validate, a block of the extract at a time (every problem located, none quoted;
    the contract's column names): the rows that hold the contract's types and rules; the rest
    are counted as rejected, by reason. Refused when more records were rejected in required
    fields than the agency allows. A unique field's repeated values are known once every block was
    read (by their hashes): an extract that has any is then read and validated again knowing
    them (``BlockValidation``). No rows are kept (an empty frame): record mode's consenting rows
    are de-identified and their classes counted block by block (``_BlockRecords``), aggregate
    mode's accepted rows counted into the standard tables (``_BlockCounts``)."""
    mapping = run.mapping
    reading = run.opts.read_ahead or ExtractRead(run.opts.extract, run.opts.limits)
    if (reading.path, reading.limits) != (run.opts.extract, run.opts.limits):
        raise ValueError("read_ahead reads another file or under other limits than the options name")
    known = mapping.known_names(run.contract)
    checked, counted = _validate_blocks(run, mapping, reading, known, None, step)
    while checked.repeated_across_blocks:  # at most twice: told the hashes, then (rarely) the values
        again = ExtractRead(run.opts.extract, run.opts.limits)
        checked, counted = _validate_blocks(run, mapping, again, known, checked.repeated_across_blocks, lambda _stage: None)
        if again.sha256 != reading.sha256:
            raise ExtractError("FILE_UNREADABLE", f"{run.result.extract_name}: the file changed while it was being read; read it again")
    result = run.result
    result.extract_sha256 = reading.sha256
    result.records_read = checked.records
    result.issues = checked.issues
    result.rejected = checked.rejected
    result.rejected_by_reason = checked.rejected_by_reason
    result.fields_absent = checked.absent
    share = checked.rejected / max(checked.records, 1)
    if checked.records and checked.rejected == checked.records:  # no --max-reject-share sends an empty bundle for the period
        raise _Refused(
            "NO_VALID_RECORDS", f"none of the {checked.records:,} records is valid, so nothing can be sent for {run.period}",
            _all_rejected_hint(run, checked.rejected_by_reason),
        )
    if checked.rejected_required and share > run.max_reject:
        raise _Refused(
            "REJECTED_ROWS_OVER_LIMIT",
            f"{checked.rejected} of {checked.records} records ({share:.1%}) were rejected; the limit is {run.max_reject:.1%}",
            _unknown_codes_hint(checked.issues),
        )
    return checked.frame, counted


def _unknown_codes_hint(issues: list[Issue]) -> str | None:
    """Codes off a contract's list are often the agency's own: what to map, before the share that
    would send the rest anyway."""
    fields = sorted({i.column for i in issues if i.reason == "CODE_UNKNOWN"})
    if not fields:
        return None
    return (f"if the unknown codes in {', '.join(fields)} are your system's own, map each onto the contract's code under "
            "values: in the agency's mapping file (`dvnet contracts docs` lists the codes; try it with `dvnet mapping check`); "
            f"otherwise, {LIFTED_BY['REJECTED_ROWS_OVER_LIMIT']}")


def _all_rejected_hint(run: _Run, by_reason: dict[str, int]) -> str:
    """What to look at when every record was rejected: the period or the date format when one
    reason rejected them all, else the problem table."""
    only = next(iter(by_reason)) if len(by_reason) == 1 else None
    if only == "OUT_OF_PERIOD":
        return (f"every record's {run.contract.event_date} lies outside {run.period}: check that --period names the quarter "
                "this export covers (or export that quarter)")
    if only == "DATE_INVALID":
        return "no date could be read: export dates as YYYY-MM-DD (a date without a time of day), then contribute again"
    return "the problems listed above rejected every record: mend them in the export or the mapping file, then contribute again"


def _validate_blocks(run: _Run, mapping: Mapping, reading: ExtractRead, known: frozenset[str],
                     repeated: dict | None, step: Callable[[str], None]) -> tuple[ValidationResult, _BlockCounts | _BlockRecords]:
    """One reading's blocks validated (with ``repeated``, the values known to repeat): what
    ``BlockValidation.finish`` gives, and its accepted rows' counts (aggregate mode) or consent
    and keyed hashing (record mode), block by block. A reading that starts again (``RESTART``)
    starts them all again."""
    counting = run.mode == "aggregate"

    def start() -> tuple[BlockValidation, _BlockCounts | _BlockRecords]:
        return BlockValidation(repeated, [], run.scratch), _BlockCounts(run) if counting else _BlockRecords(run)

    validation, counts = start()
    blocks = reading.blocks(known)
    for block in blocks:
        if block is RESTART:
            validation, counts = start()
            continue
        if not validation.results:
            step("validate")
        try:
            checked = validate_extract(mapping.apply(block.frame), run.contract, run.period, run.agency.organisations,
                                       first_row=block.first_record, repeated=validation.repeated)
        except ExtractError:  # the extract as a whole is refused (its columns): its records are still counted
            run.result.records_read = _count_the_rest(blocks, block.first_record + block.records)
            raise
        counts.add(checked.frame)
        validation.add(checked)
        del block, checked
        give_back_freed_memory(64 << 20)
    finished = validation.finish()
    give_back_freed_memory(64 << 20)  # what joining the blocks' rows freed (else the later steps' peak sits on top of it)
    return finished, counts


class _BlockCounts:
    """aggregate mode, a block at a time: each block's accepted rows de-identified and counted
    into the contract's standard tables as soon as the block is validated, so the extract's rows
    are never held together; the blocks' counts summed (``merge_counts``: the table counting
    every row at once gives). A block the de-identification refuses stops the counting; the
    refusal is raised once every block is validated, so the report still accounts for every record."""

    #: Blocks' count tables held before they are summed into one.
    HELD = 64

    def __init__(self, run: _Run) -> None:
        self.contract, self.geography = run.contract, run.geography
        self.tables: list[pa.Table] = []
        self.rows = 0
        self.failure: DeidentificationError | None = None

    def add(self, frame: pd.DataFrame) -> None:
        if self.failure is not None:
            return
        try:
            out = deidentify(frame, self.contract, self.geography)
        except DeidentificationError as e:
            self.failure = e
            return
        self.tables.append(standard_counts(out, self.contract))
        self.rows += len(out)
        if len(self.tables) >= self.HELD:
            self.tables = [merge_counts(self.tables)]

    def finish(self) -> tuple[pa.Table, int]:
        """The standard counts of every block's accepted rows, and how many rows they count."""
        if self.failure is not None:
            raise self.failure
        return merge_counts(self.tables), self.rows


def _count_the_rest(blocks: Iterator, so_far: int) -> int:
    """The records of an extract whose reading stopped being validated after ``so_far`` records."""
    for block in blocks:
        so_far = 0 if block is RESTART else so_far + block.records
    return so_far


class _BlockConsent:
    """consent (record mode; aggregate mode counts every row), a block at a time: each block's
    accepted rows that may leave (consent to share, present and unexpired at the period's end),
    their keyed columns started hashing at once (``KeyedColumns``: rejected and non-consenting
    rows are never pseudonymised), the block's age bands and regions made (``generalise_early``),
    and its keys, consent fields, postal codes and birth dates let go before the block is kept.
    A block of the first reading of an extract whose keys turn out to repeat across blocks is
    hashed and then dropped unsent with the whole reading (``RESTART`` or a second reading starts
    again, and the hashing started is stopped). Excluded rows counted by reason."""

    def __init__(self, run: _Run) -> None:
        if run.keyed is not None:
            run.keyed.cancel()  # a reading that starts again: what the last one started is stopped
        self.period_end, self.contract, self.geography = run.period.end, run.contract, run.geography
        self.keyed = run.keyed = KeyedColumns(run.contract, pseudonym_key=run.pseudonym_key, project_key=run.project_key, scratch=run.scratch)
        self.later = set(read_after_validation(run.contract, records=False, generalised=True))
        self.consenting = np.zeros(0, dtype=bool)  # the last block's consenting rows (every block's: ``keyed.rows``)
        self.excluded = {consent_rules.NO_CONSENT: 0, consent_rules.EXPIRED: 0}

    def add(self, frame: pd.DataFrame) -> None:
        absent, expired = consent_rules.consent_masks(frame["consent_to_share"], frame["consent_expiry"], self.period_end)
        self.excluded[consent_rules.NO_CONSENT] += int(absent.sum())
        self.excluded[consent_rules.EXPIRED] += int(expired.sum())
        keep = ~(absent | expired)
        self.keyed.add(frame, keep)
        self.consenting = keep
        generalise_early(frame, self.contract, self.geography)
        for name in [c for c in frame.columns if c not in self.later]:
            del frame[name]  # ids, linkage inputs, consent, what generalise_early read: hashed, settled or made now

    def finish(self, result: ContributionResult) -> np.ndarray:
        """Which accepted rows consent; the exclusions counted into ``result``."""
        self.keyed.close()
        result.excluded_consent = sum(self.excluded.values())
        result.excluded_by_reason = {reason: n for reason, n in sorted(self.excluded.items(), key=lambda rn: -rn[1]) if n}
        return self.keyed.rows.copy()


class _BlockRecords(_BlockConsent):
    """record mode, a block at a time: consent and the keyed hashing (``_BlockConsent``), then the
    block's consenting rows' quasi-identifiers counted into their classes (``ClassCounts``) and
    their unkeyed output columns made (``deidentify``); the block's de-identified table (Arrow
    IPC) and its rows' class numbers wait in scratch buffers (``anonymize/scratch.py``: in memory
    up to 4 MiB, then in encrypted files under a key only the process holds), and the rows go.
    ``payload`` reads them back a block at a time, leaves out the classes k withholds and joins
    the keyed columns part by part. A block the de-identification refuses stops the work; the
    refusal is raised after the disclosure check, as for one block of the whole extract."""

    def __init__(self, run: _Run) -> None:
        super().__init__(run)
        self.classes = kanonymity.ClassCounts(run.contract.quasi_identifiers())
        self.tables = scratch.SpillingBuffer("dvnet-record-blocks-", parent=run.scratch)
        self.numbers = scratch.SpillingBuffer("dvnet-record-classes-", parent=run.scratch)
        self.blocks: list[tuple[int, int, int]] = []  # per block: where its table ends, its rows, where its numbers end
        self.failure: DeidentificationError | None = None

    def add(self, frame: pd.DataFrame) -> None:
        super().add(frame)
        rows = take_rows(frame, self.consenting, consume=True)  # the consenting rows, each column let go as it is taken
        generalised = quasi_identifier_frame(rows, self.contract, self.geography)
        self.numbers.extend(self.classes.add(generalised).astype(np.int32).tobytes())
        if self.failure is None:
            try:
                out = deidentify(rows, self.contract, self.geography, generalised=generalised, consume=True)
            except DeidentificationError as e:
                self.failure = e
            else:
                self.tables.extend(_ipc_bytes(pa.Table.from_pandas(out, preserve_index=False)))
        self.blocks.append((len(self.tables), len(rows), len(self.numbers)))

    def payload(self, run: _Run, small: np.ndarray | None) -> _Payload:
        """The records sent: every consenting row but those of the ``small`` classes, block by
        block, the keyed columns joined part by part as the workers finish them."""
        if self.failure is not None:
            raise self.failure
        sent, at = [], 0
        for _, rows, end in self.blocks:
            numbers = np.frombuffer(self.numbers.read(at, end), dtype=np.int32)
            sent.append(np.ones(rows, dtype=bool) if small is None else ~small[numbers])
            at = end
        self.numbers.close()
        leaving = self.keyed.rows.copy()
        leaving[leaving] = np.concatenate(sent) if sent else np.zeros(0, dtype=bool)
        count = int(leaving.sum())
        columns = run.contract.output_columns()
        parts = _record_parts(self._sent_rows(sent), run.keyed.parts(leaving, PART_ROWS), columns, _label_columns(run.contract))
        run.result.output_columns = columns
        run.result.sent = count
        return _Payload(parts, record_count=count)

    def _sent_rows(self, sent: list[np.ndarray]) -> Iterator[pa.Table]:
        """Each block's table read back with only its sent rows; the buffer goes after the last."""
        at = 0
        for (end, _, _), keep in zip(self.blocks, sent):
            table = pa.ipc.open_stream(self.tables.read(at, end)).read_all()
            at = end
            yield table if keep.all() else table.filter(pa.array(keep))
        self.tables.close()


def _ipc_bytes(table: pa.Table) -> memoryview:
    """``table`` as an Arrow IPC stream: a view of Arrow's buffer as unsigned bytes (Arrow's own
    view is of signed chars, which the scratch files' cipher does not take)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return memoryview(sink.getvalue()).cast("B")


def _withhold_small_classes(run: _Run, classes: kanonymity.ClassCounts) -> np.ndarray | None:
    """disclosure check (record mode): k-anonymity of the generalised quasi-identifiers of the
    consenting rows, counted by class (``_BlockRecords``). Records in classes below k are withheld
    up to the agency's share, else the run is refused. Returns which classes are withheld (None:
    none)."""
    result, k = run.result, run.k
    report = classes.report(k)
    result.k_achieved, result.k_summary = report.k_achieved, report.summary()
    if report.passed:
        return None
    withheld, consenting = report.records_in_small_classes, int(classes.sizes.sum())
    share = withheld / max(consenting, 1)
    if share > run.max_withheld:
        needed = math.ceil(share * 100) / 100
        raise _Refused(
            "K_ANONYMITY_NOT_MET",
            f"{withheld:,} of {consenting:,} consenting records ({share:.0%}) sit in classes below k={k}, more than "
            f"the {run.max_withheld:.0%} this agency allows to withhold. Send counts instead (--mode aggregate), or allow "
            f"withholding those records with --max-withheld-share {needed:.2f}.",
        )
    result.withheld_k = withheld
    result.k_achieved = report.k_without_small_classes
    result.k_summary = f"{result.k_summary.rstrip('. ')}. Withheld {withheld} records in those classes; the {consenting - withheld} sent have k={result.k_achieved}."
    return classes.small(k)


def _standard_tables(run: _Run, counted: _BlockCounts) -> _Payload:
    """disclosure check (aggregate mode): the de-identified rows counted into the contract's
    standard tables; only counts leave, none by client or episode (no pseudonym is made)."""
    payload, rows = counted.finish()
    result = run.result
    result.output_columns = [c for c in payload.column_names]
    result.cube_tables = len(run.contract.standard_tables)
    result.cube_cells = payload.num_rows
    result.counts = payload
    result.sent = rows
    return _Payload(iter([payload]), record_count=payload.num_rows)


def _seal(run: _Run, payload: _Payload, step: Callable[[str], None]) -> None:
    """seal: the payload as Parquet, encrypted to the coordinator and signed, into the outbox
    under the agency's next sequence number. A dry run makes (and checks) every part, seals nothing."""
    opts, agency, result = run.opts, run.agency, run.result
    try:
        if opts.dry_run:
            for _ in payload.parts:  # every keyed part is still made and checked against the output model
                pass
        else:
            step("seal")
            # Encrypted as it is written (format 2): the payload is never whole in memory; its
            # segments wait in an unnamed file on the scratch disk until the header is made.
            writer = bundle.BundleWriter(tempfile.TemporaryFile(dir=run.scratch))
            _write_payload(payload.parts, writer, frozenset(keyed_outputs(run.contract)) if run.mode == "record" else frozenset())
    except KeyedHashError as e:  # the hashing worker died: nothing is sealed, every record held back
        raise _Refused.of(e) from None
    except OSError as e:
        raise _disk_full(e, run.scratch or tempfile.gettempdir(), "before the bundle was made: no sequence number was taken") from None
    if opts.dry_run:
        result.status = "dry-run"
        return
    # What the payload was made from goes before the bundle is written: the parts' sources, and
    # the keyed digests (16 bytes a pseudonym; every part was taken, so no hashing is left).
    payload.parts, run.keyed = iter(()), None
    # The number is taken only by a bundle that seals: it is persisted when sealing succeeded,
    # before the file is written (a crash in between leaves a gap, never a repeat).
    try:
        with sequence.reserve(agency.sequence_path) as seq:
            sealed = writer.seal(
                agency_id=agency.agency_id,
                contract_id=run.contract.id,
                contract_version=run.contract.version,
                mode=run.mode,
                sequence=seq,
                period=str(run.period),
                record_count=payload.record_count,
                signing_key=run.signing_key,
                recipient_public_key=run.recipient_key,
                key_epoch=run.key_epoch,
                supersedes=opts.supersedes,
                details={"records_sent": result.sent, **({"project": opts.project} if opts.project else {})},
                now=run.now,
                rng=opts.rng,
            )
    except bundle.BundleError as e:  # a bundle the coordinator would refuse (e.g. over its size cap) is not sent
        raise _Refused.of(e) from None
    except OSError as e:  # the last segment's write: the number is not kept
        raise _disk_full(e, run.scratch or tempfile.gettempdir(), "before the bundle was made: no sequence number was taken") from None
    path = outbox.folder(agency) / f"{agency.agency_id}_{run.contract.id}_{run.period}_{seq:06d}{outbox.BUNDLE_SUFFIX}"
    try:
        # Named only once the audit log holds its line (``contribute``): see ``outbox``.
        hidden, sha256 = write_hidden(path, sealed.write_to)
        run.unnamed = (hidden, path)
    except OSError as e:  # nothing of the file is left (written whole or not at all); the number stays taken
        raise _disk_full(e, path.parent, f"while the bundle was written: none was, and its sequence number {seq} is skipped") from None
    result.status = "sealed"
    result.bundle_id, result.sequence = sealed.bundle_id, seq
    result.bundle_file, result.bundle_sha256, result.bundle_bytes = str(path), sha256, sealed.size


def _disk_full(e: OSError, where: str | Path, when: str) -> _Refused:
    """A full disk (or quota) while the payload or the bundle is written, as a refusal the steward
    can act on; any other OSError is re-raised as it is (a bug or a broken disk)."""
    if e.errno not in (errno.ENOSPC, errno.EDQUOT):
        raise e
    return _Refused("DISK_FULL", f"the disk holding {where} ran out of space {when}. Free about twice the bundle's size there "
                                 "(a record-mode bundle is about a tenth of its extract) and run again.")


def _account_refusal(result: ContributionResult, refusal: _Refused) -> None:
    """A refused run sends nothing: every record not rejected, excluded or withheld is held back."""
    result.status = "refused"
    result.refusal = {"reason": refusal.reason, "message": refusal.message, **({"hint": refusal.hint} if refusal.hint else {})}
    result.sent = 0
    result.held_back = result.records_read - result.rejected - result.excluded_consent - result.withheld_k


def _audit(run: _Run) -> None:
    """One entry in the agency's audit log, signed with the agency's key: counts and identifiers, never a value."""
    result = run.result
    try:
        actor = agency_actor(run.agency)
    except DvnetError:  # the key file is what failed: still record the run, unsigned
        actor = None
    audit.append(
        run.agency.audit_log,
        outbox.CONTRIBUTION,
        actor=actor or f"agency:{run.agency.agency_id}",
        head_key=actor.key if actor else None,
        objects={"agency": run.agency.agency_id, "bundle": result.bundle_id},
        outcome=result.status,
        reason=(result.refusal or {}).get("reason"),
        now=run.now,
        contract=result.contract,
        mode=run.mode,
        period=str(run.period),
        extract_sha256=result.extract_sha256,
        records_read=result.records_read,
        rejected=result.rejected,
        excluded_consent=result.excluded_consent,
        withheld_k=result.withheld_k,
        held_back=result.held_back,
        sent=result.sent,
        sequence=result.sequence,
        project=result.project,
        supersedes=result.supersedes,
    )
