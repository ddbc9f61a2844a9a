"""Read an agency extract safely into a frame of strings.

``read_extract`` turns the file a data steward exported (CSV, Parquet or Excel) into a
``RawExtract``: one row per data record, one string column per header name exactly as
written, empty cells as NA. Types, contract rules and de-identification come later; this step
guarantees only that the file was read completely and unambiguously, or refused with every
problem located by line, record, byte offset and column, and never quoted.

One module per format (``csv_fast`` hands over to ``csv_exact`` when in doubt; ``parquet``,
``xlsx``); ``problems`` holds the reason codes, limits and findings they all report.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time

from dvnet.contracts.errors import ExtractError
from dvnet.pipelines.contributor.read.csv_fast import read_csv
from dvnet.pipelines.contributor.read.extract import RawExtract
from dvnet.pipelines.contributor.read.parquet import read_parquet
from dvnet.pipelines.contributor.read.problems import (
    only_known_columns,
    FILE_NOT_FOUND,
    FILE_TOO_LARGE,
    FILE_UNREADABLE,
    FORMAT_UNSUPPORTED,
    ExtractProblem,
    ReadLimits,
    single_error,
)
from dvnet.pipelines.contributor.read.xlsx import read_xlsx

__all__ = ["ExtractError", "ExtractProblem", "ExtractRead", "RawExtract", "ReadLimits", "read_extract"]

logger = logging.getLogger(__name__)

FORMATS = {".csv": "csv", ".parquet": "parquet", ".xlsx": "xlsx"}


def read_extract(path: str | os.PathLike[str], *, limits: ReadLimits = ReadLimits(),
                 known_columns: frozenset[str] = frozenset()) -> RawExtract:
    """Read a CSV (UTF-8, BOM optional), Parquet or .xlsx extract, or raise ``ExtractError``.

    The error's ``context["problems"]`` lists every problem found (``ExtractProblem``; the
    first 100 per reason, ``context["counts"]`` has the totals). No message, problem or log
    line contains a value from the file: a column is named only when ``known_columns`` (the
    contract's fields and the mapping's names) holds its header, otherwise by position.
    """
    return ExtractRead(path, limits).result(known_columns)


class ExtractRead:
    """One reading of an extract: ``result`` reads it then and there (``read_extract``), or
    collects what ``ahead`` started in a thread of its own before the caller knew the column
    names. The reading is the same either way; the names only decide, at ``result``, which
    header names a refusal may show. The thread is not a daemon: a process that stops early
    (a usage error) waits for it rather than leave Arrow's threads running at exit."""

    def __init__(self, path: str | os.PathLike[str], limits: ReadLimits = ReadLimits()) -> None:
        self.path, self.limits = path, limits
        self._extract: RawExtract | None = None
        self._failure: BaseException | None = None
        self._reader_refused = False  # the failure came from a reader: its columns are still to be named
        self._thread: threading.Thread | None = None

    def ahead(self) -> ExtractRead:
        self._thread = threading.Thread(target=self._read, name="extract-read-ahead")
        self._thread.start()
        return self

    def result(self, known_columns: frozenset[str] = frozenset()) -> RawExtract:
        if self._thread is None:
            self._read()
        else:
            self._thread.join()
        if self._failure is not None:
            if self._reader_refused:
                raise only_known_columns(self._failure, known_columns)  # type: ignore[arg-type]
            raise self._failure
        assert self._extract is not None
        return self._extract

    def _read(self) -> None:
        try:
            self._extract = _read(self.path, self.limits)
        except _ReaderRefused as refused:
            self._failure, self._reader_refused = refused.error, True
        except BaseException as failure:  # noqa: BLE001  (handed to the caller's thread by result)
            self._failure = failure


class _ReaderRefused(Exception):
    """A reader's ExtractError, its columns not yet named (carried out of ``_read``)."""

    def __init__(self, error: ExtractError) -> None:
        super().__init__()
        self.error = error


def _read(path: str | os.PathLike[str], limits: ReadLimits) -> RawExtract:
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
    reader = {"csv": read_csv, "parquet": read_parquet, "xlsx": read_xlsx}[fmt]
    try:
        extract = reader(os.fspath(path), name, info.st_size, limits)
    except ExtractError as e:
        refused = _ReaderRefused(e)
    else:
        refused = None
    if refused is not None:  # raised outside the handler: nothing chained to it
        raise refused
    logger.info(
        "read %s: %d records, %d columns, %s, %.2f s",
        name,
        extract.records,
        len(extract.names),
        fmt,
        time.perf_counter() - started,
    )
    return extract
