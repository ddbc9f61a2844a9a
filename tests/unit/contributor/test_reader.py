"""read_extract: what a data steward sees when an extract is read or refused.

Each test asserts reason codes and places (line, record, byte offset, column), not wording.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
from pathlib import Path

import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dvnet.pipelines.contributor.read import csv_exact, csv_fast
from dvnet.contracts.errors import ExtractError
from dvnet.pipelines.contributor.read import ExtractRead, ReadLimits, read_extract, read_header
from dvnet.pipelines.contributor.read import parquet as parquet_reader
from dvnet.pipelines.contributor.read import xlsx as xlsx_reader

STRING = pd.StringDtype("pyarrow")


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


#: The header names these tests' files use, given as the contract's and mapping's names would be:
#: a problem names its column only when its header is one of them (else by position; see the
#: header-less tests below and tests/adversarial/contributor).
KNOWN = frozenset({"a", "b", "c", "note", "name", "client id", "client id ", "client_id", "nested", "sex", "x", "blob", "ID"})


def refused(path, **kwargs) -> ExtractError:
    kwargs.setdefault("known_columns", KNOWN)
    with pytest.raises(ExtractError) as caught:
        read_extract(path, **kwargs)
    return caught.value


def only_problem(error: ExtractError):
    problems = error.context["problems"]
    assert len(problems) == 1, [p.reason for p in problems]
    return problems[0]


def cells(frame: pd.DataFrame) -> list[list[str | None]]:
    return [[None if pd.isna(v) else v for v in row] for row in frame.astype(object).values.tolist()]


# --- CSV: what is accepted ----------------------------------------------------------------


def test_clean_csv_gives_string_columns_named_as_written_with_empty_cells_as_na(tmp_path):
    data = b'Client ID,Service Date,Note\nC1,2026-07-01,"said ""hi"""\nC2,,\nC3,2026-07-03,""\nNA,NULL,nan\n'
    path = write(tmp_path, "extract.csv", data)

    extract = read_extract(path)

    assert list(extract.frame.columns) == ["Client ID", "Service Date", "Note"]
    assert all(dtype == STRING for dtype in extract.frame.dtypes)
    assert extract.records == 4
    assert cells(extract.frame) == [
        ["C1", "2026-07-01", 'said "hi"'],
        ["C2", None, None],
        ["C3", "2026-07-03", None],  # a quoted empty cell is NA too
        ["NA", "NULL", "nan"],  # words that look like nulls are data
    ]
    assert extract.source_format == "csv"
    assert extract.sha256 == hashlib.sha256(data).hexdigest()
    assert extract.byte_size == len(data)


def test_bom_is_accepted_and_stripped_from_the_first_header(tmp_path):
    data = b"\xef\xbb\xbfclient_id,sex\nC1,F\n"
    extract = read_extract(write(tmp_path, "bom.csv", data))
    assert list(extract.frame.columns) == ["client_id", "sex"]
    assert extract.sha256 == hashlib.sha256(data).hexdigest()  # of the bytes as exported


def test_bom_before_a_quoted_header_is_stripped(tmp_path):
    extract = read_extract(write(tmp_path, "bom.csv", b'\xef\xbb\xbf"client_id","sex"\nC1,F\n'))
    assert list(extract.frame.columns) == ["client_id", "sex"]


def test_header_only_file_has_zero_records_and_its_columns(tmp_path):
    extract = read_extract(write(tmp_path, "header.csv", b"a,b"))
    assert extract.records == 0
    assert list(extract.frame.columns) == ["a", "b"]
    assert all(dtype == STRING for dtype in extract.frame.dtypes)


def test_crlf_line_endings_and_blank_lines(tmp_path):
    data = b"a,b\r\n1,2\r\n\r\n3,\r\n"
    extract = read_extract(write(tmp_path, "crlf.csv", data))
    assert cells(extract.frame) == [["1", "2"], ["3", None]]


def test_quoted_newlines_are_one_record_and_later_lines_are_numbered_physically(tmp_path):
    data = (
        b"id,note\n"  # line 1
        b'1,"first\nsecond\r\nthird"\n'  # lines 2-4: one record
        b"2,plain\n"  # line 5, record 2
        b"3\n"  # line 6, record 3: ragged
    )
    error = refused(write(tmp_path, "notes.csv", data))
    problem = only_problem(error)
    assert (problem.reason, problem.line, problem.record) == ("CSV_RAGGED", 6, 3)
    assert problem.byte_offset == data.index(b"3\n")

    extract = read_extract(write(tmp_path, "notes_ok.csv", data[: data.index(b"3\n")]))
    assert extract.records == 2
    assert cells(extract.frame)[0] == ["1", "first\nsecond\r\nthird"]


