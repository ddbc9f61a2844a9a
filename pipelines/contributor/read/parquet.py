"""Parquet extracts: every column as text, as a steward would read it."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from dvnet.pipelines.contributor.read.extract import STRING, RawExtract
from dvnet.pipelines.contributor.read.problems import (
    EXTRACT_EMPTY,
    EXTRACT_ENCODING,
    EXTRACT_UNREADABLE,
    EXTRACT_UNSUPPORTED_TYPE,
    FILE_TOO_LARGE,
    TOO_MANY_COLUMNS,
    ProblemLog,
    ReadLimits,
    check_header,
    single_error,
)
from dvnet.pipelines.contributor.read.typed import read_capped, value_problems


def read_parquet(path: str, name: str, size: int, limits: ReadLimits) -> RawExtract:
    import pyarrow.parquet as pq

    data, sha = read_capped(path, name, size)
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
        columns.append(converted if converted is not None else pa.nulls(len(column), STRING))
    if not log:
        text = pa.table(columns, names=[f"f{i}" for i in range(len(columns))])
        value_problems(text, names, log, limits, None)
    if log:
        raise log.error()
    return RawExtract(
        table=text,
        names=names,
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
        return pa.chunked_array([pa.nulls(len(column), STRING)])
    if pa.types.is_timestamp(kind):
        fmt = "%Y-%m-%dT%H:%M:%S%z" if kind.tz else "%Y-%m-%dT%H:%M:%S"
        text = pc.strftime(column, format=fmt)
        text = pc.replace_substring_regex(text, r"\.0+($|[+-])", r"\1")  # whole seconds
        text = pc.replace_substring_regex(text, r"(\.\d*[1-9])0+($|[+-])", r"\1\2")
        if not kind.tz:
            text = pc.replace_substring_regex(text, r"T00:00:00$", "")
        return text.cast(STRING)
    if pa.types.is_time(kind):
        return pc.replace_substring_regex(column.cast(pa.string()), r"\.0+$", "").cast(STRING)
    if (
        pa.types.is_boolean(kind)
        or pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_decimal(kind)
        or pa.types.is_date(kind)
        or pa.types.is_duration(kind)
    ):
        return column.cast(STRING)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        column = column.cast(STRING)
        bad = _invalid_utf8_rows(column)
    elif (
        pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_fixed_size_binary(kind)
    ):
        bad = _invalid_utf8_rows(column)
        if not bad:
            column = column.cast(pa.large_binary()).cast(STRING)
    else:
        log.add(
            EXTRACT_UNSUPPORTED_TYPE,
            "nested or other non-scalar column type; export it as text",
            column=name,
        )
        return pa.chunked_array([pa.nulls(len(column), STRING)])
    for record in bad:
        log.add(EXTRACT_ENCODING, "bytes that are not valid UTF-8", record=record, column=name)
    if bad:
        return pa.chunked_array([pa.nulls(len(column), STRING)])
    return _empty_to_null(column)


def _empty_to_null(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.if_else(pc.equal(column, ""), pa.scalar(None, STRING), column)


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
