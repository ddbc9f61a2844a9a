"""Rates from published counts: numerator / denominator, both as the release shows them.

Rates use the published (for a rounding profile, rounded) counts, as ehrQL does, so a rate never
carries more information than the counts beside it. A rate whose denominator or numerator is
suppressed is itself suppressed, with the one public mark ("suppressed") and without saying which
part was hidden; it is never computed from hidden counts. A zero denominator gives no rate
("undefined: zero denominator", the denominator 0 being published).

0 % and 100 % follow the same one rule as every other rate: a rate is published exactly when both
its counts are published, and then whatever its value. A 0 % or 100 % rate says no more than its
two published counts (numerator 0, or numerator = denominator) already say.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from dvnet.anonymize.disclosure.audit import PUBLISHED_MARK, SUPPRESSED_MARK
from dvnet.anonymize.disclosure.errors import INVALID_RATE_INPUT, DisclosureError
from dvnet.anonymize.disclosure.tables import STATUS_COLUMN, VALUE_COLUMN

RATE_PUBLISHED = PUBLISHED_MARK
RATE_SUPPRESSED = SUPPRESSED_MARK
RATE_UNDEFINED = "undefined: zero denominator"


def _prepare(frame: pd.DataFrame, on: Sequence[str], role: str) -> pd.DataFrame:
    missing = [c for c in (*on, VALUE_COLUMN) if c not in frame.columns]
    if missing:
        raise DisclosureError(INVALID_RATE_INPUT, f"{role} table lacks column(s) {', '.join(missing)}", role=role)
    if frame.duplicated(list(on)).any():
        raise DisclosureError(INVALID_RATE_INPUT, f"{role} table has several rows per rate cell; select them first", role=role)
    status = frame[STATUS_COLUMN].astype(str) if STATUS_COLUMN in frame.columns else pd.Series("published", index=frame.index)
    hidden = (status != PUBLISHED_MARK) | frame[VALUE_COLUMN].isna()
    out = frame[list(on)].copy()
    out[role] = pd.array(frame[VALUE_COLUMN], dtype="Int64")
    out.loc[hidden.to_numpy(), role] = pd.NA
    out[f"_{role}_hidden"] = hidden.to_numpy()
    return out


def rates(numerator: pd.DataFrame, denominator: pd.DataFrame, on: Sequence[str], *, scale: float = 1.0) -> pd.DataFrame:
    """One row per cell of ``on``: numerator, denominator, ``rate`` (Float64) and its status."""
    on = list(on)
    num = _prepare(numerator, on, "numerator")
    den = _prepare(denominator, on, "denominator")
    out = num.merge(den, on=on, how="inner", validate="one_to_one")
    den_hidden = out.pop("_denominator_hidden").to_numpy(dtype=bool)
    num_hidden = out.pop("_numerator_hidden").to_numpy(dtype=bool)
    d = out["denominator"].to_numpy(dtype=float, na_value=np.nan)
    n = out["numerator"].to_numpy(dtype=float, na_value=np.nan)
    zero = ~den_hidden & (d == 0)
    status = np.where(den_hidden | num_hidden, RATE_SUPPRESSED, np.where(zero, RATE_UNDEFINED, RATE_PUBLISHED))
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(status == RATE_PUBLISHED, n / np.where(d == 0, 1, d) * scale, np.nan)
    out["rate"] = pd.array(rate, dtype="Float64")
    out.loc[status != RATE_PUBLISHED, "rate"] = pd.NA
    out[STATUS_COLUMN] = status
    return out