# --- CSV: each pre-scan problem -------------------------------------------------------------


def test_ragged_short_row_is_reported_with_line_record_and_counts(tmp_path):
    data = b"a,b,c\n1,2,3\n4,5\n6,7,8\n"
    problem = only_problem(refused(write(tmp_path, "short.csv", data)))
    assert (problem.reason, problem.line, problem.record) == ("CSV_RAGGED", 3, 2)
    assert problem.byte_offset == data.index(b"4,5")
    assert "expected 3" in problem.detail and "found 2" in problem.detail


def test_ragged_long_row_is_reported_with_line_record_and_counts(tmp_path):
    data = b"a,b\n1,2\n3,4\n5,6,7\n"
    problem = only_problem(refused(write(tmp_path, "long.csv", data)))
    assert (problem.reason, problem.line, problem.record) == ("CSV_RAGGED", 4, 3)
    assert "expected 2" in problem.detail and "found 3" in problem.detail


def test_unterminated_quote_in_the_last_column_is_caught(tmp_path):
    # pyarrow accepts this file silently: the rest of the file becomes one cell.
    data = b'a,b\n1,2\n3,"open\n4,5\n6,7\n'
    problem = only_problem(refused(write(tmp_path, "quote.csv", data)))
    assert (problem.reason, problem.line, problem.record) == ("CSV_UNTERMINATED_QUOTE", 3, 2)
    assert problem.column == "b"
    assert problem.byte_offset == data.index(b'"open')


def test_unterminated_quote_swallowing_a_long_tail_is_one_problem_not_three(tmp_path):
    data = b'a,b,c\n1,"open,3\n' + b"4,5,6\n" * 20
    problem = only_problem(refused(write(tmp_path, "quote.csv", data), limits=ReadLimits(max_field_chars=50)))
    assert (problem.reason, problem.record) == ("CSV_UNTERMINATED_QUOTE", 1)


def test_unterminated_quote_in_a_middle_column_is_one_problem(tmp_path):
    data = b'a,b,c\n1,2,3\n4,"open,6\n7,8,9\n'
    problem = only_problem(refused(write(tmp_path, "quote.csv", data)))
    assert (problem.reason, problem.line, problem.record, problem.column) == (
        "CSV_UNTERMINATED_QUOTE",
        3,
        2,
        "b",
    )


@pytest.mark.parametrize(
    "ending", [b'1,""', b'1,""""', b'1,"a"""', b'1,"x\ny"', b'"",""', b'1,"a,b"']
)
def test_closed_quotes_at_the_end_of_a_file_without_newline_stay_on_the_fast_path(
    tmp_path, ending, caplog
):
    caplog.set_level(logging.INFO)
    extract = read_extract(write(tmp_path, "ok.csv", b"a,b\n" + ending))
    assert extract.records == 1
    assert "exact" not in caplog.text


def test_unterminated_quote_at_the_very_end(tmp_path):
    problem = only_problem(refused(write(tmp_path, "quote.csv", b'a,b\n1,"')))
    assert (problem.reason, problem.line, problem.record) == ("CSV_UNTERMINATED_QUOTE", 2, 1)


def test_invalid_utf8_is_reported_with_byte_offset_line_and_column(tmp_path):
    data = b"id,name\n1,ok\n2,caf\xe9\n"  # Latin-1 e-acute
    problem = only_problem(refused(write(tmp_path, "latin1.csv", data)))
    assert (problem.reason, problem.line, problem.record) == ("CSV_ENCODING", 3, 2)
    assert problem.byte_offset == data.index(b"\xe9")
    assert problem.column == "name"


def test_invalid_utf8_after_a_multibyte_character_has_the_exact_byte_offset(tmp_path):
    data = "id,name\n1,日本\n".encode() + b"2,\xc3\x28\n"
    problem = only_problem(refused(write(tmp_path, "bad.csv", data)))
    assert problem.byte_offset == data.index(b"\xc3\x28")
    assert problem.line == 3


def test_invalid_utf8_in_the_header(tmp_path):
    problem = only_problem(refused(write(tmp_path, "bad.csv", b"id,n\xffme\n1,2\n")))
    assert (problem.reason, problem.line, problem.record, problem.column) == (
        "CSV_ENCODING",
        1,
        None,
        None,
    )
    assert problem.byte_offset == 4


