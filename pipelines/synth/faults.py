"""Injected faults: the ways real agency extracts go wrong, planted at known records.

Each fault kind is planted at a couple of seeded records of a copy of a clean file
(``<stem>.faulty.csv``); the clean file stays. Every planted fault is recorded (file, kind,
record number, column) so tests and the contributor's checks can be scored against it. A
record number counts data records from 1; the header is not a record, so record ``r`` is on
physical line ``r + 1``. Each record carries at most one fault.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # annotations only: the fault kinds are read by `dvnet synth --help`
    import numpy as np

    from dvnet.pipelines.synth.common import Period

BAD_DATES = "bad_dates"
UNKNOWN_CODES = "unknown_codes"
RAGGED_ROWS = "ragged_rows"
BAD_ENCODING = "bad_encoding"
CONTROL_CHARS = "control_chars"
DUPLICATE_IDS = "duplicate_ids"
OUT_OF_PERIOD = "out_of_period"
FAULT_KINDS = (BAD_DATES, UNKNOWN_CODES, RAGGED_ROWS, BAD_ENCODING, CONTROL_CHARS, DUPLICATE_IDS, OUT_OF_PERIOD)
SITES_PER_KIND = 2  # each kind is planted at two records per file (both variants of it)


class _Site(NamedTuple):
    file: str  # path relative to the output root, with forward slashes
    fault: str
    record_number: int  # 1-based data record (physical line = record_number + 1)


class InjectedFault(_Site):
    """One planted fault: the tuple ``(file, fault, record_number)``, plus where and how.

    ``column`` is the field changed (None when the row's shape is what is wrong); ``detail``
    names the variant, never a value from the row. Both are attributes, not tuple items, so
    ``file, fault, record_number = f`` keeps working.
    """

    def __new__(cls, file: str, fault: str, record_number: int, column: str | None = None, detail: str = ""):
        self = super().__new__(cls, file, fault, record_number)
        self.column = column
        self.detail = detail
        return self

    def __getnewargs__(self):
        return (*self, self.column, self.detail)

    def __repr__(self) -> str:
        return f"InjectedFault({self.file!r}, {self.fault!r}, {self.record_number}, column={self.column!r}, detail={self.detail!r})"

    def to_dict(self) -> dict[str, object]:
        return {**self._asdict(), "column": self.column, "detail": self.detail}


def parse_faults(text: str) -> frozenset[str]:
    """``"bad_dates, ragged_rows"`` -> the set of kinds; ``"all"`` -> every kind."""
    kinds = {k.strip() for k in text.split(",") if k.strip()}
    if kinds == {"all"}:
        return frozenset(FAULT_KINDS)
    unknown = sorted(kinds - set(FAULT_KINDS))
    if unknown:
        raise ValueError(f"unknown fault kind {unknown[0]!r}; known: {', '.join(FAULT_KINDS)}")
    return frozenset(kinds)


def inject(
    rng: np.random.Generator,
    clean: bytes,
    *,
    file: str,
    columns: list[str],
    id_column: str,
    event_column: str,
    period: Period,
    kinds: frozenset[str],
) -> tuple[bytes, list[InjectedFault]]:
    """A faulty copy of the CSV ``clean`` and the faults planted in it.

    Kinds are planted in ``FAULT_KINDS`` order at distinct records; a file too small for every
    site gets fewer (what was planted is exactly what is returned).
    """
    lines = clean.split(b"\n")
    header, records = lines[0], lines[1:-1]  # the file ends with a newline
    wanted = [k for k in FAULT_KINDS if k in kinds]
    need = len(wanted) * SITES_PER_KIND
    if DUPLICATE_IDS in wanted:
        need += SITES_PER_KIND  # each duplicate copies the id of another, untouched record
    sites = list(rng.choice(len(records), size=min(need, len(records)), replace=False)) if records else []
    col = {c: i for i, c in enumerate(columns)}
    out: list[InjectedFault] = []

    def plant(kind: str, i: int, column: str | None, detail: str) -> None:
        out.append(InjectedFault(file, kind, int(i) + 1, column, detail))

    for kind in wanted:
        for variant in range(SITES_PER_KIND):
            if not sites:
                break
            i = sites.pop(0)
            f = records[i].split(b",")
            if kind == BAD_DATES:
                if variant == 0:
                    f[col[event_column]] = f"{period.year}-02-30".encode()
                    plant(kind, i, event_column, "impossible day (February 30)")
                else:
                    f[col["date_of_birth"]] = f"31/12/{period.year - 30}".encode()
                    plant(kind, i, "date_of_birth", "day-first format DD/MM/YYYY")
            elif kind == UNKNOWN_CODES:
                column, code = ("risk_level", b"very_high") if variant == 0 else ("gender", b"female")
                f[col[column]] = code
                plant(kind, i, column, "value outside the code list")
            elif kind == RAGGED_ROWS:
                if variant == 0:
                    f = f[:-1]
                    plant(kind, i, None, "one field too few")
                else:
                    f = [*f, b"1"]
                    plant(kind, i, None, "one field too many")
            elif kind == BAD_ENCODING:
                c = col["client_name"]
                if variant == 0:
                    f[c] = b"\xff" + f[c]
                    plant(kind, i, "client_name", "lone 0xFF byte")
                else:
                    f[c] = f[c] + b"\xe9"  # a Windows-1252 e-acute, cut off by the comma
                    plant(kind, i, "client_name", "Windows-1252 byte 0xE9")
            elif kind == CONTROL_CHARS:
                c = col["client_name"]
                ch = b"\x00" if variant == 0 else b"\x1f"
                f[c] = f[c][:1] + ch + f[c][1:]
                plant(kind, i, "client_name", "NUL character" if variant == 0 else "unit separator 0x1F")
            elif kind == DUPLICATE_IDS:
                if not sites:
                    break
                j = sites.pop(0)  # the record whose id is copied; itself left unchanged
                f[col[id_column]] = records[j].split(b",")[col[id_column]]
                plant(kind, i, id_column, f"same id as record {j + 1}")
            elif kind == OUT_OF_PERIOD:
                day = dt.date.fromisoformat(f[col[event_column]].decode())
                start = dt.date.fromisoformat(str(period.start))
                end = dt.date.fromisoformat(str(period.end))
                shift = dt.timedelta(days=int(rng.integers(1, 46)))
                moved = start - shift if variant == 0 else end + shift
                f[col[event_column]] = moved.isoformat().encode()
                if "episode_end" in col and f[col["episode_end"]]:
                    # keep the episode's length, so the row breaks only the period rule
                    ended = dt.date.fromisoformat(f[col["episode_end"]].decode()) + (moved - day)
                    f[col["episode_end"]] = ended.isoformat().encode()
                plant(kind, i, event_column, "before the period" if variant == 0 else "after the period")
            records[i] = b",".join(f)
    out.sort(key=lambda x: x.record_number)
    return b"\n".join([header, *records, b""]), out
