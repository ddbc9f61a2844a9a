"""Read an agency extract safely into a frame of strings.

``read_extract`` turns the file a data steward exported (CSV, Parquet or Excel) into a
``RawExtract``: one row per data record, one string column per header name exactly as
written, empty cells as NA. Types, contract rules and de-identification come later; this step
guarantees only that the file was read completely and unambiguously, or refused with every
problem located by line, record, byte offset and column, and never quoted.

CSV has a fast path and an exact path. The fast path (pyarrow's multi-threaded parser plus
one pass over the bytes for the SHA-256 and control characters) serves the clean files a case
system usually exports. Whenever pyarrow fails or any cheap check looks wrong, the exact path
(``prescan.diagnose_csv``, Python's ``csv`` module) reads the file again and decides: it
lists every problem, or, if there is none, supplies the table itself. So pyarrow's quirks
(below) can cost time but never change what is accepted or what the frame holds.

pyarrow 26 behaviours this module works around (probed; see the tests):
- its error messages quote the offending row (``Expected 2 columns, got 3: <the row>``): they
  are never passed on, only used as a signal;
- it accepts an unterminated quote silently, swallowing the rest of the file into one cell;
- with ``newlines_in_values=False`` it silently mis-splits quoted newlines, so it is used only
  for a file without any quote character;
- with ``newlines_in_values=True`` it drops the LF of a quoted CRLF when a read block ends
  between the CR and the LF;
- it strips a UTF-8 BOM, accepts duplicate and empty header names, and by default turns
  ``NA``, ``NULL``, ``nan`` and similar words into nulls (disabled here: only empty is NA).
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import hashlib
import io
import logging
import mmap
import os
import stat
import threading
import time
import zipfile
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from dvnet.contracts.errors import ExtractError

from .prescan import (
    CONTROL_RE,
    CSV_EMPTY,
    CSV_ENCODING,
    EXTRACT_CONTROL_CHAR,
    EXTRACT_EMPTY,
    EXTRACT_ENCODING,
    EXTRACT_FIELD_TOO_LONG,
    EXTRACT_UNREADABLE,
    EXTRACT_UNSUPPORTED_TYPE,
    FILE_NOT_FOUND,
    FILE_TOO_LARGE,
    FILE_UNREADABLE,
    FORMAT_UNSUPPORTED,
    TOO_MANY_COLUMNS,
    ExtractProblem,
    ProblemLog,
    ReadLimits,
    check_header,
    diagnose_csv,
    normalise_header,
    single_error,
    sniff_wrong_format,
)

__all__ = ["ExtractError", "ExtractProblem", "RawExtract", "ReadLimits", "read_extract"]

logger = logging.getLogger(__name__)

FORMATS = {".csv": "csv", ".parquet": "parquet", ".xlsx": "xlsx"}

# pyarrow reads in blocks; at most about this many per file, at least 1 MiB each (measured:
# 1-4 MiB blocks parse a 250 MB file fastest on 2 cores; 64 MiB blocks are 50 % slower).
_MIN_BLOCK = 1 << 20
_TARGET_BLOCKS = 256
_BLOCK_TRIES = 8
_SCAN_CHUNK = 1 << 18  # bytes per step of the hash + control-character pass (fits L2)
_STRING = pa.large_string()  # what pandas' string[pyarrow] stores: no conversion on to_pandas
_PANDAS_STRING = pd.StringDtype("pyarrow")
_CONTROL_PATTERN = CONTROL_RE.pattern


@dataclass
class RawExtract:
    """An extract as read: ``frame`` holds one row per data record and one column per header
    name as written, every column pandas ``string[pyarrow]`` with empty cells as NA.
    ``sha256`` and ``byte_size`` describe the file's bytes, so a report can name exactly
    which export was read."""

    frame: pd.DataFrame
    records: int
    source_format: str
    sha256: str
    byte_size: int


def read_extract(path: str | os.PathLike[str], *, limits: ReadLimits = ReadLimits()) -> RawExtract:
    """Read a CSV (UTF-8, BOM optional), Parquet or .xlsx extract, or raise ``ExtractError``.

    The error's ``context["problems"]`` lists every problem found (``ExtractProblem``; the
    first 100 per reason, ``context["counts"]`` has the totals). No message, problem or log
    line contains a value from the file.
    """
    name = os.path.basename(os.fspath(path))
    fmt = FORMATS.get(os.path.splitext(name)[1].lower())
    if fmt is None:
        raise single_error(
            FORMAT_UNSUPPORTED,
            name,
            "unsupported file type; export the extract as .csv (UTF-8), .parquet or .xlsx",
        )
    failure = None
    try:
        info = os.stat(path)
    except FileNotFoundError:
        failure = (FILE_NOT_FOUND, "no such file")
    except OSError:
        failure = (FILE_UNREADABLE, "the file cannot be opened (permissions or a broken path)")
    if failure is not None:
        raise single_error(failure[0], name, failure[1])
    if not stat.S_ISREG(info.st_mode):
        raise single_error(FILE_UNREADABLE, name, "not a regular file")
    if info.st_size > limits.max_bytes:
        raise single_error(
            FILE_TOO_LARGE,
            name,
            f"the file has {info.st_size} bytes; the limit is {limits.max_bytes}",
        )
    started = time.perf_counter()
    reader = {"csv": _read_csv, "parquet": _read_parquet, "xlsx": _read_xlsx}[fmt]
    extract = reader(os.fspath(path), name, info.st_size, limits)
    logger.info(
        "read %s: %d records, %d columns, %s, %.2f s",
        name,
        extract.records,
        extract.frame.shape[1],
        fmt,
        time.perf_counter() - started,
    )
    return extract


# --- CSV -----------------------------------------------------------------------------------


class _ByteScan:
    """One pass over the file's bytes, run beside pyarrow's parse: SHA-256, the number of
    forbidden control characters and of carriage returns."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.sha256 = ""
        self.controls = 0
        self.carriage_returns = 0
        self.failed = False

    def run(self) -> None:
        try:
            digest = hashlib.sha256()
            buffer = bytearray(_SCAN_CHUNK)
            view = memoryview(buffer)
            controls = crs = 0
            with open(self.path, "rb", buffering=0) as handle:
                while n := handle.readinto(buffer):
                    digest.update(view[:n])
                    a = np.frombuffer(buffer, dtype=np.uint8, count=n)
                    # C0 controls except TAB, LF and CR, plus DEL. In an LF file without
                    # tabs every byte below 32 is an LF, so two passes settle it.
                    low = np.count_nonzero(a < 32)
                    lf = np.count_nonzero(a == 10)
                    if low != lf:
                        cr = np.count_nonzero(a == 13)
                        crs += cr
                        controls += low - lf - cr - np.count_nonzero(a == 9)
                    controls += np.count_nonzero(a == 127)
            self.sha256 = digest.hexdigest()
            self.controls = int(controls)
            self.carriage_returns = int(crs)
        except OSError:
            self.failed = True


