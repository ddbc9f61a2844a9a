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


def consent_exclusions(consent: pd.Series, expiry: pd.Series, period_end: dt.date) -> pd.Series:
    """Per row: None when the record may leave, else the exclusion reason code."""
    given = consent.fillna(False).astype(bool).to_numpy()
    exp = pd.DatetimeIndex(expiry)
    in_force = np.asarray(exp.isna() | (exp >= pd.Timestamp(period_end)))
    reasons = np.where(~given, NO_CONSENT, np.where(~in_force, EXPIRED, None))
    return pd.Series(reasons, index=consent.index, dtype=object)
