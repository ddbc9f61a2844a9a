"""The exact, slower CSV diagnosis: Python's ``csv`` module, streaming, with line and byte
bookkeeping, so every problem is placed by physical line, record, byte offset and column.

``read_extract`` runs it only when its fast path (``csv_fast``, pyarrow) reports or suspects a
problem, so its verdict is the one the steward sees; on a clean file it also produces the table,
so a file is never rejected merely because pyarrow stumbled.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import os
import re
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dvnet.pipelines.contributor.read.problems import (
    CONTROL_CHARS,
    CONTROL_RE,
    CSV_CONTROL_CHAR,
    CSV_EMPTY,
    CSV_ENCODING,
    CSV_FIELD_TOO_LONG,
    CSV_RAGGED,
    CSV_UNTERMINATED_QUOTE,
    ONE_COLUMN_HEADER,
    TOO_MANY_COLUMNS,
    ProblemLog,
    ReadLimits,
    check_header,
    sniff_wrong_format,
)

# Undecodable bytes appear as lone surrogates U+DC80..U+DCFF under errors="surrogateescape".
_BAD_BYTE_RE = re.compile("[\udc80-\udcff]")
_SUSPICIOUS_RE = re.compile(f"[{CONTROL_CHARS}\udc80-\udcff]")
_FIELD_END_RE = re.compile(r"[,\r\n]")

_BATCH_ROWS = 16_384  # records per table the exact path hands out (its Python strings held meanwhile)


def csv_parser(field_limit: int):
    """A private instance of Python's C ``csv`` parser (the ``_csv`` module) whose field-size
    limit is ``field_limit``; use its ``reader`` with ``dialect=csv.excel``.

    ``csv`` stops at a field longer than its limit (131,072 characters unless raised), but a
    swallowed or over-long field must be read to the end to be reported with its place and
    length. ``csv.field_size_limit`` is one setting for the whole process: raising it would
    change every other reader's limit, and restoring it would race with a reader in another
    thread. ``_csv`` keeps the limit per module instance (multi-phase initialisation, PEP 489),
    so each caller loads an instance of its own and the process's limit is never touched."""
    spec = importlib.util.find_spec("_csv")
    parser = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(parser)
    parser.field_size_limit(field_limit)
    return parser


class _Lines:
    """Feeds physical lines to ``csv.reader`` and keeps count of lines and bytes consumed, so
    every record can be placed by line and byte offset. Lines split on CR, LF or CRLF, as
    pyarrow and ``csv`` do."""

    __slots__ = ("text", "lines", "bytes", "pending", "bom")

    def __init__(self, text: io.TextIOBase) -> None:
        self.text = text
        self.lines = 0
        self.bytes = 0
        self.pending: list[str] = []
        self.bom = 0

    def __iter__(self) -> Iterator[str]:
        first = True
        for line in self.text:
            self.lines += 1
            self.bytes += len(line) if line.isascii() else _utf8_len(line)
            if first:
                first = False
                if line.startswith("\ufeff"):
                    line = line[1:]
                    self.bom = 3
            self.pending.append(line)
            yield line


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogateescape"))


def _open_quote_at_end(raw: str) -> tuple[int, int] | None:
    """If ``raw`` (the text of the last record) ends inside a quoted field, the character index
    of the opening quote and the 0-based field where it opened; else None. Same quoting rules
    as pyarrow and ``csv``: a quote opens a field only at its start, ``""`` inside is a quote."""
    i, n, field = 0, len(raw), 0
    while i < n:
        if raw[i] == '"':  # at the start of a field: quoted field
            opened = i
            j = i + 1
            while True:
                k = raw.find('"', j)
                if k < 0:
                    return opened, field
                if k + 1 < n and raw[k + 1] == '"':
                    j = k + 2
                    continue
                i = k + 1
                break
        m = _FIELD_END_RE.search(raw, i)
        if m is None:
            return None
        i = m.end()
        if m.group() == ",":
            field += 1
        else:
            field = 0
    return None