def _read_csv(path: str, name: str, size: int, limits: ReadLimits) -> RawExtract:
    if size == 0:
        raise single_error(CSV_EMPTY, name, "the file is empty (0 bytes)")
    with open(path, "rb") as handle:
        wrong_format = sniff_wrong_format(handle.read(8))
    if wrong_format is not None:
        raise single_error(CSV_ENCODING, name, wrong_format, line=1, byte_offset=0)
    _refuse_wide_header(path, name, limits)
    # The hash and the parse read the file separately: both must have seen the same bytes.
    before = os.stat(path)
    scan = _ByteScan(path)
    worker = threading.Thread(target=scan.run, name="extract-byte-scan")
    worker.start()
    table: pa.Table | None = None
    try:
        table = _arrow_csv(path, size, limits)
    except (pa.ArrowException, ValueError, OSError):
        # The message may quote a row of the file: it is dropped, not logged.
        table = None
    worker.join()
    if scan.failed:
        raise single_error(FILE_UNREADABLE, name, "the file could not be read to the end")
    _refuse_if_changed(path, name, before)

    suspicion = "parser" if table is None else _suspicion(path, table, scan, limits)
    if suspicion is None:
        names = [table.column(i)[0].as_py() for i in range(table.num_columns)]
        data = table.slice(1)
    else:
        logger.info("%s: fast CSV path flagged %s; running the exact pre-scan", name, suspicion)
        table = None  # release pyarrow's copy before the exact path builds its own
        exact = diagnose_csv(path, limits, build_table=True)
        if exact.log:
            raise exact.log.error()
        assert exact.table is not None and exact.header is not None
        names, data = exact.header, exact.table
        _refuse_if_changed(path, name, before)
    return RawExtract(
        frame=_to_frame(data, names),
        records=data.num_rows,
        source_format="csv",
        sha256=scan.sha256,
        byte_size=size,
    )