def test_byte_offsets_count_the_bom(tmp_path):
    data = b"\xef\xbb\xbfid,n\xffme\n1,\x07\n"
    error = refused(write(tmp_path, "bom.csv", data))
    offsets = [(p.reason, p.byte_offset) for p in error.context["problems"]]
    assert offsets == [("CSV_ENCODING", data.index(b"\xff")), ("CSV_CONTROL_CHAR", data.index(b"\x07"))]


@pytest.mark.parametrize("char", [b"\x00", b"\x07", b"\x1b", b"\x7f", b"\x0b"])
def test_control_characters_are_reported_with_line_and_column(tmp_path, char):
    data = b'id,note\n1,fine\ttab\n2,"x\r\ny"\n3,bad' + char + b"x\n"
    problem = only_problem(refused(write(tmp_path, "ctrl.csv", data)))
    assert (problem.reason, problem.line, problem.record, problem.column) == (
        "CSV_CONTROL_CHAR",
        5,
        3,
        "note",
    )
    assert problem.byte_offset == data.index(char)


def test_tab_cr_lf_inside_values_are_not_control_problems(tmp_path):
    extract = read_extract(write(tmp_path, "ok.csv", b'a,b\n"x\ty","p\r\nq\rr"\n'))
    assert cells(extract.frame) == [["x\ty", "p\r\nq\rr"]]


def test_duplicate_headers_report_both_positions_and_a_known_name_only(tmp_path):
    data = b"Client ID,age,client id \n1,2,3\n"
    problem = only_problem(refused(write(tmp_path, "dup.csv", data)))
    assert (problem.reason, problem.line, problem.column, problem.position) == ("CSV_DUPLICATE_HEADER", 1, "client id ", 3)
    assert problem.detail == "column 3 has the same header as column 1"  # no header text in the wording
    unknown = only_problem(refused(write(tmp_path, "dup.csv", data), known_columns=frozenset()))
    assert (unknown.column, unknown.position) == (None, 3) and "client" not in unknown.describe().lower()


def test_exact_duplicate_header_names(tmp_path):
    problem = only_problem(refused(write(tmp_path, "dup.csv", b"a,a\n1,2\n")))
    assert (problem.reason, problem.column) == ("CSV_DUPLICATE_HEADER", "a")


@pytest.mark.parametrize("header", [b"a,,b", b"a, ,b", b'a,"",b'])
def test_empty_header_name(tmp_path, header):
    problem = only_problem(refused(write(tmp_path, "empty_header.csv", header + b"\n1,2,3\n")))
    assert (problem.reason, problem.line) == ("CSV_EMPTY_HEADER", 1)
    assert "column 2" in problem.detail


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"\n\n\r\n"])
def test_empty_file(tmp_path, data):
    problem = only_problem(refused(write(tmp_path, "empty.csv", data)))
    assert problem.reason == "CSV_EMPTY"


def test_file_too_large_is_refused_before_parsing(tmp_path):
    # Undecodable content: a parse would report CSV_ENCODING instead.
    path = write(tmp_path, "big.csv", b"a,b\n" + b"\xff" * 100)
    problem = only_problem(refused(path, limits=ReadLimits(max_bytes=50)))
    assert problem.reason == "FILE_TOO_LARGE"


def test_field_too_long(tmp_path):
    data = b"a,b\n1,short\n2," + b"x" * 30 + b"\n"
    problem = only_problem(refused(write(tmp_path, "long.csv", data), limits=ReadLimits(max_field_chars=20)))
    assert (problem.reason, problem.line, problem.record, problem.column) == (
        "CSV_FIELD_TOO_LONG",
        3,
        2,
        "b",
    )


def test_field_length_counts_characters_not_bytes(tmp_path):
    data = ("a\n" + "é" * 20 + "\n").encode()  # 40 bytes, 20 characters
    assert read_extract(write(tmp_path, "ok.csv", data), limits=ReadLimits(max_field_chars=20)).records == 1


def test_too_many_columns(tmp_path):
    header = ",".join(f"c{i}" for i in range(12)).encode()
    path = write(tmp_path, "wide.csv", header + b"\n" + b"," * 11 + b"\n")
    problem = only_problem(refused(path, limits=ReadLimits(max_columns=10)))
    assert problem.reason == "TOO_MANY_COLUMNS"