class ExactCsv:
    """Read the whole CSV with Python's ``csv`` module and report every problem with its
    physical line, record number, byte offset and column. Streaming: memory stays bounded.

    Iterating yields the records as Arrow tables of large strings (``_BATCH_ROWS`` at a time)
    for as long as no problem has been found, the rest once the file is read if none was; once
    the iteration has ended, ``log`` holds the whole file's findings, ``header`` its header and
    ``records`` its record count. A caller takes the tables as valid only when ``log`` is empty
    at the end (a problem late in the file voids what came before, as a refusal).

    Blank lines are skipped (not records), as pyarrow and pandas do. Stray quotes inside an
    unquoted field and text after a closing quote are kept literally, as pyarrow does; they
    are not reported.
    """

    def __init__(self, path: str | os.PathLike[str], limits: ReadLimits) -> None:
        self.path, self.limits = path, limits
        self.log = ProblemLog(os.path.basename(os.fspath(path)))
        self.header: list[str] | None = None
        self.records = 0

    def __iter__(self) -> Iterator[pa.Table]:
        path, limits, log = self.path, self.limits, self.log
        limit = limits.max_field_chars
        header: list[str] | None = None
        ncols = 0
        records = 0
        batch: list[str] = []
        batch_cells = 0
        building = True
        handed_out = False
        last: tuple[str, int, int, int | None] | None = None  # raw text, line, byte, record

        # Ragged records are reported one step late: if the last record holds an unterminated
        # quote, its wrong field count is only a consequence and is not reported twice.
        held_ragged: tuple[int, int, int, int] | None = None

        # No field can be longer than the file; ours (limits.max_field_chars) is checked below with
        # a better message than ``csv``'s.
        parser = csv_parser(os.path.getsize(path) + 1)
        with open(path, "rb") as raw_file:
            wrong = sniff_wrong_format(raw_file.read(8))
            raw_file.seek(0)
            text = io.TextIOWrapper(
                raw_file, encoding="utf-8", errors="surrogateescape", newline=""
            )
            lines = _Lines(text)
            reader = parser.reader(lines, dialect=csv.excel, strict=False)
            prev_line, prev_byte = 0, 0
            for row in reader:
                rec_lines = lines.pending
                lines.pending = []
                start_line = prev_line + 1
                start_byte = prev_byte + (lines.bom if prev_line == 0 else 0)
                prev_line, prev_byte = lines.lines, lines.bytes
                if not row:  # a blank line
                    continue
                raw = rec_lines[0] if len(rec_lines) == 1 else "".join(rec_lines)
                record = None if header is None else records + 1
                last = (raw, start_line, start_byte, record)
                if _SUSPICIOUS_RE.search(raw) is not None or max(map(len, row)) > limit:
                    _field_problems(
                        log, row, raw, header or row, start_line, start_byte, record, limit, wrong
                    )
                if header is None:
                    header = self.header = row
                    ncols = len(row)
                    batch_cells = _BATCH_ROWS * ncols
                    if ncols > limits.max_columns:
                        log.add(
                            TOO_MANY_COLUMNS,
                            f"the header has {ncols} columns; the limit is {limits.max_columns}",
                            line=start_line,
                        )
                    check_header(list(row), log, csv_file=True, line=start_line)
                    continue
                records += 1
                if len(row) != ncols:
                    if held_ragged is not None:
                        _report_ragged(log, held_ragged, ncols)
                    held_ragged = (start_line, start_byte, records, len(row))
                if building:
                    batch.extend(row)  # row-major; split into columns per batch
                    if len(batch) >= batch_cells:
                        if log or held_ragged is not None:
                            building = False  # the file will be rejected; stop spending memory
                            batch = []
                        else:
                            table, batch = pa.Table.from_batches([_to_batch(batch, ncols)]), []
                            handed_out = True
                            yield table

        unterminated_record: int | None = -1
        if last is not None:
            raw, start_line, start_byte, record = last
            opened = _open_quote_at_end(raw)
            if opened is not None:
                at, field = opened
                names = header or []
                column = _column(names, field, record)
                # The swallowed field is long and the record short of fields only because of
                # the open quote: one finding, not three.
                log.discard(CSV_FIELD_TOO_LONG, record, column)
                log.add(
                    CSV_UNTERMINATED_QUOTE,
                    "a quoted field opens here and is never closed; everything after it to the "
                    "end of the file was swallowed into that field",
                    line=start_line,
                    record=record,
                    byte_offset=start_byte + _utf8_len(raw[:at]),
                    column=column,
                )
                unterminated_record = record
        if held_ragged is not None and held_ragged[2] != unterminated_record:
            _report_ragged(log, held_ragged, ncols)

        if header is None:
            detail = wrong or "the file has no header row (it is empty or holds only blank lines)"
            log.add(CSV_EMPTY, detail)
        self.records = records
        if building and not log and header is not None and (batch or not handed_out):
            yield pa.Table.from_batches([_to_batch(batch, ncols)])


