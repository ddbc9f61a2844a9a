"""A corpus of bad extracts (issue 13, suite 1): files a steward could export by mistake, or an
attacker could hand one, each cell carrying a unique marker that must never leave.

``write_corpus(folder, header, rows)`` writes one file per ``Case`` from a valid synthetic extract
(``header`` and its ``rows``, dicts of text) and returns the cases. Every identifying cell of every
row (name, client and episode numbers) holds a marker, and every cell a case spoils holds one too,
so a value that escapes is found by ``FIND`` (UTF-8 and UTF-16-LE, either end of a marker).

A case knows how many data records it holds when that number is unambiguous (``rows``), for the
suite to check that a file that was read is accounted for in full. ``large=True`` adds the
expensive variants (``DVNET_ADVERSARIAL_FULL=1``, the flag of every suite's larger variant).
"""

from __future__ import annotations

import csv
import io
import os
import random
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

HEAD, TAIL = "QVXJ", "JXVQ"  # a marker is HEAD + number + TAIL: a cut marker still shows one end
FIND = [re.compile(p.encode(enc), re.IGNORECASE) for p in (HEAD, TAIL) for enc in ("utf-8", "utf-16-le")]


#: An Ed25519 signature as the audit log, its head and receipts write it (64 random bytes, 88
#: characters of base64). Its text holds a marker's end by chance about once in 6,000 signatures
#: (4 given letters in either case among 64 symbols, at 85 places, for 2 ends), and every case's
#: audit log and its head hold some (a run on 2026-12-07 failed on one). A signature carries no
#: extract value, so it is blanked first.
SIGNATURE = re.compile(rb'"ed25519":\s*"[A-Za-z0-9+/]{86}=="')


def found(data: bytes | str) -> bool:
    """Whether ``data`` holds any part-marker, in UTF-8 or UTF-16-LE (signatures set aside)."""
    data = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    data = SIGNATURE.sub(b'"ed25519": ""', data)
    return any(p.search(data) for p in FIND)


class Markers:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return f"{HEAD}{self.n:05d}{TAIL}"


@dataclass
class Case:
    name: str  # also the file's stem
    suffix: str
    rows: int | None  # data records in the file, when unambiguous
    write: Callable[[Path], None] = field(repr=False)


IDENTIFYING = ("client_name", "client_id", "episode_id")