def test_several_problems_in_one_file_are_all_reported(tmp_path):
    data = (
        b"id,id,note\n"  # line 1: duplicate header
        b"1,2,ok\n"  # line 2
        b"3,4\n"  # line 3: short
        b"5,6,\x01\n"  # line 4: control char
        b"7,8,\xff\n"  # line 5: bad UTF-8
        b"9,10,11,12\n"  # line 6: long
    )
    error = refused(write(tmp_path, "many.csv", data))
    found = [(p.reason, p.line, p.record) for p in error.context["problems"]]
    assert found == [
        ("CSV_DUPLICATE_HEADER", 1, None),
        ("CSV_RAGGED", 3, 2),
        ("CSV_CONTROL_CHAR", 4, 3),
        ("CSV_ENCODING", 5, 4),
        ("CSV_RAGGED", 6, 5),
    ]
    assert error.reason == "EXTRACT_PRESCAN_FAILED"
    assert error.context["counts"] == {
        "CSV_DUPLICATE_HEADER": 1,
        "CSV_RAGGED": 2,
        "CSV_CONTROL_CHAR": 1,
        "CSV_ENCODING": 1,
    }


def test_a_single_kind_of_problem_gives_its_own_reason(tmp_path):
    error = refused(write(tmp_path, "r.csv", b"a,b\n1\n2\n"))
    assert error.reason == "CSV_RAGGED"
    assert len(error.context["problems"]) == 2


def test_a_million_broken_rows_list_the_first_hundred_and_count_all(tmp_path):
    data = b"a,b\n" + b"1\n" * 150
    error = refused(write(tmp_path, "r.csv", data))
    assert len(error.context["problems"]) == 100
    assert error.context["counts"] == {"CSV_RAGGED": 150}
    assert [p.line for p in error.context["problems"][:3]] == [2, 3, 4]


def test_a_workbook_saved_as_csv_is_refused_with_one_clear_problem(tmp_path):
    problem = only_problem(refused(write(tmp_path, "x.csv", b"PK\x03\x04\x14\x00\x06\x00rest")))
    assert (problem.reason, problem.byte_offset) == ("CSV_ENCODING", 0)


def test_utf16_csv_is_refused(tmp_path):
    problem = only_problem(refused(write(tmp_path, "x.csv", "a,b\n1,2\n".encode("utf-16"))))
    assert problem.reason == "CSV_ENCODING"


# --- pyarrow's block-boundary CRLF damage ----------------------------------------------------


def crlf_across_block(block: int) -> tuple[bytes, int]:
    """A file whose quoted CRLF has its CR at the last byte of the first block."""
    body = b"id,note\n"
    row = 0
    while len(body) < block - 100:
        body += b'%d,"plain"\n' % row
        row += 1
    prefix = b'%d,"' % row
    body += prefix + b"x" * (block - 1 - len(body) - len(prefix)) + b'\r\ny"\n'
    assert body[block - 1 : block + 1] == b"\r\n"
    return body + b'999,"end"\n' * 50, row


@pytest.mark.parametrize("tries", [0, 8])
def test_quoted_crlf_across_a_pyarrow_block_boundary_is_kept(tmp_path, monkeypatch, tries):
    block = 4096
    monkeypatch.setattr(csv_fast, "_BLOCK", block)
    monkeypatch.setattr(csv_fast, "_BLOCK_TRIES", tries)  # 0: no avoidance, the CR check acts
    data, row = crlf_across_block(block)
    extract = read_extract(write(tmp_path, "crlf.csv", data))
    note = extract.frame["note"].iloc[row]
    assert note.endswith("\r\ny")
    assert extract.records == row + 1 + 50


# --- Parquet ----------------------------------------------------------------------------------


def test_parquet_round_trip_as_strings(tmp_path):
    table = pa.table(
        {
            "text": pa.array(["a", "", None]),
            "count": pa.array([1, None, -3], pa.int64()),
            "ratio": pa.array([1.0, 2.5, None]),
            "flag": pa.array([True, False, None]),
            "day": pa.array([dt.date(2026, 7, 1), None, dt.date(2026, 12, 31)]),
            "at": pa.array(
                [dt.datetime(2026, 7, 1), dt.datetime(2026, 7, 1, 9, 30, 5), None],
                pa.timestamp("us"),
            ),
            "code": pa.array(["x", "y", "x"]).dictionary_encode(),
            "raw": pa.array([b"bytes", None, b""], pa.binary()),
            "nothing": pa.nulls(3),
        }
    )
    path = tmp_path / "extract.parquet"
    pq.write_table(table, path)

    extract = read_extract(path)

    assert extract.source_format == "parquet"
    assert extract.records == 3
    assert list(extract.frame.columns) == table.column_names
    assert all(dtype == STRING for dtype in extract.frame.dtypes)
    assert cells(extract.frame) == [
        ["a", "1", "1", "true", "2026-07-01", "2026-07-01", "x", "bytes", None],
        [None, None, "2.5", "false", None, "2026-07-01T09:30:05", "y", None, None],
        [None, "-3", None, None, "2026-12-31", None, "x", None, None],
    ]
    assert extract.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_parquet_times_are_iso_and_keep_only_significant_fractions(tmp_path):
    table = pa.table(
        {
            "ns": pa.array([dt.datetime(2026, 1, 2, 3, 4, 5, 6), dt.datetime(2026, 1, 2)], pa.timestamp("ns")),
            "utc": pa.array([dt.datetime(2026, 1, 2, 3, 4, 5), None], pa.timestamp("s", tz="UTC")),
            "time": pa.array([dt.time(3, 4, 5), dt.time(3, 4, 5, 120000)], pa.time64("us")),
        }
    )
    pq.write_table(table, tmp_path / "t.parquet")
    assert cells(read_extract(tmp_path / "t.parquet").frame) == [
        ["2026-01-02T03:04:05.000006", "2026-01-02T03:04:05+0000", "03:04:05"],
        ["2026-01-02", None, "03:04:05.120000"],
    ]


