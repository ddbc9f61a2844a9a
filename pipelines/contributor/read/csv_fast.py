"""CSV extracts: the fast path (pyarrow), and the hand-over to the exact one.

The fast path (pyarrow's multi-threaded parser plus one pass over the bytes for the SHA-256 and
control characters) serves the clean files a case system usually exports. Whenever pyarrow fails
or any cheap check looks wrong, the exact path (``csv_exact.ExactCsv``, Python's ``csv``
module) reads the file again and decides: it lists every problem, or, if there is none, supplies
the records itself, a table at a time. So pyarrow's quirks (below) can cost time but never change what is accepted or
what the frame holds.

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
import hashlib
import io
import logging
import os
import threading
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from dvnet.pipelines.contributor.read.csv_exact import ExactCsv, csv_parser
from dvnet.pipelines.contributor.read.extract import STRING, offset_type
from dvnet.pipelines.contributor.read.problems import (
    CSV_EMPTY,
    CSV_ENCODING,
    FILE_UNREADABLE,
    TOO_MANY_COLUMNS,
    ReadLimits,
    normalise_header,
    refuse_if_changed,
    single_error,
    sniff_wrong_format,
)

logger = logging.getLogger(__name__)

#: pyarrow's read block, whatever the file's size (measured: 1-4 MiB blocks parse a 250 MB file
#: fastest on 2 cores; 64 MiB blocks are 50 % slower). Fixed, so that what is parsed at once stays
#: the same from 1M rows to 10M: a 256th of the file, as before, made a 10M-row range 130 MB.
_BLOCK = 1 << 20
#: Blocks per piece handed on (a piece's checks cost per column, not per row). A range of 16 parsed
#: into about 60 MB at once; at 8, five alternating pairs at 1M rows peaked at 480 MiB against
#: 527 MiB (wall x0.90); at 4, 459 MiB for no further gain in time.
_PIECE_BLOCKS = 8
_TARGET_RANGE_BLOCKS = 16  # pyarrow blocks per range of a file without quotes (its threads share them)
_BLOCK_TRIES = 8
_SEARCH_WINDOW = 1 << 16  # bytes read at a time looking for a range's line end
_SCAN_CHUNK = 1 << 18  # bytes per step of the hash + control-character pass (fits L2)
_HEAD_BYTES = 1 << 20  # how much of the file the header-width check reads


class _ByteScan:
    """One pass over the file's bytes, run beside pyarrow's parse: SHA-256, the number of
    forbidden control characters and of carriage returns."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.sha256 = ""
        self.controls = 0
        self.carriage_returns = 0
        self.failed = False
        self.finished = False  # set once the counts above hold for the whole file

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
            self.finished = True
        except OSError:
            self.failed = True


class CsvBlocks:
    """A CSV extract read a piece at a time: iterating yields tables of data records (every
    column a large string, the header row excluded), and ``RESTART`` when the exact path takes
    over after pieces were already handed out (everything before it is void: the exact path's
    table follows in full). ``names`` (the header as written) is set before the first table,
    ``sha256`` once the iteration has ended. Refusals are raised as ``ExtractError``.

    The fast path's cheap checks run on each piece as pyarrow hands it over (width, header,
    field length, carriage returns) and on the whole file at the end (control characters, an
    unterminated quote, a file that changed): pieces are never kept, so a whole-file doubt can
    only be settled by starting again on the exact path."""

    def __init__(self, path: str, name: str, size: int, limits: ReadLimits) -> None:
        self.path, self.name, self.size, self.limits = path, name, size, limits
        self.names: list[str] | None = None
        self.sha256 = ""

    def __iter__(self) -> Iterator[pa.Table | object]:
        path, name, limits = self.path, self.name, self.limits
        if self.size == 0:
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
        handed_out = False
        try:
            suspicion = None
            last_cell = None  # the file's last cell as parsed (the header's, for a file of only a header)
            try:
                for table in _fast_pieces(path, self.size, limits, scan):
                    if isinstance(table, list):  # the header
                        self.names, last_cell = table, table[-1]
                        continue
                    if table.num_rows:
                        last_cell = table.column(table.num_columns - 1)[-1].as_py()
                    handed_out = True
                    yield table
            except _Suspect as s:
                suspicion = s.reason
            except (pa.ArrowException, ValueError, OSError):
                # The message may quote a row of the file: it is dropped, not logged.
                suspicion = "parser"
        finally:
            worker.join()
        if scan.failed:
            raise single_error(FILE_UNREADABLE, name, "the file could not be read to the end")
        refuse_if_changed(path, name, before)
        self.sha256 = scan.sha256
        if suspicion is None:
            suspicion = _final_suspicion(path, last_cell, scan)
        if suspicion is None:
            return
        logger.info("%s: fast CSV path flagged %s; running the exact pre-scan", name, suspicion)
        if handed_out:
            yield RESTART
        exact = ExactCsv(path, limits)
        for table in exact:  # handed out while nothing is wrong yet; a later problem refuses them all
            self.names = exact.header
            yield table
        if exact.log:
            raise exact.log.error()
        refuse_if_changed(path, name, before)


