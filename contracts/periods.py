"""Reporting periods: calendar quarters written ``YYYY-Qn``."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from dvnet.contracts.errors import DvnetError

_PERIOD = re.compile(r"^(\d{4})-Q([1-4])$")
#: Quarters of these years only: a year 0000 has no dates at all (a traceback once), and a
#: quarter far from now is a typing error, never a reporting period.
FIRST_YEAR, LAST_YEAR = 1900, 2999


@dataclass(frozen=True, order=True)
class Period:
    year: int
    quarter: int

    @classmethod
    def parse(cls, text: str) -> Period:
        m = _PERIOD.match(text) if isinstance(text, str) else None
        if not m or not FIRST_YEAR <= int(m.group(1)) <= LAST_YEAR:
            raise DvnetError("USAGE_PERIOD_INVALID", f"a period is a calendar quarter of the years {FIRST_YEAR}-{LAST_YEAR}, written like 2026-Q3")
        return cls(int(m.group(1)), int(m.group(2)))

    @property
    def start(self) -> dt.date:
        return dt.date(self.year, 3 * self.quarter - 2, 1)

    @property
    def end(self) -> dt.date:
        nxt = dt.date(self.year + (self.quarter == 4), 1 if self.quarter == 4 else 3 * self.quarter + 1, 1)
        return nxt - dt.timedelta(days=1)

    def __str__(self) -> str:
        return f"{self.year}-Q{self.quarter}"