def test_parquet_problems_are_located_by_record_and_column(tmp_path):
    table = pa.table(
        {
            "ok": pa.array(["a", "b", "c"]),
            "blob": pa.array([b"fine", b"\xff\xfe", None], pa.binary()),
            "nested": pa.array([[1], [2], []]),
            "note": pa.array(["x", "y", "bell\x07"]),
        }
    )
    path = tmp_path / "bad.parquet"
    pq.write_table(table, path)
    error = refused(path)
    found = {(p.reason, p.record, p.column) for p in error.context["problems"]}
    assert found == {
        ("EXTRACT_ENCODING", 2, "blob"),
        ("EXTRACT_UNSUPPORTED_TYPE", None, "nested"),
    }
    # The control character is found once the other columns are fixed.
    pq.write_table(table.select(["ok", "note"]), path)
    problem = only_problem(refused(path))
    assert (problem.reason, problem.record, problem.column) == ("EXTRACT_CONTROL_CHAR", 3, "note")


@pytest.fixture
def small_batches(monkeypatch):
    """Parquet decoded 2 records at a time, as a large file is decoded a batch at a time."""
    monkeypatch.setattr(parquet_reader, "_BATCH_RECORDS", 2)


def test_parquet_read_in_batches_is_read_as_a_whole(tmp_path, small_batches):
    day = [dt.date(2026, 7, 1) + dt.timedelta(days=i) for i in range(9)]
    table = pa.table({"a": [str(i) if i % 3 else "" for i in range(9)], "day": day, "flag": [i % 2 == 0 for i in range(9)]})
    path = tmp_path / "batches.parquet"
    pq.write_table(table, path, row_group_size=4)
    extract = read_extract(path)
    assert extract.records == 9
    assert cells(extract.frame) == [[str(i) if i % 3 else None, day[i].isoformat(), "true" if i % 2 == 0 else "false"] for i in range(9)]
    assert extract.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    reading = ExtractRead(path, ReadLimits(block_records=4))
    assert [b.records for b in reading.blocks()] == [4, 4, 1] and reading.records == 9


def test_parquet_problems_in_later_batches_name_the_files_records_and_each_column_once(tmp_path, small_batches):
    table = pa.table(
        {
            "blob": pa.array([b"ok"] * 6 + [b"\xff", b"ok", b"\xfe"], pa.binary()),
            "nested": pa.array([[i] for i in range(9)]),
            "note": ["x"] * 8 + ["bell\x07"],
        }
    )
    path = tmp_path / "bad.parquet"
    pq.write_table(table, path, row_group_size=3)
    found = sorted((p.reason, p.record or 0, p.column) for p in refused(path).context["problems"])
    assert found == [("EXTRACT_ENCODING", 7, "blob"), ("EXTRACT_ENCODING", 9, "blob"), ("EXTRACT_UNSUPPORTED_TYPE", 0, "nested")]
    pq.write_table(table.select(["note"]), path, row_group_size=3)  # the cell checks count once nothing else is wrong
    problem = only_problem(refused(path))
    assert (problem.reason, problem.record, problem.column) == ("EXTRACT_CONTROL_CHAR", 9, "note")


