"""Rates from published counts: numerator / denominator, both as the release shows them.

Rates use the published (for a rounding profile, rounded) counts, as ehrQL does, so a rate never
carries more information than the counts beside it. A rate whose numerator or denominator is
suppressed is itself suppressed, with the one public mark: it does not say which part was hidden.
A zero denominator gives no rate ("undefined: zero denominator").

0 % and 100 %, one rule: they are published like any other rate when both counts are (they say no
more than those counts), except under a profile that suppresses zeros, where a 0 % rate shows a
zero count and a 100 % rate a zero complement (nobody in the group without the attribute): both
are then suppressed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from dvnet.anonymize.disclosure.errors import INVALID_RATE_INPUT, DisclosureError
from dvnet.anonymize.disclosure.tables import PUBLISHED, STATUS_COLUMN, SUPPRESSED, VALUE_COLUMN

RATE_UNDEFINED = "undefined: zero denominator"


def _prepare(frame: pd.DataFrame, on: Sequence[str], role: str) -> pd.DataFrame:
    missing = [c for c in (*on, VALUE_COLUMN) if c not in frame.columns]
    if missing:
        raise DisclosureError(INVALID_RATE_INPUT, f"{role} table lacks column(s) {', '.join(missing)}", role=role)
    if frame.duplicated(list(on)).any():
        raise DisclosureError(INVALID_RATE_INPUT, f"{role} table has several rows per rate cell; select them first", role=role)
    status = frame[STATUS_COLUMN].astype(str) if STATUS_COLUMN in frame.columns else pd.Series(PUBLISHED, index=frame.index)
    hidden = (status != PUBLISHED) | frame[VALUE_COLUMN].isna()
    out = frame[list(on)].copy()
    out[role] = pd.array(frame[VALUE_COLUMN], dtype="Int64")
    out.loc[hidden.to_numpy(), role] = pd.NA
    out[f"_{role}_hidden"] = hidden.to_numpy()
    return out


def rates(numerator: pd.DataFrame, denominator: pd.DataFrame, on: Sequence[str], *, scale: float = 1.0, zeros: str = "publish") -> pd.DataFrame:
    """One row per cell of ``on``: numerator, denominator, ``rate`` (Float64) and its status.

    ``zeros``: the profile's zero rule ("suppress" hides 0 % and 100 %, see the module notes).
    """
    on = list(on)
    num = _prepare(numerator, on, "numerator")
    den = _prepare(denominator, on, "denominator")
    out = num.merge(den, on=on, how="inner", validate="one_to_one")
    den_hidden = out.pop("_denominator_hidden").to_numpy(dtype=bool)
    num_hidden = out.pop("_numerator_hidden").to_numpy(dtype=bool)
    d = out["denominator"].to_numpy(dtype=float, na_value=np.nan)
    n = out["numerator"].to_numpy(dtype=float, na_value=np.nan)
    hidden = den_hidden | num_hidden
    if zeros == "suppress":
        hidden |= ~hidden & (d > 0) & ((n == 0) | (n == d))
    zero = ~hidden & (d == 0)
    status = np.where(hidden, SUPPRESSED, np.where(zero, RATE_UNDEFINED, PUBLISHED))
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(status == PUBLISHED, n / np.where(d == 0, 1, d) * scale, np.nan)
    out["rate"] = pd.array(rate, dtype="Float64")
    out.loc[status != PUBLISHED, "rate"] = pd.NA
    out[STATUS_COLUMN] = status
    return out
