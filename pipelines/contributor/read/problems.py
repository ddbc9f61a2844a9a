"""What can be wrong with an extract, as typed findings that name a place, never a value.

An extract is the file a data steward exported from the agency's case system. Each
``ExtractProblem`` says *where* something is wrong (file name, physical line, data record,
byte offset, column header) and *what kind* of wrong it is (a stable reason code). It never
carries a cell value, nor a fragment of one, because these messages reach terminals, logs and
reports outside the agency's case system, and a leaked value can put a survivor in danger.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import asdict, dataclass, replace

from dvnet.contracts.errors import ExtractError

# --- Reason codes (stable: tests, scripts and the steward's report rely on them) ------------
# CSV structure and content
CSV_EMPTY = "CSV_EMPTY"  # zero bytes, or no header row (only a BOM / blank lines)
CSV_ENCODING = "CSV_ENCODING"  # bytes that are not UTF-8
CSV_RAGGED = "CSV_RAGGED"  # a record with more or fewer fields than the header
CSV_UNTERMINATED_QUOTE = "CSV_UNTERMINATED_QUOTE"  # a quoted field still open at end of file
CSV_CONTROL_CHAR = "CSV_CONTROL_CHAR"  # NUL, other C0 controls except tab/CR/LF, or DEL
CSV_DUPLICATE_HEADER = "CSV_DUPLICATE_HEADER"  # two header names equal after trim + casefold
CSV_EMPTY_HEADER = "CSV_EMPTY_HEADER"  # a header name that is empty or only spaces
CSV_FIELD_TOO_LONG = "CSV_FIELD_TOO_LONG"  # a field longer than ReadLimits.max_field_chars
# Any format
FILE_NOT_FOUND = "FILE_NOT_FOUND"
FILE_UNREADABLE = "FILE_UNREADABLE"  # not a regular file, or the operating system refused
FILE_TOO_LARGE = "FILE_TOO_LARGE"  # over ReadLimits.max_bytes (Parquet/xlsx: also unpacked)
FORMAT_UNSUPPORTED = "FORMAT_UNSUPPORTED"  # extension other than .csv, .parquet, .xlsx
TOO_MANY_COLUMNS = "TOO_MANY_COLUMNS"  # over ReadLimits.max_columns
EXTRACT_PRESCAN_FAILED = "EXTRACT_PRESCAN_FAILED"  # several kinds of problem at once
# Parquet and Excel (the CSV_ codes above are for CSV files only)
EXTRACT_UNREADABLE = "EXTRACT_UNREADABLE"  # not a valid Parquet / xlsx file
EXTRACT_EMPTY = "EXTRACT_EMPTY"  # no columns, or (xlsx) no header row
EXTRACT_UNSUPPORTED_TYPE = "EXTRACT_UNSUPPORTED_TYPE"  # nested Parquet column, etc.
EXTRACT_ENCODING = "EXTRACT_ENCODING"  # Parquet binary/string bytes that are not UTF-8
EXTRACT_DUPLICATE_HEADER = "EXTRACT_DUPLICATE_HEADER"
EXTRACT_EMPTY_HEADER = "EXTRACT_EMPTY_HEADER"
EXTRACT_CONTROL_CHAR = "EXTRACT_CONTROL_CHAR"
EXTRACT_FIELD_TOO_LONG = "EXTRACT_FIELD_TOO_LONG"

# A file with a million broken rows must not produce a million findings: the first ones per
# reason are listed, the rest are counted (ExtractError.context["counts"]).
MAX_PROBLEMS_PER_REASON = 100

#: What a header of a single column usually means (said where the records or the contract show it).
ONE_COLUMN_HEADER = ("the header holds a single column: the file may be separated by semicolons or tabs instead of commas, "
                     "or have a title row above the column names; export it comma-separated with the column names in the first row")
HINT = (
    "Fix the export in the case system and export again. Cell values are never shown here; "
    "open the file at the line and column given."
)

# Control characters that corrupt downstream processing: C0 except TAB, LF, CR; and DEL.
CONTROL_CHARS = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
CONTROL_RE = re.compile(f"[{CONTROL_CHARS}]")


@dataclass(frozen=True)
class ReadLimits:
    """Caps applied before and while parsing, so a malformed or hostile file cannot exhaust
    the agency's machine."""

    max_bytes: int = 2 * 1024**3
    max_columns: int = 500
    max_field_chars: int = 10_000
    #: Not a cap but the unit of work: records per block a reading hands out (``ExtractRead``),
    #: so a contribution holds a block of the extract at a time, not the whole file. The peak of
    #: a contribution is a block's working set (a block validated while the next is read), so this
    #: sets it: whole ``dvnet contribute`` runs in record mode at 1M rows peaked at about 409 MiB
    #: with 131,072 records a block and 379 MiB with 98,304, for 3 % more time (four alternating
    #: pairs, 3.77 against 3.90 s); 65,536 took 12 % more.
    block_records: int = 98_304
    #: And the most a block holds, in Arrow bytes (the text and its offsets), so a wide export (a
    #: notes column the mapping ignores, hundreds of columns) holds fewer records a block rather
    #: than more memory: 131,072 records of the benchmark's 26 columns took 48 MiB, so this changes
    #: nothing for them; a million records with a 1,000-character notes column peaked at
    #: 1,065 MiB before it. A record larger than this is a block of its own.
    block_bytes: int = 64 << 20

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_columns", "max_field_chars", "block_records", "block_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ReadLimits.{name} must be a whole number of at least 1 (a block of 0 records would never end)")


