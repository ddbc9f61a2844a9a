"""Hostile and unlucky extracts: no value ever leaves through an error or a log, and the fast
(pyarrow) and exact (csv module) paths never disagree about what a file holds."""

from __future__ import annotations

import csv
import io
import json
import logging
import random
import traceback

import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dvnet.pipelines.contributor.read import csv_fast
from dvnet.contracts.errors import ExtractError
from dvnet.pipelines.contributor.read import RESTART, ExtractRead, ReadLimits, read_extract

MARK = "CANARY-7f3a"


def canary(n: int) -> str:
    return f"{MARK}-{n:02d}"


def csv_bytes(text: str) -> bytes:
    return text.encode()


def parquet_file(path, table: pa.Table):
    pq.write_table(table, path)
    return path


def xlsx_file(path, rows):
    workbook = openpyxl.Workbook()
    for row in rows:
        workbook.active.append(row)
    workbook.save(path)
    return path


# Each case: a file whose offending cells (and neighbours) hold canary markers, the limits to
# read it with, and the reason codes it must produce. Header names are allowed in messages, so
# markers go in cells only.
def cases(tmp_path):
    c = canary
    wide_header = ",".join(f"h{i}" for i in range(8))
    yield "ragged_short", tmp_path / "short.csv", csv_bytes(
        f"a,b,c\n{c(1)},{c(2)},{c(3)}\n{c(4)},{c(5)}\n"
    ), ReadLimits(), {"CSV_RAGGED"}
    yield "ragged_long", tmp_path / "long.csv", csv_bytes(
        f"a,b\n{c(1)},{c(2)}\n{c(3)},{c(4)},{c(5)}\n"
    ), ReadLimits(), {"CSV_RAGGED"}
    yield "quote_last_column", tmp_path / "q1.csv", csv_bytes(
        f'a,b\n{c(1)},{c(2)}\n{c(3)},"{c(4)}\n{c(5)},{c(6)}\n'
    ), ReadLimits(), {"CSV_UNTERMINATED_QUOTE"}
    yield "quote_middle_column", tmp_path / "q2.csv", csv_bytes(
        f'a,b,c\n{c(1)},"{c(2)},{c(3)}\n{c(4)},{c(5)},{c(6)}\n'
    ), ReadLimits(), {"CSV_UNTERMINATED_QUOTE"}
    yield "encoding", tmp_path / "enc.csv", csv_bytes(f"a,b\n{c(1)},") + b"\xff" + csv_bytes(
        f"{c(2)}\n"
    ), ReadLimits(), {"CSV_ENCODING"}
    yield "control", tmp_path / "ctrl.csv", csv_bytes(f"a,b\n{c(1)},{c(2)}\x00{c(3)}\n"), ReadLimits(), {
        "CSV_CONTROL_CHAR"
    }
    yield "duplicate_header", tmp_path / "dup.csv", csv_bytes(
        f"a,A\n{c(1)},{c(2)}\n"
    ), ReadLimits(), {"CSV_DUPLICATE_HEADER"}
    yield "empty_header", tmp_path / "eh.csv", csv_bytes(f"a,\n{c(1)},{c(2)}\n"), ReadLimits(), {
        "CSV_EMPTY_HEADER"
    }
    yield "field_too_long", tmp_path / "ftl.csv", csv_bytes(
        f"a,b\n{c(1)},{c(2) * 3}\n"
    ), ReadLimits(max_field_chars=20), {"CSV_FIELD_TOO_LONG"}
    yield "too_many_columns", tmp_path / "wide.csv", csv_bytes(
        f"{wide_header}\n" + ",".join(c(i) for i in range(8)) + "\n"
    ), ReadLimits(max_columns=5), {"TOO_MANY_COLUMNS"}
    yield "too_large", tmp_path / "big.csv", csv_bytes(f"a\n{c(1)}\n" * 10), ReadLimits(
        max_bytes=20
    ), {"FILE_TOO_LARGE"}
    yield "zip_as_csv", tmp_path / "zip.csv", b"PK\x03\x04" + csv_bytes(c(1)), ReadLimits(), {
        "CSV_ENCODING"
    }
    yield "everything_at_once", tmp_path / "all.csv", csv_bytes(
        f"a,a\n{c(1)}\n{c(2)},{c(3)}\x07\n{c(4)},{c(5)},{c(6)}\n{c(7)},"
    ) + b"\xfe" + csv_bytes(f'{c(8)}\n{c(9)},"{c(10)}\n'), ReadLimits(), {
        "CSV_DUPLICATE_HEADER",
        "CSV_RAGGED",
        "CSV_CONTROL_CHAR",
        "CSV_ENCODING",
        "CSV_UNTERMINATED_QUOTE",
    }