#: Handed out by a piecewise reading when everything it handed out before is void (it starts again).
RESTART = object()


class _Suspect(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _fast_pieces(path: str, size: int, limits: ReadLimits, scan: _ByteScan) -> Iterator[pa.Table | list[str]]:
    """pyarrow's pieces of the file: the header's names first (a list), then each piece of data
    records that passed the per-piece checks (``_suspicion``), or ``_Suspect``."""
    with open(path, "rb") as handle:
        block = _block_size(handle, size)
        quoted = _has_quote(handle)
    pieces = _quoted_pieces(path, block, limits) if quoted else _line_ranges(path, size, block, limits)
    width = None
    for table in pieces:
        suspicion = _suspicion(table, scan, limits)  # the header row included
        if suspicion is not None:
            raise _Suspect(suspicion)
        if width is None:
            width = table.num_columns
            names = [table.column(i)[0].as_py() for i in range(width)]
            keys = [normalise_header(n) if n is not None else "" for n in names]
            if "" in keys or len(set(keys)) != width:
                raise _Suspect("header")
            yield names
            table = table.slice(1)
        elif table.num_columns != width:  # a piece of records all of another width: one parse would refuse them
            raise _Suspect("parser")
        yield table


def _line_ranges(path: str, size: int, block: int, limits: ReadLimits) -> Iterator[pa.Table]:
    """A file without a quote character has no line break inside a value, so it splits exactly
    at line ends: ranges of about ``_PIECE_BLOCKS`` blocks, each parsed by ``read_csv`` (on the
    machine's cores, as the whole file would be), the first one holding the header.
    Each range is read into a buffer of its own, freed once parsed (a map of the file would keep
    every page read in the process's memory until the end: so do the pages a search of a map
    touches, which is why each range's end is found by reading a little past it)."""
    span = block * _PIECE_BLOCKS
    with pa.OSFile(path) as source:
        start = 0
        while start < size:
            cut = _line_end(source, start + span, size) if size - start > span + span // 2 else -1
            end = size if cut < 0 else cut + 1
            yield _arrow_csv(pa.BufferReader(source.read_at(end - start, start)), end - start, limits, quoted=False)
            start = end


def _line_end(source: pa.NativeFile, offset: int, size: int) -> int:
    """The position of the first line feed at or after ``offset``, or -1: the file read a window
    of ``_SEARCH_WINDOW`` bytes at a time from there."""
    while offset < size:
        window = source.read_at(min(_SEARCH_WINDOW, size - offset), offset)
        found = window.find(b"\n")
        if found >= 0:
            return offset + found
        offset += len(window)
    return -1


def _quoted_pieces(path: str, block: int, limits: ReadLimits) -> Iterator[pa.Table]:
    """A file with quotes, through pyarrow's streaming reader (quote-aware, one block after the
    other), its batches joined into pieces of about ``_PIECE_BLOCKS`` blocks."""
    held: list[pa.RecordBatch] = []
    with _arrow_stream(path, block, limits) as reader:
        for batch in reader:
            held.append(batch)
            if len(held) >= _PIECE_BLOCKS:
                yield pa.Table.from_batches(held)
                held = []
    if held:
        yield pa.Table.from_batches(held)


def _refuse_wide_header(path: str, name: str, limits: ReadLimits) -> None:
    """Refuse a header wider than the limit before pyarrow allocates a builder per column.
    Counting fields of the first (possibly cut) record can only under-count, never over-."""
    with open(path, "rb") as handle:
        head = handle.read(_HEAD_BYTES).decode("utf-8", "replace").lstrip("\ufeff")
    # A parser of its own whose limit fits the head: a long first field (an unterminated quote)
    # would otherwise stop ``csv`` at its process-wide limit before the exact path can report it.
    parser = csv_parser(len(head) + 1)
    first = next((row for row in parser.reader(io.StringIO(head, newline=""), dialect=csv.excel) if row), [])
    if len(first) > limits.max_columns:
        raise single_error(
            TOO_MANY_COLUMNS,
            name,
            f"the header has at least {len(first)} columns; the limit is {limits.max_columns}",
            line=1,
        )


def _csv_options(block: int, limits: ReadLimits, quoted: bool) -> dict:
    """Every row, header included as row 0, every column a large string; only empty cells are
    null. Strict column counts (pyarrow refuses short and long rows).

    A file without a single quote character cannot hold a line break inside a value, so pyarrow's
    plain line splitter is exact for it (and a quarter faster on two cores than the quote-aware
    one, which every file with a quote gets)."""
    return dict(
        read_options=pacsv.ReadOptions(autogenerate_column_names=True, block_size=block),
        parse_options=pacsv.ParseOptions(newlines_in_values=quoted),
        convert_options=pacsv.ConvertOptions(
            # Column names are f0, f1, ...: the header is read as data, so every column,
            # including one with an empty or duplicated name, gets the string type.
            column_types={f"f{i}": STRING for i in range(limits.max_columns)},
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
            null_values=[""],
        ),
    )


def _arrow_csv(source, size: int, limits: ReadLimits, quoted: bool) -> pa.Table:
    """One range of a file parsed whole (``_csv_options``)."""
    return pacsv.read_csv(source, **_csv_options(max(_BLOCK, size // _TARGET_RANGE_BLOCKS), limits, quoted))


def _arrow_stream(path: str, block: int, limits: ReadLimits) -> pacsv.CSVStreamingReader:
    """A quoted file's streaming reader (``_csv_options``)."""
    return pacsv.open_csv(path, **_csv_options(block, limits, quoted=True))


def _has_quote(handle: io.BufferedReader) -> bool:
    """Whether the file holds a double quote anywhere (memchr over chunks read into one buffer,
    not over a map of the file: a map's pages count in the process's memory until it closes, so
    the peak would grow with the file)."""
    buffer = bytearray(_SCAN_CHUNK)
    handle.seek(0)
    while n := handle.readinto(buffer):
        if buffer.find(b"\"", 0, n) >= 0:
            return True
    return False


def _block_size(handle: io.BufferedReader, size: int) -> int:
    """A block size for which no block boundary splits a CR from its LF (pyarrow drops the LF
    of a quoted CRLF split that way). A few tries; if every one collides, the post-parse
    carriage-return check sends the file to the exact path instead."""
    base = _BLOCK
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


def _suspicion(table: pa.Table, scan: _ByteScan, limits: ReadLimits) -> str | None:
    """The first cheap reason to distrust a piece pyarrow parsed, or None when it is sound."""
    if table.num_columns > limits.max_columns:
        return "columns"
    for column in table.columns:
        # Bytes >= characters: only a column over the limit in bytes needs counting chars.
        longest = pc.max(pc.binary_length(column)).as_py() or 0
        if longest > limits.max_field_chars:
            if (pc.max(pc.utf8_length(column)).as_py() or 0) > limits.max_field_chars:
                return "field length"
    # The byte scan runs ahead of the parse: once it has passed the whole file without a CR, no
    # piece needs looking at; until then, or if it found one, each piece is looked at.
    if (not scan.finished or scan.carriage_returns) and _values_have_bare_cr(table):
        return "carriage return"
    return None


def _final_suspicion(path: str, last_cell: str | None, scan: _ByteScan) -> str | None:
    """The whole-file reasons to distrust pyarrow's pieces, once they have all been read."""
    if scan.controls:
        return "control characters"
    if _may_end_in_open_quote(path, last_cell):
        return "quote"
    return None


def _may_end_in_open_quote(path: str, last_cell: str | None) -> bool:
    """True when pyarrow ended inside a quoted field that never closed. It then puts
    everything from the quote to the end of the file into the last cell (a short last record
    would fail the column count instead), so the file ends with that opening quote, at the
    start of a field, followed by the cell re-escaped. A closed field can only look like that
    when its "opening" quote is preceded by another quote, so the check is exact."""
    tail = b'"' + (last_cell or "").encode("utf-8").replace(b'"', b'""')
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
            offsets = np.frombuffer(offsets_buffer, dtype=offset_type(chunk))[
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