@dataclass
class ExtractProblem:
    """One pre-scan finding. It locates the problem; it never holds a value from the file.

    ``line`` is the 1-based physical line where the record starts (for xlsx: the sheet row);
    ``record`` the 1-based data record (header excluded; None for the header itself);
    ``column`` a header name, kept only when the contract or the steward's mapping names it (an
    extract saved without its header row has a client's record where the names should be, so any
    other name is a value: ``read_extract`` drops it, see ``only_known_columns``); ``position`` the
    column's 1-based place in the header, always kept.
    """

    reason: str
    file: str
    line: int | None
    record: int | None
    byte_offset: int | None
    column: str | None
    detail: str
    position: int | None = None

    def describe(self) -> str:
        """One line for a terminal or report: reason, file, place, column, wording."""
        place = [self.file]
        if self.line is not None:
            place.append(f"line {self.line}")
        if self.record is not None:
            place.append(f"record {self.record}")
        if self.byte_offset is not None:
            place.append(f"byte {self.byte_offset}")
        if self.column is not None:
            place.append(f"column {self.column!r}")
        elif self.position is not None:
            place.append(f"column {self.position}")
        return f"{self.reason}: {', '.join(place)}: {self.detail}"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class ProblemLog:
    """Collects findings for one file, listing the first ``MAX_PROBLEMS_PER_REASON`` per
    reason and counting all of them."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[ExtractProblem] = []
        self.counts: Counter[str] = Counter()
        self.header: list[str | None] = []  # set by check_header: names a column's position

    def __bool__(self) -> bool:
        return bool(self.counts)

    def add(
        self,
        reason: str,
        detail: str,
        *,
        line: int | None = None,
        record: int | None = None,
        byte_offset: int | None = None,
        column: str | None = None,
    ) -> None:
        self.counts[reason] += 1
        if self.counts[reason] <= MAX_PROBLEMS_PER_REASON:
            position = self.header.index(column) + 1 if column in self.header else None
            self.problems.append(
                ExtractProblem(reason, self.file, line, record, byte_offset, column, detail, position)
            )

    def discard(self, reason: str, record: int | None, column: str | None) -> None:
        """Withdraw a finding that turned out to be a consequence of another one."""
        for problem in self.problems:
            if (problem.reason, problem.record, problem.column) == (reason, record, column):
                self.problems.remove(problem)
                self.counts[reason] -= 1
                if not self.counts[reason]:
                    del self.counts[reason]
                return

    def error(self) -> ExtractError:
        """The single error a caller sees: one reason (or EXTRACT_PRESCAN_FAILED when there are
        several kinds), a one-line message, and every finding in ``context["problems"]``."""
        return problems_error(self.file, self.problems, self.counts)


def problems_error(
    file: str, problems: list[ExtractProblem], counts: Counter[str] | None = None
) -> ExtractError:
    if counts is None:
        counts = Counter(p.reason for p in problems)
    problems = sorted(
        problems, key=lambda p: (p.line or 0, p.record or 0, p.byte_offset or 0, p.reason)
    )
    total = sum(counts.values())
    reason = next(iter(counts)) if len(counts) == 1 else EXTRACT_PRESCAN_FAILED
    if total == 1 and problems:
        message = problems[0].describe().split(": ", 1)[1]
    else:
        summary = ", ".join(f"{r} x{n}" for r, n in sorted(counts.items()))
        listed = "" if len(problems) == total else f", {len(problems)} listed"
        first = problems[0].describe() if problems else ""
        message = (
            f"{file}: {total} problems found by the pre-scan ({summary}{listed}); "
            f"first: {first}"
        )
    return ExtractError(
        reason,
        message,
        hint=HINT,
        file=file,
        problems=problems,
        counts=dict(counts),
    )


def only_known_columns(error: ExtractError, known: frozenset[str]) -> ExtractError:
    """``error`` with every column name the contract or mapping does not name replaced by its
    position (a header name nobody declared may be a client's value)."""
    problems = error.context.get("problems")
    if not problems:
        return error
    kept = [p if p.column is None or p.column in known else replace(p, column=None) for p in problems]
    return problems_error(error.context.get("file", kept[0].file), kept, Counter(error.context.get("counts") or {}))


def single_error(reason: str, file: str, detail: str, **where: object) -> ExtractError:
    """An ExtractError for one finding, in the same shape as a multi-problem one."""
    log = ProblemLog(file)
    log.add(reason, detail, **where)  # type: ignore[arg-type]
    return log.error()


def refuse_if_changed(path: str, name: str, before: os.stat_result) -> None:
    """Refuse a file whose size or modification time is not what it was when its reading began
    (readers that hash and parse in separate passes must have seen the same bytes)."""
    after = os.stat(path)
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
        raise single_error(
            FILE_UNREADABLE, name, "the file changed while it was being read; read it again"
        )


def normalise_header(name: str) -> str:
    """The key under which two header names count as duplicates ("Client ID" and " client id"
    would be ambiguous for the column mapping, so they clash)."""
    return name.strip().casefold()


def check_header(
    names: list[str | None], log: ProblemLog, *, csv_file: bool, line: int | None = 1
) -> None:
    """Empty and duplicate header names, reported by position and name as written."""
    log.header = list(names)
    empty = CSV_EMPTY_HEADER if csv_file else EXTRACT_EMPTY_HEADER
    duplicate = CSV_DUPLICATE_HEADER if csv_file else EXTRACT_DUPLICATE_HEADER
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if name is None or not name.strip():
            log.add(empty, f"header of column {position} is empty", line=line)
            continue
        key = normalise_header(name)
        if key in seen:
            first = seen[key]
            log.add(
                duplicate,
                f"column {position} has the same header as column {first}",
                line=line,
                column=name,
            )
        else:
            seen[key] = position


def sniff_wrong_format(head: bytes) -> str | None:
    """A plain-words guess when a "CSV" is really another kind of file (no values involved)."""
    if head.startswith(b"PK\x03\x04"):
        return "the file looks like a zip or Excel workbook, not CSV text"
    if head.startswith(b"PAR1"):
        return "the file looks like Parquet, not CSV text"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "the file is UTF-16 text; export it as UTF-8"
    return None
