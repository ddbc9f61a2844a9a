"""The consent filter: in record mode a row leaves only with consent in force on the period's last day."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from dvnet.anonymize.consent import EXPIRED, NO_CONSENT, consent_masks

PERIOD_END = dt.date(2026, 9, 30)  # 2026-Q3

ROWS = [
    # (consent_to_share, consent_expiry, expected exclusion)
    (False, None, NO_CONSENT),
    (None, None, NO_CONSENT),  # not recorded counts as absent
    (False, "2027-01-01", NO_CONSENT),  # an expiry date without consent is still no consent
    (True, "2026-08-01", EXPIRED),  # expired during the period
    (True, "2026-09-29", EXPIRED),  # expired the day before the period ends
    (True, "2025-12-31", EXPIRED),  # expired before the period began
    (True, "2026-09-30", None),  # in force on the last day
    (True, "2027-03-31", None),
    (True, None, None),  # consent without an expiry date
]


def _frame():
    consent = pd.Series([r[0] for r in ROWS], dtype="boolean", index=range(100, 100 + len(ROWS)))
    expiry = pd.Series(pd.to_datetime([r[1] for r in ROWS]), index=consent.index)
    return consent, expiry


def _reasons(consent, expiry):
    absent, expired = consent_masks(consent, expiry, PERIOD_END)
    assert not (absent & expired).any(), "a record is excluded for one reason"
    return [NO_CONSENT if a else EXPIRED if e else None for a, e in zip(absent, expired)]


def test_each_row_gets_the_right_exclusion_reason():
    consent, expiry = _frame()
    assert _reasons(consent, expiry) == [r[2] for r in ROWS]


def test_the_masks_follow_row_order_whatever_the_index():
    consent, expiry = _frame()
    shuffled = list(reversed(consent.index))
    assert _reasons(consent.set_axis(shuffled), expiry.set_axis(shuffled)) == [r[2] for r in ROWS]


def test_reason_codes_are_stable():
    assert (NO_CONSENT, EXPIRED) == ("CONSENT_ABSENT", "CONSENT_EXPIRED")
