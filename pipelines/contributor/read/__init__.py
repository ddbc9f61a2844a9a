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

__all__ = ["ExtractError", "ExtractProblem", "RawExtract", "ReadLimits", "read_extract"]

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
    refused = None
    try:
        extract = reader(os.fspath(path), name, info.st_size, limits)
    except ExtractError as e:
        refused = only_known_columns(e, known_columns)
    if refused is not None:  # raised outside the handler: nothing chained to it
        raise refused
    logger.info(
        "read %s: %d records, %d columns, %s, %.2f s",
        name,
        extract.records,
        extract.frame.shape[1],
        fmt,
        time.perf_counter() - started,
    )
    return extract