def parquet_and_xlsx_cases(tmp_path):
    c = canary
    yield "parquet_encoding", parquet_file(
        tmp_path / "enc.parquet",
        pa.table({"a": [c(1), c(2)], "b": pa.array([c(3).encode() + b"\xff", b"ok"], pa.binary())}),
    ), ReadLimits(), {"EXTRACT_ENCODING"}
    yield "parquet_control", parquet_file(
        tmp_path / "ctrl.parquet", pa.table({"a": [c(1), c(2) + "\x01" + c(3)]})
    ), ReadLimits(), {"EXTRACT_CONTROL_CHAR"}
    yield "parquet_nested", parquet_file(
        tmp_path / "nested.parquet", pa.table({"a": pa.array([[c(1)], [c(2)]])})
    ), ReadLimits(), {"EXTRACT_UNSUPPORTED_TYPE"}
    yield "parquet_too_long", parquet_file(
        tmp_path / "long.parquet", pa.table({"a": [c(1) * 5]})
    ), ReadLimits(max_field_chars=20), {"EXTRACT_FIELD_TOO_LONG"}
    yield "xlsx_headers", xlsx_file(
        tmp_path / "h.xlsx", [["a", "A", None], [c(1), c(2), c(3)]]
    ), ReadLimits(), {"EXTRACT_DUPLICATE_HEADER", "EXTRACT_EMPTY_HEADER"}
    for name in ("junk.parquet", "junk.xlsx"):
        path = tmp_path / name
        path.write_bytes(f"{c(1)},{c(2)}\n".encode() * 20)
        yield f"unreadable_{name}", path, ReadLimits(), {"EXTRACT_UNREADABLE"}
    path = tmp_path / "extract.tsv"
    path.write_bytes(f"a\t{c(1)}\n".encode())
    yield "unsupported", path, ReadLimits(), {"FORMAT_UNSUPPORTED"}
    yield "xlsx_too_long", xlsx_file(
        tmp_path / "l.xlsx", [["a"], [c(1) * 5]]
    ), ReadLimits(max_field_chars=20), {"EXTRACT_FIELD_TOO_LONG"}


def all_cases(tmp_path):
    for name, path, data, limits, reasons in cases(tmp_path):
        path.write_bytes(data)
        yield name, path, limits, reasons
    yield from parquet_and_xlsx_cases(tmp_path)


def everything_said_about(error: ExtractError) -> str:
    """Every way the error can be shown, logged, serialised or walked."""
    parts = [
        str(error),
        repr(error),
        error.message,
        error.hint or "",
        json.dumps(error.to_dict(), default=lambda o: o.to_dict()),
        "".join(traceback.format_exception(error)),
        repr(error.args),
    ]
    for problem in error.context["problems"]:
        parts += [repr(problem), problem.describe(), problem.detail, str(problem.column)]
    return "\n".join(parts)


