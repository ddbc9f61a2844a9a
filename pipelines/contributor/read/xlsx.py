"""Excel (.xlsx) extracts: the first sheet's header and rows as text, as a steward sees them."""

from __future__ import annotations

import datetime as dt
import decimal
import io
import zipfile
from collections.abc import Iterator

import pyarrow as pa

from dvnet.contracts.errors import ExtractError
from dvnet.pipelines.contributor.read.extract import STRING
from dvnet.pipelines.contributor.read.problems import (
    EXTRACT_EMPTY,
    EXTRACT_UNREADABLE,
    FILE_TOO_LARGE,
    TOO_MANY_COLUMNS,
    ProblemLog,
    ReadLimits,
    check_header,
    single_error,
)
from dvnet.pipelines.contributor.read.typed import read_capped, value_problems


#: Data rows turned into a table at a time (their Python strings are what a workbook costs).
_BATCH_ROWS = 16_384


class XlsxPieces:
    """An .xlsx extract's first sheet, a table of ``_BATCH_ROWS`` data rows at a time (every
    column text, named by position): ``names`` is set before the first table, ``sha256`` once the
    iteration has ended. Refusals are raised as ``ExtractError`` and are the whole sheet's: once a
    problem is found no more tables are handed out, but the rest of the sheet is still read for its
    problems. The file's bytes are read once, whole (the compressed workbook: the hash and the
    parse see the same bytes); the rows, a workbook's real cost in memory, are not kept."""

    def __init__(self, path: str, name: str, size: int, limits: ReadLimits) -> None:
        self.path, self.name, self.size, self.limits = path, name, size, limits
        self.names: list[str] = []
        self.sha256 = ""

    def __iter__(self) -> Iterator[pa.Table]:
        import openpyxl

        name, limits = self.name, self.limits
        data, sha = read_capped(self.path, name, self.size)
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
        del data
        log = ProblemLog(name)
        sheet = _Sheet(name, limits, log)
        rows = _xlsx_rows(workbook, name, limits)
        broken = False
        try:
            while True:
                try:
                    number, cells = next(rows)
                except StopIteration:
                    break
                except ExtractError:
                    raise
                except Exception:  # a corrupt sheet; openpyxl's message may quote a cell, so none is shown
                    broken = True
                    break
                table = sheet.add(number, cells)
                if table is not None:
                    self.names = sheet.names
                    yield table
        finally:
            workbook.close()
        if broken:
            raise single_error(EXTRACT_UNREADABLE, name, "the first sheet could not be read")
        table = sheet.finish()
        if table is not None:
            self.names = sheet.names
            yield table
        if log:
            raise log.error()
        self.sha256 = sha


class _Sheet:
    """The sheet's rows gathered into tables: the first row is the header; a table is made every
    ``_BATCH_ROWS`` rows and at the end, its cells checked (``value_problems``) with the sheet's
    record and row numbers, and handed back only while nothing is wrong. A row wider than the
    header gives columns without a name: the header's findings are logged at the end, with the
    sheet's full width, as the whole read logged them (before that, a header with findings only
    stops tables from being handed out)."""

    def __init__(self, name: str, limits: ReadLimits, log: ProblemLog) -> None:
        self.name, self.limits, self.log = name, limits, log
        self.header: list[str | None] | None = None
        self.header_row = 0
        self.names: list[str] = []
        self.rows: list[list[str | None]] = []
        self.lines: list[int] = []
        self.first = self.widest = 0
        self.sound = True
        self.handed_out = False

    def add(self, number: int, cells: list[str | None]) -> pa.Table | None:
        if self.header is None:
            self.header, self.header_row = cells, number
            probe = ProblemLog(self.name)
            check_header(cells, probe, csv_file=False, line=number)
            self.sound = not probe
            self.log.header = list(cells)
            self.names = [h if h is not None else "" for h in cells]
            return None
        self.rows.append(cells)
        self.lines.append(number)
        self.widest = max(self.widest, len(cells))
        return self._table() if len(self.rows) >= _BATCH_ROWS else None

    def finish(self) -> pa.Table | None:
        if self.header is None:
            raise single_error(EXTRACT_EMPTY, self.name, "the first sheet has no header row")
        table = self._table() if self.rows or not self.handed_out else None
        # The header's findings, once the sheet's width is known (a column beyond it has no name).
        padded = self.header + [None] * max(0, self.widest - len(self.header))
        check_header(padded, self.log, csv_file=False, line=self.header_row)
        return table

    def _table(self) -> pa.Table | None:
        width = max(len(self.header), self.widest)
        columns = [[None] * len(self.rows) for _ in range(width)]
        for r, row in enumerate(self.rows):
            for c, value in enumerate(row):
                columns[c][r] = value
        text = pa.table([pa.array(values, type=STRING) for values in columns], names=[f"f{i}" for i in range(width)])
        value_problems(text, self.names + [""] * (width - len(self.header)), self.log, self.limits, self.lines, first_record=self.first)
        self.first += len(self.rows)
        self.rows, self.lines = [], []
        if not self.sound or width != len(self.header) or self.log:
            return None
        self.handed_out = True
        return text


def _xlsx_rows(workbook, name: str, limits: ReadLimits) -> Iterator[tuple[int, list[str | None]]]:
    """The first sheet's non-empty rows as text (trailing empty cells trimmed), with their sheet
    row numbers: the first is the header."""
    if not workbook.worksheets:
        raise single_error(EXTRACT_EMPTY, name, "the workbook has no sheets")
    sheet = workbook.worksheets[0]
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
        yield number, cells


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
