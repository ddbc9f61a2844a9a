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
import queue
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import pyarrow as pa

from dvnet.contracts.errors import ExtractError
from dvnet.pipelines.contributor.read.csv_fast import RESTART, CsvBlocks
from dvnet.pipelines.contributor.read.extract import RawExtract
from dvnet.pipelines.contributor.read.parquet import ParquetPieces
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
from dvnet.pipelines.contributor.read.xlsx import XlsxPieces

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RESTART", "Block", "ExtractError", "ExtractProblem", "ExtractRead", "RawExtract", "ReadLimits", "read_extract", "read_header"]

logger = logging.getLogger(__name__)

FORMATS = {".csv": "csv", ".parquet": "parquet", ".xlsx": "xlsx"}


def read_extract(path: str | os.PathLike[str], *, limits: ReadLimits = ReadLimits(),
                 known_columns: frozenset[str] = frozenset()) -> RawExtract:
    """Read a CSV (UTF-8, BOM optional), Parquet or .xlsx extract whole, or raise ``ExtractError``.

    The error's ``context["problems"]`` lists every problem found (``ExtractProblem``; the
    first 100 per reason, ``context["counts"]`` has the totals). No message, problem or log
    line contains a value from the file: a column is named only when ``known_columns`` (the
    contract's fields and the mapping's names) holds its header, otherwise by position.
    """
    return ExtractRead(path, limits).result(known_columns)


def read_header(path: str | os.PathLike[str], *, limits: ReadLimits = ReadLimits(),
                known_columns: frozenset[str] = frozenset()) -> list[str]:
    """The extract's header names as written, from its first block; the rest of the file is not
    parsed (``dvnet mapping check`` plans the columns with them, then its dry run reads the whole
    file once). Refusals as ``read_extract``'s, for what the first block meets."""
    blocks = ExtractRead(path, limits).blocks(known_columns)
    try:
        return next(b for b in blocks if b is not RESTART).names
    finally:
        blocks.close()


@dataclass
class Block:
    """A run of consecutive data records of an extract: ``table`` as in ``RawExtract`` (one
    large-string column per header name in ``names``), its first record the extract's record
    ``first_record`` + 1 (records are numbered from 1, the header is not one)."""

    table: pa.Table
    names: list[str]
    first_record: int

    @property
    def records(self) -> int:
        return self.table.num_rows

    @cached_property
    def frame(self) -> pd.DataFrame:
        return RawExtract(self.table, self.names, "", "", 0).frame


class ExtractRead:
    """One reading of an extract, a block of ``limits.block_records`` records at a time (fewer
    when that many would hold more than ``limits.block_bytes``; the last
    one shorter; one block, possibly empty, at the least): ``blocks`` hands them out in order, or
    ``RESTART`` when the reading starts again (every block before it is void; this happens when
    a CSV's whole-file checks send it to the exact path after its blocks were read). When the
    blocks have all been handed out, ``sha256``, ``records``, ``source_format`` and
    ``byte_size`` describe what was read. ``result`` joins the blocks into one ``RawExtract``.

    ``ahead`` starts the reading in a thread of its own before the caller knows the column names
    (a command reads while it imports): ``_AHEAD`` blocks, then, once the caller takes blocks,
    one block ahead of the one the caller holds (made while the caller validates it), so the
    extract is never held whole. (Two blocks waiting and a third waiting for room, on top of the
    one being validated, cost 90-130 MiB at any size; reading in the caller's thread alone saved
    as much again but took 10 % longer at 10M rows.) The names only decide, when a refusal
    reaches the caller, which header names it may show.
    The thread is not a daemon: ``close`` (or the end of ``blocks``) stops it and waits for it,
    rather than leave Arrow's threads running at exit, and it stops by itself once the main thread
    has ended (a command that stopped on a usage error without collecting it)."""

    def __init__(self, path: str | os.PathLike[str], limits: ReadLimits = ReadLimits()) -> None:
        self.path, self.limits = path, limits
        self.sha256 = ""
        self.records = 0
        self.source_format = ""
        self.byte_size = 0
        self._queue: queue.Queue | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._items: Iterator[Block | object] | None = None  # a reading ahead's blocks, until handed over
        self._started = False

    def ahead(self) -> ExtractRead:
        self._queue = queue.Queue()
        self._permits = threading.Semaphore(_AHEAD)  # blocks it may make before the caller takes one
        self._items = _blocks(self.path, self.limits, self)
        self._thread = threading.Thread(target=self._produce, name="extract-read-ahead")
        self._thread.start()
        return self

    def blocks(self, known_columns: frozenset[str] = frozenset()) -> Iterator[Block | object]:
        """The blocks (and ``RESTART``s) in order; a reader's refusal raised as ``ExtractError``
        with only ``known_columns`` named. A reading is handed out once."""
        if self._started:
            raise RuntimeError("an extract reading hands its blocks out once; read the file again with a new ExtractRead")
        self._started = True
        try:
            items = self._consume() if self._thread is not None else _blocks(self.path, self.limits, self)
            try:
                yield from items
            except _ReaderRefused as refused:
                error = refused.error
            else:
                return
            raise only_known_columns(error, known_columns)
        finally:
            self.close()

    def result(self, known_columns: frozenset[str] = frozenset()) -> RawExtract:
        """The whole extract as one ``RawExtract`` (the blocks joined)."""
        tables: list[pa.Table] = []
        names: list[str] = []
        for block in self.blocks(known_columns):
            if block is RESTART:
                tables = []
                continue
            tables.append(block.table)
            names = block.names
        table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
        return RawExtract(table=table, names=names, source_format=self.source_format, sha256=self.sha256, byte_size=self.byte_size)

    def close(self) -> None:
        """Stop a reading ahead and wait for its thread (nothing to do for one that ended)."""
        if self._thread is None:
            return
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.05)  # unblock a thread waiting for room
            except queue.Empty:
                pass
        self._thread.join()
        while not self._queue.empty():  # the blocks nobody will take
            self._queue.get_nowait()
        if self._items is not None:
            self._items.close()  # the reading's file, wherever it stopped

    def _produce(self) -> None:
        try:
            while self._permitted():
                try:
                    item = next(self._items)
                except StopIteration:
                    self._queue.put(_DONE)
                    return
                self._queue.put(item)
        except BaseException as failure:  # noqa: BLE001  (handed to the caller's thread by blocks)
            self._queue.put(_Failed(failure))

    def _permitted(self) -> bool:
        # A caller that never collects (it stopped on a usage error without ``close``) must not
        # keep the process alive: the reading ends with the main thread.
        while not self._stop.is_set() and threading.main_thread().is_alive():
            if self._permits.acquire(timeout=0.05):
                return True
        return False

    def _consume(self) -> Iterator[Block | object]:
        first = True
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.failure
            if first:  # one permit fewer from here on: one block made ahead of the one being validated
                first = False
            else:
                self._permits.release()
            yield item