def test_no_canary_escapes_through_any_error_or_log(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    seen_reasons = set()
    for name, path, limits, reasons in all_cases(tmp_path):
        with pytest.raises(ExtractError) as caught:
            read_extract(path, limits=limits)
        error = caught.value
        found = {p.reason for p in error.context["problems"]}
        assert found == reasons, name
        seen_reasons |= found
        said = everything_said_about(error)
        assert MARK not in said, name
        # Not even a chained pyarrow/codec exception holding a row.
        assert error.__cause__ is None and error.__context__ is None, name
    assert MARK not in caplog.text
    assert seen_reasons == {
        "CSV_RAGGED", "CSV_UNTERMINATED_QUOTE", "CSV_ENCODING", "CSV_CONTROL_CHAR",
        "CSV_DUPLICATE_HEADER", "CSV_EMPTY_HEADER", "CSV_FIELD_TOO_LONG", "TOO_MANY_COLUMNS",
        "FILE_TOO_LARGE", "FORMAT_UNSUPPORTED", "EXTRACT_UNREADABLE", "EXTRACT_ENCODING",
        "EXTRACT_CONTROL_CHAR", "EXTRACT_UNSUPPORTED_TYPE", "EXTRACT_FIELD_TOO_LONG",
        "EXTRACT_DUPLICATE_HEADER", "EXTRACT_EMPTY_HEADER",
    }


def test_no_canary_in_the_logs_of_a_clean_read(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    path = tmp_path / "clean.csv"
    # A bare CR inside a cell makes the fast path hand over to the exact path.
    path.write_bytes(csv_bytes(f'a,b\r\n{canary(1)},"{canary(2)}\r{canary(3)}"\r\n1,""'))
    extract = read_extract(path)
    assert extract.records == 2
    assert extract.frame["b"].iloc[0] == f"{canary(2)}\r{canary(3)}"
    assert "exact" in caplog.text  # the hand-over was logged ...
    assert MARK not in caplog.text  # ... without a value


# --- fast path == exact path == Python's csv --------------------------------------------------

VALUES = ["", "a", "b,c", 'x"y', "l1\nl2", "q\r\nz", " ", '""', "é ü", "日本", "p\r\n\r\nq", '"', "end\r\n"]


def random_csv(rng: random.Random) -> bytes:
    ncol = rng.randint(1, 5)
    rows = [[rng.choice(VALUES) for _ in range(ncol)] for _ in range(rng.randint(0, 120))]
    if ncol == 1:
        rows = [r for r in rows if r[0] != ""]  # a lone empty field is a blank line
    out = io.StringIO()
    writer = csv.writer(
        out,
        lineterminator=rng.choice(["\n", "\r\n"]),
        quoting=rng.choice([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
    )
    writer.writerow([f"h{i}" for i in range(ncol)])
    writer.writerows(rows)
    data = out.getvalue().encode()
    if rng.random() < 0.3:
        data = b"\xef\xbb\xbf" + data
    if rng.random() < 0.3:
        data = data.rstrip(b"\r\n")
    return data


def oracle(data: bytes) -> tuple[list[str], list[list[str | None]]]:
    rows = [r for r in csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")) if r]
    return rows[0], [[v if v != "" else None for v in r] for r in rows[1:]]


@pytest.mark.parametrize("tries", [8, 0])
def test_fast_and_exact_paths_match_pythons_csv_at_every_block_boundary(tmp_path, monkeypatch, tries):
    """Tiny pyarrow blocks put boundaries inside quotes, escapes and CRLFs; with ``tries=0``
    no block size avoids a CRLF, so pyarrow's damage must be caught and repaired."""
    rng = random.Random(20261125 + tries)
    monkeypatch.setattr(csv_fast, "_BLOCK_TRIES", tries)
    path = tmp_path / "fuzz.csv"
    for _ in range(300):
        monkeypatch.setattr(csv_fast, "_BLOCK", rng.choice([16, 64, 256, 1024, 4096]))
        data = random_csv(rng)
        path.write_bytes(data)
        header, rows = oracle(data)
        extract = read_extract(path, limits=ReadLimits(block_records=rng.choice([1, 2, 5, 10**6])))  # blocks joined
        frame = extract.frame.astype(object).where(extract.frame.notna(), None)
        assert list(extract.frame.columns) == header, data
        assert frame.values.tolist() == rows, data
        assert extract.records == len(rows)


def test_a_whole_file_doubt_after_blocks_were_handed_out_starts_the_reading_again(tmp_path, monkeypatch):
    """The blocks handed out before the doubt are void (RESTART); the exact path's follow, the same."""
    path = tmp_path / "late.csv"
    path.write_bytes(b"id,note\n" + b"".join(b"%d,n%d\n" % (i, i) for i in range(20)))
    fast = read_extract(path)
    monkeypatch.setattr(csv_fast, "_final_suspicion", lambda *args: "forced")
    items = list(ExtractRead(path, ReadLimits(block_records=3)).blocks())
    restart = items.index(RESTART)
    assert restart == 20 // 3 and RESTART not in items[restart + 1:]  # the full blocks; the last, short one was still held
    again = items[restart + 1:]
    assert [b.first_record for b in again] == list(range(0, 20, 3))
    assert pa.concat_tables([b.table for b in again]).equals(fast.table)
    assert read_extract(path, limits=ReadLimits(block_records=3)).table.equals(fast.table)


def test_exact_path_gives_the_same_frame_as_the_fast_path(tmp_path, monkeypatch):
    rng = random.Random(7)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["id", "note", "place"])
    writer.writerows([[str(i), rng.choice(VALUES), rng.choice(VALUES)] for i in range(3000)])
    path = tmp_path / "same.csv"
    path.write_bytes(b"\xef\xbb\xbf" + out.getvalue().encode())
    fast = read_extract(path)
    monkeypatch.setattr(csv_fast, "_suspicion", lambda *args: "forced")
    exact = read_extract(path)
    pd.testing.assert_frame_equal(fast.frame, exact.frame)
    assert (fast.sha256, fast.records) == (exact.sha256, exact.records)


# --- hostile shapes ---------------------------------------------------------------------------


def test_a_header_wider_than_the_limit_is_refused_before_pyarrow_parses(tmp_path, monkeypatch):
    def must_not_parse(*args, **kwargs):
        raise AssertionError("pyarrow was asked to parse a file with too many columns")

    monkeypatch.setattr(csv_fast.pacsv, "read_csv", must_not_parse)
    path = tmp_path / "wide.csv"
    path.write_bytes(",".join(f"c{i}" for i in range(2000)).encode() + b"\n")
    with pytest.raises(ExtractError) as caught:
        read_extract(path, limits=ReadLimits(max_columns=500))
    assert caught.value.reason == "TOO_MANY_COLUMNS"


def test_an_unterminated_quote_that_swallows_a_crlf_file_is_still_caught(tmp_path):
    data = b'a,b\r\n1,2\r\n3,"x""y\r\n4,5\r\n""\r\n'
    path = tmp_path / "q.csv"
    path.write_bytes(data)
    with pytest.raises(ExtractError) as caught:
        read_extract(path)
    problem = caught.value.context["problems"][0]
    assert (problem.reason, problem.line, problem.record) == ("CSV_UNTERMINATED_QUOTE", 3, 2)


@pytest.mark.parametrize("where", ["header", "record"])
def test_a_quote_left_open_before_more_than_csvs_own_field_limit_is_reported(tmp_path, where):
    """``csv`` stops at a field of more than 131,072 characters unless its process-wide limit is
    raised; the swallowed field must still be read to the end and reported."""
    swallowed = "x" * (csv.field_size_limit() + 10)
    data = f'a,"b\n1,{swallowed}\n' if where == "header" else f'a,b\n1,2\n3,"{swallowed}\n4,5\n'
    path = tmp_path / "open.csv"
    path.write_text(data, encoding="utf-8")
    with pytest.raises(ExtractError) as caught:
        read_extract(path, limits=ReadLimits(max_field_chars=10 * len(data)))
    problem = caught.value.context["problems"][0]
    assert caught.value.reason == "CSV_UNTERMINATED_QUOTE"
    assert (problem.line, problem.record) == ((1, None) if where == "header" else (3, 2))


def test_a_field_longer_than_csvs_own_limit_is_reported_with_its_length(tmp_path):
    length = csv.field_size_limit() + 10
    path = tmp_path / "long.csv"
    path.write_text(f'a,b\n1,"{"y" * length}"\n', encoding="utf-8")
    with pytest.raises(ExtractError) as caught:
        read_extract(path, limits=ReadLimits(max_field_chars=100), known_columns=frozenset({"a", "b"}))
    problem = caught.value.context["problems"][0]
    assert (problem.reason, problem.record, problem.column, problem.position) == ("CSV_FIELD_TOO_LONG", 1, "b", 2)
    assert f"field 2 has {length} characters" in problem.detail


def test_reading_never_sets_the_process_wide_csv_field_limit(tmp_path, monkeypatch):
    """Another thread's csv reader must never see its limit change, even for a moment."""
    set_to = []
    get = csv.field_size_limit
    monkeypatch.setattr(csv, "field_size_limit", lambda *new: set_to.append(new) if new else get())
    path = tmp_path / "r.csv"
    path.write_bytes(b'a,b\n1\n2,"' + b"z" * 200_000 + b'"\n')
    with pytest.raises(ExtractError):
        read_extract(path)
    assert set_to == []


def test_a_broken_export_does_not_leave_csv_field_limit_changed(tmp_path):
    before = csv.field_size_limit()
    path = tmp_path / "r.csv"
    path.write_bytes(b"a,b\n1\n")
    with pytest.raises(ExtractError):
        read_extract(path)
    assert csv.field_size_limit() == before