def _csv(header: list[str], rows: list[list[str]], *, delimiter: str = ",", newline: str = "\n", quoting: int = csv.QUOTE_MINIMAL) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator=newline, quoting=quoting)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def write_corpus(folder: Path, header: list[str], rows: list[dict], *, large: bool = False) -> list[Case]:
    folder.mkdir(parents=True, exist_ok=True)
    m = Markers()
    base = []
    for row in rows:
        row = dict(row)
        row["client_name"] = f"{m()} {m()}"
        row["client_id"] = m()
        row["episode_id"] = m()
        base.append(row)
    n = len(base)

    def table(rs=None) -> list[list[str]]:
        return [[r[h] for h in header] for r in (rs or base)]

    def every_cell() -> list[list[str]]:
        return [[m() for _ in header] for _ in range(n)]

    def spoil(column: str, make: Callable[[str], str], count: int = 3) -> list[list[str]]:
        rs = [dict(r) for r in base]
        for r in rs[:count]:
            r[column] = make(m())
        return table(rs)

    cases: list[Case] = []

    def text(name: str, content: Callable[[], str], rows: int | None, *, encoding: str = "utf-8", suffix: str = ".csv") -> None:
        cases.append(Case(name, suffix, rows, lambda p: p.write_bytes(content().encode(encoding, "surrogateescape"))))

    def raw(name: str, content: Callable[[], bytes], rows: int | None, suffix: str = ".csv") -> None:
        cases.append(Case(name, suffix, rows, lambda p: p.write_bytes(content())))

    # --- valid shape: identifying cells marked, nothing else wrong
    text("valid", lambda: _csv(header, table()), n)
    text("valid_bom", lambda: "\ufeff" + _csv(header, table()), n)
    text("valid_crlf", lambda: _csv(header, table(), newline="\r\n"), n)
    text("valid_all_quoted", lambda: _csv(header, table(), quoting=csv.QUOTE_ALL), n)
    text("columns_reordered", lambda: _csv(header[::-1], [r[::-1] for r in table()]), n)
    # --- structure
    text("ragged_short", lambda: _csv(header, table()) + f"{m()},{m()}\n", n + 1)
    text("ragged_long", lambda: _csv(header, table()[:-1] + [table()[-1] + [m(), m()]]), n)
    text("ragged_every_row", lambda: _csv(header, [r[: i % len(r)] for i, r in enumerate(table())]), None)
    text("unterminated_quote", lambda: _csv(header, table()) + f'"{m()},{m()}\n{m()}', None)
    text("quote_inside_field", lambda: _csv(header, table()).replace(f",{base[0]['client_id']},", f',{m()}"{m()},', 1), n)
    text("quoted_newlines_in_names", lambda: _csv(header, spoil("client_name", lambda k: f"{k}\n{m()}\r\n\"{m()}\"")), n)
    text("cr_only_newlines", lambda: _csv(header, table(), newline="\r"), n)
    text("mixed_newlines", lambda: "".join(line + ("\r\n" if i % 2 else "\n") for i, line in enumerate(_csv(header, table()).splitlines())), n)
    text("semicolon_delimited", lambda: _csv(header, table(), delimiter=";"), None)
    text("tab_delimited", lambda: _csv(header, table(), delimiter="\t"), None)
    text("trailing_delimiter", lambda: "".join(line + ",\n" for line in _csv(header, table()).splitlines()), None)
    text("blank_lines_between", lambda: _csv(header, table()).replace("\n", "\n\n"), None)
    text("one_line_no_newline", lambda: ",".join(header) + "\n" + ",".join(m() for _ in range(20_000)), None)
    # --- encodings
    text("utf16le_bom", lambda: "\ufeff" + _csv(header, table()), None, encoding="utf-16-le")
    text("utf16be", lambda: _csv(header, table()), None, encoding="utf-16-be")
    text("utf16_bom", lambda: _csv(header, table()), None, encoding="utf-16")
    text("utf32", lambda: _csv(header, table()), None, encoding="utf-32")
    text("latin1", lambda: _csv(header, spoil("client_name", lambda k: f"{k} Zoé Ç")), None, encoding="latin-1")
    raw("mixed_encodings", lambda: _csv(header, table()[:5]).encode() + _csv(header, spoil("client_name", lambda k: f"{k} Zoé"))
        .split("\n", 1)[1].encode("latin-1") + "\n".join(",".join(r) for r in table()[5:8]).encode("utf-16-le"), None)
    raw("lone_surrogate_bytes", lambda: _csv(header, spoil("client_name", lambda k: f"{k}\udced\udca0\udc80{m()}")).encode("utf-8", "surrogateescape"), None)
    raw("overlong_utf8", lambda: _csv(header, spoil("client_name", lambda k: f"{k}\udcc0\udcaf{m()}")).encode("utf-8", "surrogateescape"), None)
    text("bom_in_the_middle", lambda: _csv(header, spoil("client_name", lambda k: f"\ufeff{k}")), n)
    text("bidi_and_zero_width", lambda: _csv(header, spoil("client_name", lambda k: f"\u202e{k}\u200d\u2066{m()}\u0301")), n)
    # --- control characters
    text("nul_in_cell", lambda: _csv(header, spoil("client_name", lambda k: f"{k}\x00{m()}")), None)
    text("nul_bytes_everywhere", lambda: _csv(header, table()).replace(",", ",\x00"), None)
    text("bell_and_escape", lambda: _csv(header, spoil("client_name", lambda k: f"\x1b[2J\x1b]0;{k}\x07{m()}")), None)
    text("del_and_c1", lambda: _csv(header, spoil("client_id", lambda k: f"{k}\x7f\x85{m()}")), None)
    text("form_feed_vertical_tab", lambda: _csv(header, spoil("client_name", lambda k: f"{k}\x0c\x0b{m()}")), None)
    # --- header problems
    text("empty_file", lambda: "", 0)
    text("only_bom", lambda: "\ufeff", 0)
    text("only_blank_lines", lambda: "\n\n\r\n\n", 0)
    text("header_only", lambda: ",".join(header) + "\n", 0)
    text("headless", lambda: "\n".join(",".join(r) for r in table()) + "\n", None)
    text("header_of_markers", lambda: _csv([m() for _ in header], table()), n)
    text("duplicate_header", lambda: _csv(header[:-1] + [header[0]], table()), n)
    text("empty_header_name", lambda: _csv(header[:3] + [""] + header[4:], table()), n)
    text("header_padded_and_cased", lambda: _csv([f"  {h.upper()} " for h in header], table()), n)
    text("header_with_control", lambda: _csv(header[:-1] + [f"{m()}\x07"], table()), None)
    text("quoted_header_with_newline", lambda: _csv(header[:-1] + [f"{header[-1]}\n{m()}"], table()), n)
    # --- sizes
    text("huge_field", lambda: _csv(header, spoil("client_name", lambda k: k * 2_000, count=1)), None)
    text("huge_width", lambda: _csv(header + [m() for _ in range(600)], [r + [m() for _ in range(600)] for r in table()[:3]]), None)
    text("wide_within_limit", lambda: _csv(header + [m() for _ in range(450)], [r + [m() for _ in range(450)] for r in table()[:3]]), 3)
    text("many_short_rows", lambda: ",".join(header) + "\n" + f"{m()}\n" * 5_000, None)
    # --- content
    formulas = [lambda k: f'=HYPERLINK("http://x/{k}")', lambda k: f"+{k}", lambda k: f"@SUM({k})", lambda k: f"-1+{k}", lambda k: f"\t={k}"]
    text("formula_cells", lambda: _csv(header, [[formulas[i % 5](m()) for i in range(len(header))] for _ in range(5)]), 5)
    text("every_cell_a_marker", lambda: _csv(header, every_cell()), n)
    text("wrong_types_booleans", lambda: _csv(header, spoil("risk_escalation", lambda k: f"1{k}", count=n)), n)
    dates = ["2026-02-30", "0000-00-00", "9999-12-31", "2026-13-01", "26-7-1", "2026-07-01T25:61", "", "2026-07-01\x00"]
    text("impossible_dates", lambda: _csv(header, spoil("episode_start", lambda k: dates[int(k[4:9]) % len(dates)], count=n)), n)
    text("birth_dates_spoilt", lambda: _csv(header, spoil("date_of_birth", lambda k: f"{k}-01-01", count=n)), n)
    text("future_birth_dates", lambda: _csv(header, spoil("date_of_birth", lambda k: "2999-01-01", count=n)), n)
    text("numeric_edges", lambda: _csv(header, [[["NaN", "inf", "-0", "1e309", "9" * 400, "0x1F", "-9223372036854775809"][i % 7] if h not in IDENTIFYING else m()
                                                  for i, h in enumerate(header)] for _ in range(7)]), 7)
    text("na_words", lambda: _csv(header, spoil("gender", lambda k: "NULL", count=n // 2)), n)
    codes = ("gender", "language", "service_type", "risk_level", "postal_code", "protection_order_status")
    text("identifiers_in_code_fields", lambda: _csv(header, [[m() if h in codes else v for h, v in zip(header, r)] for r in table()]), n)
    text("postal_code_lookalikes", lambda: _csv(header, spoil("postal_code", lambda k: f"{k[:3]} {k[-3:]}", count=n)), n)
    text("whitespace_padding", lambda: _csv(header, [[f"  {v}\t" for v in r] for r in table()]), n)
    text("duplicate_episode_ids", lambda: _csv(header, [r[:] for r in table()] + [table()[0]]), n + 1)
    # --- schema drift
    text("drift_missing_column", lambda: _csv(header[1:], [r[1:] for r in table()]), n)
    text("drift_renamed_column", lambda: _csv([h if h != "gender" else "sex" for h in header], table()), n)
    text("drift_extra_columns", lambda: _csv(header + ["Notes", m()], [r + [m(), m()] for r in table()]), n)
    text("drift_older_contract", lambda: _csv(header[:10], [r[:10] for r in table()]), n)
    # --- not CSV at all, or not what the name says
    rng = random.Random(13)
    raw("random_bytes", lambda: rng.randbytes(4096) + m().encode(), None)
    raw("zip_named_csv", lambda: _zip({"a.csv": _csv(header, table()).encode()}), None)
    raw("gzip_named_csv", lambda: __import__("gzip").compress(_csv(header, table()).encode()), None)
    raw("html_named_csv", lambda: f"<html><body><table><tr><td>{m()}</td></tr></table></body></html>".encode(), None)
    raw("random_bytes_parquet", lambda: rng.randbytes(4096) + m().encode(), None, suffix=".parquet")
    raw("csv_named_parquet", lambda: _csv(header, table()).encode(), None, suffix=".parquet")
    raw("random_bytes_xlsx", lambda: rng.randbytes(4096) + m().encode(), None, suffix=".xlsx")
    raw("csv_named_xlsx", lambda: _csv(header, table()).encode(), None, suffix=".xlsx")
    raw("plain_zip_xlsx", lambda: _zip({"notes.txt": m().encode()}), None, suffix=".xlsx")
    # --- Parquet
    cases += _parquet_cases(header, base, m, table)
    # --- Excel
    cases += _xlsx_cases(header, table, m, n)
    # --- special files
    valid = folder / "valid.csv"
    cases.append(Case("fifo", ".csv", None, lambda p: os.mkfifo(p)))
    cases.append(Case("directory", ".csv", None, lambda p: p.mkdir()))
    cases.append(Case("symlink_to_dev_zero", ".csv", None, lambda p: p.symlink_to("/dev/zero")))
    cases.append(Case("symlink_to_valid", ".csv", n, lambda p: p.symlink_to(valid)))
    cases.append(Case("dangling_symlink", ".csv", None, lambda p: p.symlink_to(folder / "nowhere.csv")))
    cases.append(Case("symlink_loop", ".csv", None, lambda p: p.symlink_to(p)))
    cases.append(Case("unsupported_suffix", ".txt", None, lambda p: p.write_text(_csv(header, table()))))
    cases.append(Case("upper_case_suffix", ".CSV", n, lambda p: p.write_text(_csv(header, table()))))
    if large:
        text("large_many_rows", lambda: _csv(header, table() * 2_000), n * 2_000)
        text("large_blank_lines", lambda: ",".join(header) + "\n" * 2_000_000, None)
        text("large_field_over_limit", lambda: _csv(header, spoil("client_name", lambda k: k * 200_000, count=1)), None)
        text("large_long_line", lambda: ",".join(header) + "\n" + m() * 5_000_000, None)
        raw("large_xlsx_bomb", lambda: _xlsx_bomb(header, m, rows=100_000), None, suffix=".xlsx")
    for case in cases:
        case_path = folder / f"{case.name}{case.suffix}"
        case.write(case_path)
    return cases


def _zip(files: dict[str, bytes], declared: dict[str, int] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    data = bytearray(buf.getvalue())
    for name, size in (declared or {}).items():  # forge the central directory's uncompressed size
        at = data.rfind(b"PK\x01\x02" + b"", 0)
        while at != -1:
            name_len = int.from_bytes(data[at + 28 : at + 30], "little")
            if data[at + 46 : at + 46 + name_len] == name.encode():
                data[at + 24 : at + 28] = size.to_bytes(4, "little")
            at = data.rfind(b"PK\x01\x02", 0, at)
    return bytes(data)


def _parquet_cases(header, base, m, table) -> list[Case]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = len(base)

    def pq_bytes(t: "pa.Table") -> bytes:
        sink = pa.BufferOutputStream()
        pq.write_table(t, sink)
        return sink.getvalue().to_pybytes()

    def strings(rows=None) -> "pa.Table":
        rows = rows or table()
        return pa.table({h: [r[i] for r in rows] for i, h in enumerate(header)})

    def case(name, make, rows):
        return Case(name, ".parquet", rows, lambda p: p.write_bytes(make()))

    def typed() -> "pa.Table":
        t = strings()
        t = t.set_column(header.index("date_of_birth"), "date_of_birth", pa.array([1e308, float("nan"), -0.0, float("inf")] * (n // 4) + [1.5] * (n % 4)))
        return t.set_column(header.index("risk_escalation"), "risk_escalation", pa.array([2**63 - 1, -(2**63)] * (n // 2) + [0] * (n % 2)))

    def nested() -> "pa.Table":
        t = strings()
        return t.append_column("nested", pa.array([{"a": m()} for _ in range(n)]))

    def binary() -> "pa.Table":
        t = strings()
        i = header.index("client_name")
        return t.set_column(i, "client_name", pa.array([m().encode() + b"\xff\xfe" for _ in range(n)], pa.binary()))

    def nul() -> "pa.Table":
        t = strings()
        i = header.index("client_name")
        return t.set_column(i, "client_name", pa.array([f"{m()}\x00{m()}" for _ in range(n)]))

    def duplicate() -> bytes:
        t = strings()
        return pq_bytes(pa.Table.from_arrays(t.columns, names=header[:-1] + [header[0]]))

    def timestamps() -> "pa.Table":
        import datetime as dt

        t = strings()
        i = header.index("episode_start")
        return t.set_column(i, "episode_start", pa.array([dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31, 23, 59)] * (n // 2) + [None] * (n % 2)))

    valid = lambda: pq_bytes(strings())  # noqa: E731
    return [
        case("parquet_valid", valid, n),
        case("parquet_truncated", lambda: valid()[: len(valid()) // 2], None),
        case("parquet_footer_only", lambda: valid()[-200:], None),
        case("parquet_typed_columns", lambda: pq_bytes(typed()), n),
        case("parquet_timestamps", lambda: pq_bytes(timestamps()), n),
        case("parquet_nested_column", lambda: pq_bytes(nested()), None),
        case("parquet_binary_not_utf8", lambda: pq_bytes(binary()), None),
        case("parquet_nul_in_strings", lambda: pq_bytes(nul()), None),
        case("parquet_duplicate_columns", duplicate, None),
        case("parquet_zero_rows", lambda: pq_bytes(strings().slice(0, 0)), 0),
        case("parquet_no_columns", lambda: pq_bytes(pa.table({})), 0),
        case("parquet_every_cell_a_marker", lambda: pq_bytes(strings([[m() for _ in header] for _ in range(n)])), n),
        case("parquet_huge_field", lambda: pq_bytes(strings([[m() * 2_000 if h == "client_name" else v for h, v in zip(header, r)] for r in table()[:3]])), None),
    ]


def _sheet(rows: list[list[str]], formulas: bool = False) -> bytes:
    def cell(v: str) -> str:
        if formulas and v.startswith("="):
            return f"<c t=\"str\"><f>{_xml(v[1:])}</f><v>{_xml(v)}</v></c>"
        return f"<c t=\"inlineStr\"><is><t>{_xml(v)}</t></is></c>"

    body = "".join(f"<row r=\"{i + 1}\">{''.join(cell(v) for v in r)}</row>" for i, r in enumerate(rows))
    return ('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            f"<sheetData>{body}</sheetData></worksheet>").encode()


def _xml(v: str) -> str:
    return v.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _workbook(sheet: bytes, extra: dict[str, bytes] | None = None, declared: dict[str, int] | None = None) -> bytes:
    files = {
        "[Content_Types].xml": b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        b'<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        b'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>',
        "_rels/.rels": b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": b'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        b'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
        "xl/worksheets/sheet1.xml": sheet,
    }
    return _zip(files | (extra or {}), declared)


def _xlsx_bomb(header, m, rows: int) -> bytes:
    row = "".join(f"<c t=\"inlineStr\"><is><t>{m()}</t></is></c>" for _ in header)
    body = "".join(f"<row>{row}</row>" for _ in range(rows))
    return _workbook(_sheet([header]).replace(b"</sheetData>", body.encode() + b"</sheetData>"))


def _xlsx_cases(header, table, m, n) -> list[Case]:
    def case(name, make, rows):
        return Case(name, ".xlsx", rows, lambda p: p.write_bytes(make()))

    laughs = ('<?xml version="1.0"?><!DOCTYPE w [<!ENTITY a "' + m() + '">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9)) + ']><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<sheetData><row r="1"><c t="inlineStr"><is><t>&j;</t></is></c></row></sheetData></worksheet>').encode()
    external = ('<?xml version="1.0"?><!DOCTYPE w [<!ENTITY x SYSTEM "file:///etc/hostname">]><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                f'<sheetData><row r="1"><c t="inlineStr"><is><t>&x;{m()}</t></is></c></row></sheetData></worksheet>').encode()
    formulas = [[f"=HYPERLINK(\"http://x/{m()}\")" if i % 2 else f"=CONCAT(\"{m()}\")" for i, _ in enumerate(header)] for _ in range(4)]
    big = _workbook(_sheet([header] + table()))
    return [
        case("xlsx_valid", lambda: big, n),
        case("xlsx_formulas", lambda: _workbook(_sheet([header] + formulas, formulas=True)), 4),
        case("xlsx_headless", lambda: _workbook(_sheet(table())), None),
        case("xlsx_empty_sheet", lambda: _workbook(_sheet([])), 0),
        case("xlsx_truncated", lambda: big[: len(big) // 2], None),
        case("xlsx_billion_laughs", lambda: _workbook(laughs), None),
        case("xlsx_external_entity", lambda: _workbook(external), None),
        case("xlsx_declared_huge", lambda: _workbook(_sheet([header] + table()), declared={"xl/worksheets/sheet1.xml": 0xFFFFFFFF}), None),
        case("xlsx_declared_tiny", lambda: _workbook(_sheet([header] + table()), declared={"xl/worksheets/sheet1.xml": 10}), None),
        case("xlsx_bomb_small", lambda: _xlsx_bomb(header, m, rows=3_000), None),
        case("xlsx_huge_width", lambda: _workbook(_sheet([header + [m() for _ in range(700)]] + [r + [m() for _ in range(700)] for r in table()[:2]])), None),
    ]
