"""Synthetic service episodes (``service_episode``) and the Tier 4 research extract built on them."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dvnet.contracts import codes
from dvnet.contracts.network import Organisation
from dvnet.pipelines.synth import fields, rates
from dvnet.pipelines.synth.common import Period, choice, coded, dates, event_dates, format_ids, pick
from dvnet.pipelines.synth.people import Population, Roster

# How each organisation type numbers its episodes (prefix, digits).
EPISODE_ID_STYLE = {
    "direct_service": ("EP", 7),
    "justice_legal": ("F", 7),
    "health_social_care": ("ENC", 8),
    "housing_homelessness": ("HS-", 6),
    "government_funder": ("CPR", 7),
    "research_evaluation": ("S", 6),
}
_EXIT_CODES = [codes.HOUSING_AT_EXIT.index(c) for c in ("stable_housing", "temporary_housing", "shelter", "homeless", "unknown")]


def build_episodes(
    rng: np.random.Generator,
    org: Organisation,
    roster: Roster,
    population: Population,
    rec_client: np.ndarray,
    period_idx: np.ndarray,
    periods: list[Period],
) -> tuple[dict[str, pa.Array], np.ndarray]:
    """One agency's episodes for all periods: columns by name, and each row's period index.

    Rows are ordered by period, then start date, and numbered in that order, as an agency's
    system numbers episodes as they open.
    """
    n = len(rec_client)
    start = event_dates(rng, periods, period_idx, rates.WEEKEND_WEIGHT)
    order = np.lexsort((start, period_idx))
    start, period_idx, rec_client = start[order], period_idx[order], rec_client[order]
    period_end = np.array([p.end for p in periods], dtype="datetime64[D]")[period_idx]
    period_start = np.array([p.start for p in periods], dtype="datetime64[D]")[period_idx]

    prefix, width = EPISODE_ID_STYLE[org.type]
    cols: dict[str, pa.Array] = {"episode_id": format_ids(prefix, int(rng.integers(1_000, 200_000)) + np.arange(n), width)}
    client, person = fields.client_columns(rng, roster, population, rec_client)
    cols.update(client)

    mix = rates.SERVICE_MIX[org.type]
    service = np.array([codes.SERVICE_TYPES.index(s) for s in mix])[choice(rng, n, list(mix.values()))]
    cols["service_type"] = coded(service, codes.SERVICE_TYPES)
    cols["episode_start"] = dates(start)
    mean_days = np.array([rates.EPISODE_DAYS[s] for s in codes.SERVICE_TYPES])[service]
    end = start + np.floor(rng.gamma(1.5, mean_days / 1.5)).astype(np.int64)
    still_open = end > period_end + rates.EXTRACT_LAG_DAYS
    cols["episode_end"] = dates(end, still_open)
    cols["referral_source_type"] = coded(choice(rng, n, rates.SOURCE_MIX[org.type]), codes.REFERRAL_SOURCE_TYPES)

    risk = fields.risk_levels(rng, org.type, n)
    cols["risk_level"] = coded(risk, codes.RISK_LEVELS)
    is_woman = population.gender[person] == codes.GENDERS.index("woman")
    cols.update(fields.indicators(rng, org.type, risk, is_woman, fields.age_at(population.dob[person], start)))
    cols["safety_plan_completed"] = pa.array(rng.random(n) < np.array(rates.SAFETY_PLAN_BY_RISK)[risk])
    po_mix = rates.PROTECTION_ORDER_MIX.get(org.type, rates.PROTECTION_ORDER_MIX["default"])
    cols["protection_order_status"] = coded(choice(rng, n, po_mix), codes.PROTECTION_ORDER_STATUSES)

    sheltered = np.isin(service, [codes.SERVICE_TYPES.index(s) for s in rates.SHELTERED_SERVICES])
    probs = np.where(sheltered[:, None], np.array(rates.HOUSING_EXIT_MIX["sheltered"]), np.array(rates.HOUSING_EXIT_MIX["default"]))
    housing = np.array(_EXIT_CODES)[pick(rng, probs)]
    housing[still_open] = codes.HOUSING_AT_EXIT.index("still_in_service")
    cols["housing_status_at_exit"] = coded(housing, codes.HOUSING_AT_EXIT)

    cols["gender"] = fields.gender(rng, population, person)
    cols["indigenous_identity"] = fields.yes_no(rng, population.indigenous[person], rates.INDIGENOUS_NOT_STATED)
    cols["disability"] = fields.yes_no(rng, population.disability[person], rates.DISABILITY_NOT_STATED)
    cols["language"] = coded(population.language[person], codes.LANGUAGES)
    cols.update(fields.consent(rng, start, period_start, period_end))
    return cols, period_idx


def research_rows(cols: dict[str, pa.Array]) -> np.ndarray:
    """Which episodes go into the research extract: those with both linkage inputs recorded.

    The research extract is the same episodes from the same system; an anonymous intake (no
    name) or one without a date of birth cannot be linked, so the agency does not extract it.
    """
    has = pc.and_(pc.is_valid(cols["client_name"]), pc.is_valid(cols["date_of_birth"]))
    return np.asarray(has.to_numpy(zero_copy_only=False), dtype=bool)
