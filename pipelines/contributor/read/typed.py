"""What the readers of typed files (Parquet, .xlsx) share: the file's hash (read whole with
it, or in a pass of its own), and the checks on their cells once those are text."""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dvnet.pipelines.contributor.read.extract import offset_type
from dvnet.pipelines.contributor.read.problems import (
    CONTROL_RE,
    EXTRACT_CONTROL_CHAR,
    EXTRACT_FIELD_TOO_LONG,
    FILE_UNREADABLE,
    ProblemLog,
    ReadLimits,
    single_error,
)


def read_capped(path: str, name: str, size: int) -> tuple[bytes, str]:
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


class FileDigest:
    """The SHA-256 of a file, taken in a pass of its own (``run``, in a thread beside the
    parse); ``failed`` when the file could not be read to the end."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.sha256 = ""
        self.failed = False

    def run(self) -> None:
        try:
            digest = hashlib.sha256()
            buffer = bytearray(1 << 20)
            view = memoryview(buffer)
            with open(self.path, "rb", buffering=0) as handle:
                while n := handle.readinto(buffer):
                    digest.update(view[:n])
            self.sha256 = digest.hexdigest()
        except OSError:
            self.failed = True


def value_problems(
    table: pa.Table,
    names: list[str],
    log: ProblemLog,
    limits: ReadLimits,
    lines: list[int] | None,
    *,
    first_record: int = 0,
) -> None:
    """Control characters and over-long cells in an already-typed table (Parquet, xlsx),
    located by record number (the table's first record is ``first_record`` + 1) and sheet row."""
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
                    pc.match_substring_regex(column, CONTROL_RE.pattern),
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
                    record=first_record + index + 1,
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
        offsets = np.frombuffer(offsets_buffer, dtype=offset_type(chunk))
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
