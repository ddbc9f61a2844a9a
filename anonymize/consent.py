"""The consent filter for record mode.

A record leaves in record mode only when the client gave consent to share and that consent is
still in force on the last day of the contributed period (consent is "reasonably time-limited";
VAWA 34 U.S.C. §12291(b)(2)). Aggregate mode counts everyone, since only counts leave.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

NO_CONSENT = "CONSENT_ABSENT"
EXPIRED = "CONSENT_EXPIRED"


def consent_masks(consent: pd.Series, expiry: pd.Series, period_end: dt.date) -> tuple[np.ndarray, np.ndarray]:
    """Per row: (no consent to share, consent expired before the period's end). A record may
    leave where neither holds; a record without consent counts as absent, not expired."""
    given = consent.fillna(False).to_numpy(dtype=bool)
    exp = pd.DatetimeIndex(expiry)
    expired = np.asarray(exp.notna() & (exp < pd.Timestamp(period_end)))
    return ~given, given & expired