def test_parquet_is_handed_out_before_it_is_all_decoded(tmp_path, small_batches, monkeypatch):
    path = tmp_path / "long.parquet"
    pq.write_table(pa.table({"a": [str(i) for i in range(40)]}), path, row_group_size=8)
    decoded = []
    batches = parquet_reader._batches

    def counted(*args):
        for batch in batches(*args):
            decoded.append(batch.num_rows)
            yield batch

    monkeypatch.setattr(parquet_reader, "_batches", counted)
    reading = ExtractRead(path, ReadLimits(block_records=4))
    blocks = reading.blocks()
    assert next(blocks).records == 4 and sum(decoded) <= 6  # the first block, and no more than a batch past it
    assert sum(b.records for b in blocks) == 36 and sum(decoded) == 40
    assert reading.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_parquet_file_that_changes_while_it_is_read_is_refused(tmp_path, small_batches):
    path = tmp_path / "moving.parquet"
    pq.write_table(pa.table({"a": [str(i) for i in range(10)]}), path, row_group_size=2)
    blocks = ExtractRead(path, ReadLimits(block_records=2)).blocks()
    next(blocks)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    with pytest.raises(ExtractError) as caught:
        list(blocks)
    assert only_problem(caught.value).reason == "FILE_UNREADABLE"


def test_not_a_parquet_file(tmp_path):
    problem = only_problem(refused(write(tmp_path, "x.parquet", b"a,b\n1,2\n")))
    assert problem.reason == "EXTRACT_UNREADABLE"


# --- Excel ------------------------------------------------------------------------------------


def write_xlsx(path, rows):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    workbook.save(path)


def test_xlsx_round_trip_as_strings(tmp_path):
    path = tmp_path / "extract.xlsx"
    write_xlsx(
        path,
        [
            ["client_id", "opened", "seen_at", "visits", "score", "consent", "note"],
            ["C1", dt.date(2026, 7, 1), dt.datetime(2026, 7, 1, 9, 30), 3, 2.5, True, "hi"],
            [None, None, None, None, None, None, None],  # blank row: skipped
            ["C2", dt.datetime(2026, 7, 2), None, 4.0, 0.1, False, ""],
        ],
    )
    extract = read_extract(path)
    assert extract.source_format == "xlsx"
    assert extract.records == 2
    assert list(extract.frame.columns) == [
        "client_id", "opened", "seen_at", "visits", "score", "consent", "note"
    ]
    assert all(dtype == STRING for dtype in extract.frame.dtypes)
    assert cells(extract.frame) == [
        ["C1", "2026-07-01", "2026-07-01T09:30:00", "3", "2.5", "true", "hi"],
        ["C2", "2026-07-02", None, "4", "0.1", "false", None],
    ]
    assert extract.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_xlsx_header_problems_name_the_sheet_row(tmp_path):
    path = tmp_path / "bad.xlsx"
    write_xlsx(path, [["id", "ID", None], ["1", "2", "orphan"]])
    error = refused(path)
    found = {(p.reason, p.line, p.column) for p in error.context["problems"]}
    assert found == {("EXTRACT_DUPLICATE_HEADER", 1, "ID"), ("EXTRACT_EMPTY_HEADER", 1, None)}


def test_xlsx_header_problems_refuse_a_sheet_no_wider_than_its_header(tmp_path):
    path = tmp_path / "dup.xlsx"
    write_xlsx(path, [["id", "ID"], ["1", "2"], ["3", "4"]])
    problem = only_problem(refused(path))
    assert (problem.reason, problem.line, problem.column) == ("EXTRACT_DUPLICATE_HEADER", 1, "ID")


def test_xlsx_field_too_long_names_the_sheet_row(tmp_path):
    path = tmp_path / "long.xlsx"
    write_xlsx(path, [["id", "note"], ["1", "ok"], [None, None], ["2", "x" * 30]])
    problem = only_problem(refused(path, limits=ReadLimits(max_field_chars=20)))
    assert (problem.reason, problem.line, problem.record, problem.column) == (
        "EXTRACT_FIELD_TOO_LONG",
        4,
        2,
        "note",
    )


def test_empty_xlsx(tmp_path):
    path = tmp_path / "empty.xlsx"
    write_xlsx(path, [])
    assert only_problem(refused(path)).reason == "EXTRACT_EMPTY"


def test_xlsx_that_unpacks_beyond_the_cap_is_refused(tmp_path):
    path = tmp_path / "bomb.xlsx"
    write_xlsx(path, [["id"]] + [["same text"] for _ in range(5000)])
    size = path.stat().st_size
    problem = only_problem(refused(path, limits=ReadLimits(max_bytes=size + 1)))
    assert problem.reason == "FILE_TOO_LARGE"


