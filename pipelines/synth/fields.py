"""Columns shared by the referral and episode generators: who the client is, consent, risk."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dvnet.contracts import codes
from dvnet.pipelines.synth import rates
from dvnet.pipelines.synth.common import coded, dates
from dvnet.pipelines.synth.people import Population, Roster


def client_columns(
    rng: np.random.Generator, roster: Roster, population: Population, rec_client: np.ndarray
) -> tuple[dict[str, pa.Array], np.ndarray]:
    """client_id, client_name, date_of_birth, postal_code per row, with realistic gaps.

    Also returns the person number of each row (for the person-level attributes).
    """
    n = len(rec_client)
    person = roster.person[rec_client]
    idx = pa.array(rec_client)
    no_name = rng.random(n) < rates.NAME_MISSING
    no_dob = rng.random(n) < rates.DOB_MISSING
    no_postal = rng.random(n) < rates.POSTAL_MISSING
    cols = {
        "client_id": pc.take(roster.client_id, idx),
        "client_name": pc.if_else(pa.array(no_name), pa.scalar(None, pa.string()), pc.take(roster.name, idx)),
        "date_of_birth": dates(population.dob[person], no_dob),
        "postal_code": pc.if_else(pa.array(no_postal), pa.scalar(None, pa.string()), pc.take(roster.postal, idx)),
    }
    return cols, person


def gender(rng: np.random.Generator, population: Population, person: np.ndarray) -> pa.Array:
    g = population.gender[person].astype(np.int32)
    g[rng.random(len(g)) < rates.GENDER_NOT_STATED] = codes.GENDERS.index("not_stated")
    return coded(g, codes.GENDERS)


def yes_no(rng: np.random.Generator, flag: np.ndarray, not_stated: float) -> pa.Array:
    v = np.where(flag, 0, 1)
    v[rng.random(len(v)) < not_stated] = 2
    return coded(v, codes.YES_NO_NOT_STATED)


def risk_levels(rng: np.random.Generator, org_type: str, n: int) -> np.ndarray:
    """Index into codes.RISK_LEVELS per row, from the organisation type's risk mix."""
    mix = np.array(rates.RISK_MIX[org_type])
    return rng.choice(len(mix), size=n, p=mix / mix.sum())


def indicators(
    rng: np.random.Generator, org_type: str, risk: np.ndarray, is_woman: np.ndarray, age: np.ndarray
) -> dict[str, pa.Array]:
    """The shared risk indicators, each rising with the risk level at its agreed overall rate."""
    mix = np.array(rates.RISK_MIX[org_type])
    mix = mix / mix.sum()
    out = {}
    for name, (rate, mult) in rates.INDICATOR_RATES.items():
        m = np.array(mult)
        p = rate * m[risk] / float(mix @ m)
        if name == "pregnancy":
            eligible = is_woman & (age >= 15) & (age <= rates.PREGNANCY_AGE_MAX)
            share = max(float(eligible.mean()), 1e-9)
            p = np.where(eligible, p / share, 0.0)
        out[f"risk_{name}"] = pa.array(rng.random(len(risk)) < np.minimum(p, 0.97))
    return out


def consent(
    rng: np.random.Generator, event: np.ndarray, period_start: np.ndarray, period_end: np.ndarray
) -> dict[str, pa.Array]:
    """consent_to_share and consent_expiry: most consent, some expired before the period end,
    some expiring soon after it, the rest running one to three years from the event."""
    n = len(event)
    given = rng.random(n) < rates.CONSENT_SHARE
    kind = rng.choice(3, size=n, p=[rates.CONSENT_EXPIRED_SHARE, rates.CONSENT_EXPIRING_SOON_SHARE,
                                     1 - rates.CONSENT_EXPIRED_SHARE - rates.CONSENT_EXPIRING_SOON_SHARE])
    terms = np.array(rates.CONSENT_TERMS_DAYS)[rng.integers(0, len(rates.CONSENT_TERMS_DAYS), n)]
    span = (period_end - period_start).astype(np.int64) + 150
    expired = period_start - 150 + (rng.random(n) * span).astype(np.int64)  # up to the day before the end
    soon = period_end + 1 + rng.integers(0, 90, n)
    later = event + terms
    expiry = np.where(kind == 0, expired, np.where(kind == 1, soon, later)).astype("datetime64[D]")
    return {"consent_to_share": pa.array(given), "consent_expiry": dates(expiry, ~given)}


def age_at(dob: np.ndarray, when: np.ndarray) -> np.ndarray:
    return (when - dob).astype(np.int64) / 365.25