def _refuse_if_changed(path: str, name: str, before: os.stat_result) -> None:
    after = os.stat(path)
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
        raise single_error(
            FILE_UNREADABLE, name, "the file changed while it was being read; read it again"
        )


def _refuse_wide_header(path: str, name: str, limits: ReadLimits) -> None:
    """Refuse a header wider than the limit before pyarrow allocates a builder per column.
    Counting fields of the first (possibly cut) record can only under-count, never over-."""
    with open(path, "rb") as handle:
        head = handle.read(1 << 20).decode("utf-8", "replace").lstrip("\ufeff")
    first = next((row for row in csv.reader(io.StringIO(head, newline="")) if row), [])
    if len(first) > limits.max_columns:
        raise single_error(
            TOO_MANY_COLUMNS,
            name,
            f"the header has at least {len(first)} columns; the limit is {limits.max_columns}",
            line=1,
        )


def _arrow_csv(path: str, size: int, limits: ReadLimits) -> pa.Table:
    """All rows, header included as row 0, every column a large string; only empty cells are
    null. Strict column counts (pyarrow refuses short and long rows).

    A file without a single quote character cannot hold a line break inside a value, so pyarrow's
    plain line splitter is exact for it (and a quarter faster on two cores than the quote-aware
    one, which every file with a quote gets)."""
    with open(path, "rb") as handle:
        block = _block_size(handle, size)
        quoted = _has_quote(handle)
    return pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(autogenerate_column_names=True, block_size=block),
        parse_options=pacsv.ParseOptions(newlines_in_values=quoted),
        convert_options=pacsv.ConvertOptions(
            # Column names are f0, f1, ...: the header is read as data, so every column,
            # including one with an empty or duplicated name, gets the string type.
            column_types={f"f{i}": _STRING for i in range(limits.max_columns)},
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
            null_values=[""],
        ),
    )


def _has_quote(handle: io.BufferedReader) -> bool:
    """Whether the file holds a double quote anywhere (memchr over a read-only map: ~25 ms for
    200 MB in the page cache)."""
    with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
        return view.find(b"\"") >= 0