def test_xlsx_is_read_a_table_at_a_time_with_the_sheets_numbers(tmp_path, monkeypatch):
    monkeypatch.setattr(xlsx_reader, "_BATCH_ROWS", 2)
    rows = [[f"C{i}", i] for i in range(9)]
    path = tmp_path / "rows.xlsx"
    write_xlsx(path, [["name", "note"], *rows[:4], [None, None], *rows[4:]])  # a blank sheet row after record 4
    read = []
    sheet_rows = xlsx_reader._xlsx_rows
    monkeypatch.setattr(xlsx_reader, "_xlsx_rows", lambda *a: (read.append(r[0]) or r for r in sheet_rows(*a)))
    reading = ExtractRead(path, ReadLimits(block_records=4))
    blocks = reading.blocks()
    first = next(blocks)
    assert first.table.column(0).to_pylist() == ["C0", "C1", "C2", "C3"] and len(read) <= 7  # not the whole sheet
    assert [b.records for b in blocks] == [4, 1] and reading.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert cells(read_extract(path).frame) == [[f"C{i}", str(i)] for i in range(9)]
    write_xlsx(path, [["name", "note"], *rows[:4], [None, None], *rows[4:7], ["C7", "x" * 30], ["C8", 8, "beyond"]])
    found = sorted((p.reason, p.line, p.record or 0, p.column or "") for p in refused(path, limits=ReadLimits(max_field_chars=20)).context["problems"])
    assert found == [("EXTRACT_EMPTY_HEADER", 1, 0, ""), ("EXTRACT_FIELD_TOO_LONG", 10, 8, "note")]  # sheet row 10 is record 8


# --- any format --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["extract.txt", "extract.xls", "extract.csv.gz", "extract"])
def test_unsupported_extension(tmp_path, name):
    assert only_problem(refused(write(tmp_path, name, b"a\n1\n"))).reason == "FORMAT_UNSUPPORTED"


def test_missing_file(tmp_path):
    problem = only_problem(refused(tmp_path / "nowhere.csv"))
    assert (problem.reason, problem.file) == ("FILE_NOT_FOUND", "nowhere.csv")


def test_a_directory_is_not_an_extract(tmp_path):
    (tmp_path / "folder.csv").mkdir()
    assert only_problem(refused(tmp_path / "folder.csv")).reason == "FILE_UNREADABLE"


def test_problems_name_the_file_not_its_path(tmp_path):
    problem = only_problem(refused(write(tmp_path, "r.csv", b"a,b\n1\n")))
    assert problem.file == "r.csv"
    assert str(tmp_path) not in problem.describe()


def test_a_csv_that_changes_while_being_read_is_refused(tmp_path, monkeypatch):
    path = write(tmp_path, "moving.csv", b"a,b\n1,2\n")
    parse = csv_fast._arrow_csv

    def parse_while_the_export_is_still_being_written(*args, **kwargs):
        table = parse(*args, **kwargs)
        with open(path, "ab") as handle:
            handle.write(b"3,4\n")
        return table

    monkeypatch.setattr(csv_fast, "_arrow_csv", parse_while_the_export_is_still_being_written)
    assert only_problem(refused(path)).reason == "FILE_UNREADABLE"


@pytest.mark.parametrize("where", [None, 0, csv_fast._SCAN_CHUNK - 1, csv_fast._SCAN_CHUNK, 3 * csv_fast._SCAN_CHUNK + 6])
def test_a_quote_anywhere_in_the_file_sends_it_to_the_quote_aware_reader(tmp_path, where):
    data = bytearray(b"a,b\n" + b"x,y\n" * (csv_fast._SCAN_CHUNK - 1))
    if where is not None:
        data[where] = ord('"')
    path = tmp_path / "q.csv"
    path.write_bytes(bytes(data))
    with open(path, "rb") as handle:
        handle.read(3)  # wherever the handle stands
        assert csv_fast._has_quote(handle) is (where is not None)