def _report_ragged(log: ProblemLog, ragged: tuple[int, int, int, int], ncols: int) -> None:
    line, byte, record, found = ragged
    kind = "too many" if found > ncols else "too few"
    log.add(
        CSV_RAGGED,
        f"{kind} fields: expected {ncols}, found {found}" + (f" ({ONE_COLUMN_HEADER})" if ncols == 1 else ""),
        line=line,
        record=record,
        byte_offset=byte,
    )


def _field_problems(
    log: ProblemLog,
    row: list[str],
    raw: str,
    names: list[str],
    line: int,
    byte: int,
    record: int | None,
    limit: int,
    wrong_format: str | None,
) -> None:
    """Control characters, undecodable bytes and over-long fields in one record, per field.

    Control characters and undecodable bytes pass through ``csv`` unchanged and in order, so
    the k-th one in the raw text is the k-th one across the fields: that gives each field's
    exact byte offset without re-tokenising the record.
    """
    for kind, pattern in ((CSV_CONTROL_CHAR, CONTROL_RE), (CSV_ENCODING, _BAD_BYTE_RE)):
        raw_hits = [m.start() for m in pattern.finditer(raw)]
        if not raw_hits:
            continue
        seen = 0
        for index, value in enumerate(row):
            hits = pattern.findall(value)
            if hits and seen < len(raw_hits):
                at = raw_hits[seen]
                column = _column(names, index, record)
                if kind == CSV_CONTROL_CHAR:
                    detail = f"control character U+{ord(hits[0]):04X} in field {index + 1}"
                else:
                    detail = wrong_format or "bytes that are not valid UTF-8"
                    detail = f"{detail} (field {index + 1})"
                log.add(
                    kind,
                    detail,
                    line=line,
                    record=record,
                    byte_offset=byte + _utf8_len(raw[:at]),
                    column=column,
                )
            seen += len(hits)
    for index, value in enumerate(row):
        if len(value) > limit:
            log.add(
                CSV_FIELD_TOO_LONG,
                f"field {index + 1} has {len(value)} characters; the limit is {limit}",
                line=line,
                record=record,
                byte_offset=byte,
                column=_column(names, index, record),
            )


def _column(names: list[str], index: int, record: int | None) -> str | None:
    """The header name for a field of a data record; None for the header itself (its own
    name may be what is broken) and for fields beyond the header."""
    if record is None or index >= len(names):
        return None
    name = names[index]
    return None if _SUSPICIOUS_RE.search(name) else name


def _to_batch(cells: list[str], ncols: int) -> pa.RecordBatch:
    """Row-major cells to columns of large strings, empty as null. One ``pa.array`` over the
    flat list and a strided ``take`` per column is 3x faster than transposing in Python."""
    flat = pa.array(cells, type=pa.string())
    rows = len(cells) // max(ncols, 1)
    arrays = []
    for j in range(ncols):
        column = pc.take(flat, pa.array(np.arange(j, rows * ncols, ncols))).cast(pa.large_string())
        arrays.append(pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.large_string()), column))
    return pa.RecordBatch.from_arrays(arrays, names=[f"f{i}" for i in range(ncols)])