_AHEAD = 2  # blocks a reading ahead makes before its caller takes the first


class _Failed:
    def __init__(self, failure: BaseException) -> None:
        self.failure = failure


_DONE = object()


class _ReaderRefused(Exception):
    """A reader's ExtractError, its columns not yet named (carried out of ``_blocks``)."""

    def __init__(self, error: ExtractError) -> None:
        super().__init__()
        self.error = error


def _blocks(path: str | os.PathLike[str], limits: ReadLimits, into: ExtractRead) -> Iterator[Block | object]:
    """The reading itself: the format's pieces cut into blocks of ``limits.block_records``
    records, or fewer where that many would hold more than ``limits.block_bytes`` (by the held
    records' average size); what describes the whole file is set on ``into`` once the pieces are
    all read."""
    name = os.path.basename(os.fspath(path))
    started = time.perf_counter()
    held: list[pa.Table] = []  # the records read but not yet handed out, fewer than a block
    held_rows = first = 0
    held_bytes = 0.0
    handed_out = False
    try:
        pieces, fmt, size = _open(path, name, limits)
        for piece in pieces:
            if piece is RESTART:
                held, held_rows, held_bytes, first, handed_out = [], 0, 0.0, 0, False
                yield RESTART
                continue
            held.append(piece)
            held_rows += piece.num_rows
            held_bytes += piece.nbytes
            while held_rows and held_rows >= (size_records := _block_size(limits, held_bytes / held_rows)):
                table = pa.concat_tables(held) if len(held) > 1 else held[0]
                yield Block(table.slice(0, size_records), pieces.names, first)
                handed_out = True
                first += size_records
                held = [table.slice(size_records)]
                held_bytes -= held_bytes / held_rows * size_records
                held_rows -= size_records
    except ExtractError as e:
        raise _ReaderRefused(e) from None
    if held_rows or not handed_out:
        table = pa.concat_tables(held) if len(held) > 1 else held[0]
        yield Block(table, pieces.names, first)
    into.records, into.sha256, into.source_format, into.byte_size = first + held_rows, pieces.sha256, fmt, size
    logger.info("read %s: %d records, %d columns, %s, %.2f s", name, into.records, len(pieces.names), fmt, time.perf_counter() - started)


def _block_size(limits: ReadLimits, record_bytes: float) -> int:
    """Records a block holds: ``block_records``, or as many of ``record_bytes`` as fit in
    ``block_bytes`` (one at the least)."""
    if record_bytes * limits.block_records <= limits.block_bytes:
        return limits.block_records
    return max(1, int(limits.block_bytes // record_bytes))


def _open(path: str | os.PathLike[str], name: str, limits: ReadLimits):
    """The format's pieces (an iterable with ``names`` and ``sha256``), its format and byte size,
    or a refusal about the file itself (type, existence, size)."""
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
    if fmt == "csv":
        return CsvBlocks(os.fspath(path), name, info.st_size, limits), fmt, info.st_size
    pieces = ParquetPieces if fmt == "parquet" else XlsxPieces
    return pieces(os.fspath(path), name, info.st_size, limits), fmt, info.st_size