@pytest.mark.parametrize("window", [1 << 16, 3])
def test_line_ranges_end_at_line_ends_and_never_map_the_file(tmp_path, monkeypatch, window):
    """A quote-free file is cut into ranges that each end where a line ends (found by reading a
    window past the range: 3 bytes makes the search cross windows), and nothing maps the file
    while it is read: pages of a map count in the process's memory until it closes, so a search
    of a map grew the peak with the file (100 MiB of a 1 GB extract by the end of its reading)."""
    rows = [f"{i},{'x' * (i % 17)},{i * 7}\n" for i in range(20_000)]
    path = write(tmp_path, "ranges.csv", ("a,b,c\n" + "".join(rows)).encode())
    monkeypatch.setattr(csv_fast, "_BLOCK", 4096)
    monkeypatch.setattr(csv_fast, "_PIECE_BLOCKS", 2)
    monkeypatch.setattr(csv_fast, "_SEARCH_WINDOW", window)
    mapped, ranges, parse = [], [], csv_fast._arrow_csv

    def parse_and_look(source, size, *args, **kwargs):
        ranges.append(size)
        mapped.append(str(path) in Path("/proc/self/maps").read_text())
        return parse(source, size, *args, **kwargs)

    monkeypatch.setattr(csv_fast, "_arrow_csv", parse_and_look)
    table = read_extract(path, known_columns=KNOWN).table
    assert len(ranges) > 20 and not any(mapped)
    assert table.num_rows == 20_000
    assert table.column(0).to_pylist() == [str(i) for i in range(20_000)]
    assert table.column(2).to_pylist()[-1] == str(19_999 * 7)


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_the_header_is_read_from_the_first_block_alone(tmp_path, suffix, small_batches):
    rows = [["1", "x"], ["2", "y"], ["3", "z"], ["4", "bell\x07"]]  # the last record's problem lies past the first block
    path = tmp_path / f"late.{suffix}"
    if suffix == "csv":
        path.write_text("a,note\n" + "".join(",".join(r) + "\n" for r in rows), encoding="utf-8")
    else:
        pq.write_table(pa.table({"a": [r[0] for r in rows], "note": [r[1] for r in rows]}), path)
    limits = ReadLimits(block_records=2)
    assert read_header(path, limits=limits) == ["a", "note"]
    assert only_problem(refused(path, limits=limits)).reason.endswith("_CONTROL_CHAR")  # the whole file is still refused
    assert only_problem(refused(write(tmp_path, "x.parquet", b"a,b\n"), limits=limits)).reason == "EXTRACT_UNREADABLE"
    with pytest.raises(ExtractError):
        read_header(tmp_path / "x.parquet", limits=limits)


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_a_block_holds_at_most_block_bytes_unless_one_record_is_larger(tmp_path, suffix, small_batches):
    notes = ["n" * (10 + 97 * (i % 7)) for i in range(300)]  # records of 10 to 600 characters
    ids = [str(i) for i in range(300)]
    path = tmp_path / f"wide.{suffix}"
    if suffix == "csv":
        path.write_text("id,notes\n" + "".join(f"{i},{n}\n" for i, n in zip(ids, notes)), encoding="utf-8")
    else:
        pq.write_table(pa.table({"id": ids, "notes": notes}), path, row_group_size=7)
    for block_bytes, most in ((8_192, 8_192 * 2), (1, None)):  # cut by the held records' average size
        blocks = list(ExtractRead(path, ReadLimits(block_records=1_000, block_bytes=block_bytes)).blocks())
        assert [r for b in blocks for r in b.table.column(0).to_pylist()] == ids  # every record once, in order
        assert [b.first_record for b in blocks] == [sum(b.records for b in blocks[:i]) for i in range(len(blocks))]
        if most is None:
            assert {b.records for b in blocks} == {1}
        else:
            assert len(blocks) > 10 and all(b.table.nbytes <= most for b in blocks)
    assert len(list(ExtractRead(path, ReadLimits(block_records=1_000)).blocks())) == 1  # the default: 300 records in one block


def test_the_exact_path_hands_out_records_as_it_reads_them(tmp_path, monkeypatch):
    """A file the fast path doubts (a bare CR inside a quoted value sends it to Python's csv
    module) is read a table at a time there too, never whole; a problem late in the file still
    refuses it all."""
    monkeypatch.setattr(csv_exact, "_BATCH_ROWS", 2)
    built = []
    to_batch = csv_exact._to_batch
    monkeypatch.setattr(csv_exact, "_to_batch", lambda cells, ncols: built.append(len(cells) // ncols) or to_batch(cells, ncols))
    rows = [f'{i},"line\ronly {i}"\n' for i in range(20)]
    path = write(tmp_path, "cr.csv", ("id,note\n" + "".join(rows)).encode())
    blocks = ExtractRead(path, ReadLimits(block_records=2)).blocks()
    assert next(blocks).table.column(1).to_pylist() == ["line\ronly 0", "line\ronly 1"]
    assert sum(built) <= 4  # the first block, and no more than a table past it
    assert sum(b.records for b in blocks) == 18 and sum(built) == 20  # read by the exact path
    late = write(tmp_path, "late.csv", ("id,note\n" + "".join(rows) + '20,"bell\x07"\n').encode())
    assert only_problem(refused(late, limits=ReadLimits(block_records=2))).reason == "CSV_CONTROL_CHAR"
