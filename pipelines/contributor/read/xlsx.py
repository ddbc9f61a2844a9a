"""Excel (.xlsx) extracts: the first sheet's header and rows as text, as a steward sees them."""

from __future__ import annotations

import datetime as dt
import decimal
import io
import zipfile

import pyarrow as pa

from dvnet.contracts.errors import ExtractError
from dvnet.pipelines.contributor.read.extract import STRING, RawExtract
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


def read_xlsx(path: str, name: str, size: int, limits: ReadLimits) -> RawExtract:
    import openpyxl

    data, sha = read_capped(path, name, size)
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
        [pa.array(values, type=STRING) for values in columns],
        names=[f"f{i}" for i in range(width)],
    )
    names = [h if h is not None else "" for h in header]
    value_problems(text, names, log, limits, lines)
    if log:
        raise log.error()
    return RawExtract(
        table=text,
        names=names,
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