def _block_size(handle: io.BufferedReader, size: int) -> int:
    """A block size for which no block boundary splits a CR from its LF (pyarrow drops the LF
    of a quoted CRLF split that way). A few tries; if every one collides, the post-parse
    carriage-return check sends the file to the exact path instead."""
    base = max(_MIN_BLOCK, size // _TARGET_BLOCKS)
    for attempt in range(_BLOCK_TRIES):
        block = base + attempt * 4099
        collides = False
        for boundary in range(block, size, block):
            handle.seek(boundary - 1)
            if handle.read(2) == b"\r\n":
                collides = True
                break
        if not collides:
            return block
    return base


def _suspicion(path: str, table: pa.Table, scan: _ByteScan, limits: ReadLimits) -> str | None:
    """The first cheap reason to distrust pyarrow's result, or None when it is sound."""
    ncols = table.num_columns
    if ncols > limits.max_columns:
        return "columns"
    if scan.controls:
        return "control characters"
    names = [table.column(i)[0].as_py() for i in range(ncols)]
    keys = [normalise_header(n) if n is not None else "" for n in names]
    if "" in keys or len(set(keys)) != ncols:
        return "header"
    for column in table.columns:
        # Bytes >= characters: only a column over the limit in bytes needs counting chars.
        longest = pc.max(pc.binary_length(column)).as_py() or 0
        if longest > limits.max_field_chars:
            if (pc.max(pc.utf8_length(column)).as_py() or 0) > limits.max_field_chars:
                return "field length"
    if _may_end_in_open_quote(path, table):
        return "quote"
    if scan.carriage_returns and _values_have_bare_cr(table):
        return "carriage return"
    return None


def _may_end_in_open_quote(path: str, table: pa.Table) -> bool:
    """True when pyarrow ended inside a quoted field that never closed. It then puts
    everything from the quote to the end of the file into the last cell (a short last record
    would fail the column count instead), so the file ends with that opening quote, at the
    start of a field, followed by the cell re-escaped. A closed field can only look like that
    when its "opening" quote is preceded by another quote, so the check is exact."""
    last = table.column(table.num_columns - 1)[-1].as_py()
    tail = b'"' + (last or "").encode("utf-8").replace(b'"', b'""')
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        start = handle.tell() - len(tail)
        if start < 0:
            return False
        handle.seek(max(0, start - 3))
        before = handle.read(start - max(0, start - 3))
        if handle.read() != tail:
            return False
    return before in (b"", b"\xef\xbb\xbf") or before[-1:] in (b",", b"\n", b"\r")


def _values_have_bare_cr(table: pa.Table) -> bool:
    """Whether any cell holds a CR not followed by LF inside the same cell: either a genuine
    old-Mac line break (rare) or pyarrow's block-boundary CRLF damage. Either way the exact
    path decides. Works on the Arrow buffers, so it costs one fast pass over the values."""
    for column in table.columns:
        for chunk in column.chunks:
            _, offsets_buffer, data_buffer = chunk.buffers()
            if data_buffer is None:
                continue
            offsets = np.frombuffer(offsets_buffer, dtype=_offset_type(chunk))[
                chunk.offset : chunk.offset + len(chunk) + 1
            ]
            start, end = int(offsets[0]), int(offsets[-1])
            data = np.frombuffer(data_buffer, dtype=np.uint8)[start:end]
            crs = np.flatnonzero(data == 13)
            if crs.size == 0:
                continue
            following = crs + 1
            inside = following < data.size
            followed_by_lf = np.zeros(crs.size, dtype=bool)
            followed_by_lf[inside] = data[following[inside]] == 10
            ends_value = np.isin(following, offsets - start)
            if not np.all(followed_by_lf & ~ends_value):
                return True
    return False


# --- shared -------------------------------------------------------------------------------


def _to_frame(table: pa.Table, names: list[str]) -> pd.DataFrame:
    frame = table.rename_columns([f"f{i}" for i in range(table.num_columns)]).to_pandas(
        types_mapper=lambda t: _PANDAS_STRING if t == _STRING else None
    )
    frame.columns = pd.Index(list(names), dtype=object)
    return frame


def _read_capped(path: str, name: str, size: int) -> tuple[bytes, str]:
    """The whole (already size-capped) file and its SHA-256, so parsing and hashing see the
    same bytes."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(size + 1)
    except OSError:
        data = None
    if data is None or len(data) != size:
        raise single_error(FILE_UNREADABLE, name, "the file changed or could not be read")
    return data, hashlib.sha256(data).hexdigest()


def _value_problems(
    table: pa.Table,
    names: list[str],
    log: ProblemLog,
    limits: ReadLimits,
    lines: list[int] | None,
) -> None:
    """Control characters and over-long cells in an already-typed table (Parquet, xlsx),
    located by record number (and sheet row)."""
    for name, column in zip(names, table.columns):
        if len(column) == 0:
            continue
        checks = [
            (
                EXTRACT_FIELD_TOO_LONG,
                pc.greater(pc.utf8_length(column), limits.max_field_chars),
                f"a cell longer than {limits.max_field_chars} characters",
            )
        ]
        if _count_controls(column):
            checks.append(
                (
                    EXTRACT_CONTROL_CHAR,
                    pc.match_substring_regex(column, _CONTROL_PATTERN),
                    "a control character (not tab, CR or LF)",
                )
            )
        for reason, mask, detail in checks:
            if not pc.any(mask).as_py():
                continue
            for index in pc.indices_nonzero(pc.fill_null(mask, False)).to_pylist():
                log.add(
                    reason,
                    detail,
                    line=lines[index] if lines is not None else None,
                    record=index + 1,
                    column=name,
                )


def _count_controls(column: pa.ChunkedArray) -> int:
    """Forbidden control bytes in a large-string column, counted on its Arrow data buffers
    (a regex over every cell costs ~25 times more; it runs only where this finds some)."""
    total = 0
    for chunk in column.chunks:
        _, offsets_buffer, data_buffer = chunk.buffers()
        if data_buffer is None:
            continue
        offsets = np.frombuffer(offsets_buffer, dtype=_offset_type(chunk))
        start = int(offsets[chunk.offset])
        end = int(offsets[chunk.offset + len(chunk)])
        a = np.frombuffer(data_buffer, dtype=np.uint8)[start:end]
        total += int(
            np.count_nonzero(a < 32)
            - np.count_nonzero(a == 9)
            - np.count_nonzero(a == 10)
            - np.count_nonzero(a == 13)
            + np.count_nonzero(a == 127)
        )
    return total


def _offset_type(chunk: pa.Array) -> type:
    return np.int64 if pa.types.is_large_string(chunk.type) else np.int32


def _empty_to_null(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.if_else(pc.equal(column, ""), pa.scalar(None, _STRING), column)


# --- Parquet -------------------------------------------------------------------------------


def _read_parquet(path: str, name: str, size: int, limits: ReadLimits) -> RawExtract:
    import pyarrow.parquet as pq

    data, sha = _read_capped(path, name, size)
    parsed = None
    try:
        parquet = pq.ParquetFile(pa.BufferReader(data))
        meta = parquet.metadata
        schema = parquet.schema_arrow
        parsed = (parquet, meta, schema)
    except (pa.ArrowException, ValueError, OSError):
        pass
    if parsed is None:
        raise single_error(EXTRACT_UNREADABLE, name, "not a readable Parquet file")
    parquet, meta, schema = parsed
    if len(schema.names) > limits.max_columns:
        raise single_error(
            TOO_MANY_COLUMNS,
            name,
            f"the file has {len(schema.names)} columns; the limit is {limits.max_columns}",
        )
    unpacked = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if unpacked > limits.max_bytes:
        raise single_error(
            FILE_TOO_LARGE,
            name,
            f"the data unpacks to {unpacked} bytes; the limit is {limits.max_bytes}",
        )
    if not schema.names:
        raise single_error(EXTRACT_EMPTY, name, "the file has no columns")
    table = None
    try:
        table = parquet.read()
    except (pa.ArrowException, ValueError, OSError):
        pass
    if table is None:
        raise single_error(EXTRACT_UNREADABLE, name, "the Parquet data could not be decoded")

    log = ProblemLog(name)
    names = table.column_names
    check_header(names, log, csv_file=False, line=None)
    columns = []
    for column_name, column in zip(names, table.columns):
        converted = None
        try:
            converted = _parquet_column_as_text(column_name, column, log)
        except (pa.ArrowException, ValueError):  # e.g. a timestamp out of range; not shown
            log.add(
                EXTRACT_UNSUPPORTED_TYPE, "the column cannot be shown as text", column=column_name
            )
        columns.append(converted if converted is not None else pa.nulls(len(column), _STRING))
    if not log:
        text = pa.table(columns, names=[f"f{i}" for i in range(len(columns))])
        _value_problems(text, names, log, limits, None)
    if log:
        raise log.error()
    return RawExtract(
        frame=_to_frame(text, names),
        records=text.num_rows,
        source_format="parquet",
        sha256=sha,
        byte_size=size,
    )


def _parquet_column_as_text(
    name: str, column: pa.ChunkedArray, log: ProblemLog
) -> pa.ChunkedArray:
    """One column as large strings: dates ISO ``YYYY-MM-DD``; timestamps ISO, shortened to the
    date at midnight; booleans ``true``/``false``; numbers as pyarrow prints them."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
        kind = kind.value_type
    if pa.types.is_null(kind):
        return pa.chunked_array([pa.nulls(len(column), _STRING)])
    if pa.types.is_timestamp(kind):
        fmt = "%Y-%m-%dT%H:%M:%S%z" if kind.tz else "%Y-%m-%dT%H:%M:%S"
        text = pc.strftime(column, format=fmt)
        text = pc.replace_substring_regex(text, r"\.0+($|[+-])", r"\1")  # whole seconds
        text = pc.replace_substring_regex(text, r"(\.\d*[1-9])0+($|[+-])", r"\1\2")
        if not kind.tz:
            text = pc.replace_substring_regex(text, r"T00:00:00$", "")
        return text.cast(_STRING)
    if pa.types.is_time(kind):
        return pc.replace_substring_regex(column.cast(pa.string()), r"\.0+$", "").cast(_STRING)
    if (
        pa.types.is_boolean(kind)
        or pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_decimal(kind)
        or pa.types.is_date(kind)
        or pa.types.is_duration(kind)
    ):
        return column.cast(_STRING)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        column = column.cast(_STRING)
        bad = _invalid_utf8_rows(column)
    elif (
        pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_fixed_size_binary(kind)
    ):
        bad = _invalid_utf8_rows(column)
        if not bad:
            column = column.cast(pa.large_binary()).cast(_STRING)
    else:
        log.add(
            EXTRACT_UNSUPPORTED_TYPE,
            "nested or other non-scalar column type; export it as text",
            column=name,
        )
        return pa.chunked_array([pa.nulls(len(column), _STRING)])
    for record in bad:
        log.add(EXTRACT_ENCODING, "bytes that are not valid UTF-8", record=record, column=name)
    if bad:
        return pa.chunked_array([pa.nulls(len(column), _STRING)])
    return _empty_to_null(column)


def _invalid_utf8_rows(column: pa.ChunkedArray) -> list[int]:
    """1-based records whose bytes are not UTF-8 (a Parquet writer does not guarantee it)."""
    rows: list[int] = []
    base = 0
    for chunk in column.chunks:
        binary = chunk.cast(pa.large_binary())
        valid = True
        try:
            binary.view(pa.large_string()).validate(full=True)
        except (pa.ArrowException, ValueError):
            valid = False
        if not valid:
            for index, value in enumerate(binary.to_pylist()):
                if value is not None and not _is_utf8(value):
                    rows.append(base + index + 1)
        base += len(chunk)
    return rows


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# --- Excel (.xlsx) -------------------------------------------------------------------------


def _read_xlsx(path: str, name: str, size: int, limits: ReadLimits) -> RawExtract:
    import openpyxl

    data, sha = _read_capped(path, name, size)
    unpacked = None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(item.file_size for item in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        pass
    if unpacked is None:
        raise single_error(EXTRACT_UNREADABLE, name, "not a readable .xlsx workbook")
    if unpacked > limits.max_bytes:
        # A zip bomb unpacks to far more than its size on disk.
        raise single_error(
            FILE_TOO_LARGE,
            name,
            f"the workbook unpacks to {unpacked} bytes; the limit is {limits.max_bytes}",
        )
    workbook = None
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many types for a broken workbook; none is shown
        workbook = None
    if workbook is None:
        raise single_error(EXTRACT_UNREADABLE, name, "not a readable .xlsx workbook")
    broken = False
    try:
        header, header_row, rows, lines = _xlsx_rows(workbook, name, limits)
    except ExtractError:
        raise
    except Exception:  # a corrupt sheet; openpyxl's message may quote a cell, so none is shown
        broken = True
    finally:
        workbook.close()
    if broken:
        raise single_error(EXTRACT_UNREADABLE, name, "the first sheet could not be read")

    width = max([len(header)] + [len(row) for row in rows])
    if width > limits.max_columns:
        raise single_error(
            TOO_MANY_COLUMNS,
            name,
            f"the sheet has {width} columns; the limit is {limits.max_columns}",
        )
    header = header + [None] * (width - len(header))
    log = ProblemLog(name)
    check_header(header, log, csv_file=False, line=header_row)
    columns = [[None] * len(rows) for _ in range(width)]
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            columns[c][r] = value
    text = pa.table(
        [pa.array(values, type=_STRING) for values in columns],
        names=[f"f{i}" for i in range(width)],
    )
    names = [h if h is not None else "" for h in header]
    _value_problems(text, names, log, limits, lines)
    if log:
        raise log.error()
    return RawExtract(
        frame=_to_frame(text, names),
        records=len(rows),
        source_format="xlsx",
        sha256=sha,
        byte_size=size,
    )


def _xlsx_rows(
    workbook, name: str, limits: ReadLimits
) -> tuple[list[str | None], int, list[list[str | None]], list[int]]:
    """Header (first non-empty row of the first sheet), its sheet row, the data rows as text
    (empty rows skipped, trailing empty cells trimmed) and each data row's sheet row."""
    if not workbook.worksheets:
        raise single_error(EXTRACT_EMPTY, name, "the workbook has no sheets")
    sheet = workbook.worksheets[0]
    header: list[str | None] | None = None
    header_row = 0
    rows: list[list[str | None]] = []
    lines: list[int] = []
    for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
        cells = _trim([_cell_text(v) for v in values])
        if not cells:
            continue
        if len(cells) > limits.max_columns:
            raise single_error(
                TOO_MANY_COLUMNS,
                name,
                f"row {number} has {len(cells)} columns; the limit is {limits.max_columns}",
            )
        if header is None:
            header, header_row = cells, number
        else:
            rows.append(cells)
            lines.append(number)
    if header is None:
        raise single_error(EXTRACT_EMPTY, name, "the first sheet has no header row")
    return header, header_row, rows, lines


def _trim(cells: list[str | None]) -> list[str | None]:
    end = len(cells)
    while end and cells[end - 1] is None:
        end -= 1
    return cells[:end]


def _cell_text(value: object) -> str | None:
    """A cell as the text a steward would see: dates ISO (a datetime at midnight is a date),
    booleans true/false, whole floats without ``.0``; empty text is NA."""
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 2**53:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None and value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return str(value)
