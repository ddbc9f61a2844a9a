"""Synthetic referrals (``referral``): who each agency refers its clients to, and what happened."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from dvnet.contracts import codes
from dvnet.contracts.geography import Geography
from dvnet.contracts.network import Organisation
from dvnet.pipelines.synth import fields, rates
from dvnet.pipelines.synth.common import Period, choice, coded, dates, event_dates, format_ids, pick, region_relation
from dvnet.pipelines.synth.people import Population, Roster

# How each organisation type numbers its referrals (prefix, digits).
REFERRAL_ID_STYLE = {
    "direct_service": ("R", 7),
    "justice_legal": ("REF-", 6),
    "health_social_care": ("RF", 8),
    "housing_homelessness": ("HR-", 6),
    "government_funder": ("GR", 7),
    "research_evaluation": ("RR", 5),
}


def receiver_weights(org: Organisation, others: list[Organisation], geography: Geography) -> np.ndarray:
    """How likely ``org`` is to refer to each of ``others``.

    First the receiving *type* by the flow between types (hospitals refer to shelters and
    counselling, courts to legal aid...), then an organisation of that type by size and distance,
    so a small rural legal aid office still receives the court's legal referrals.
    """
    flow = np.array(rates.REFERRAL_FLOWS[org.type])
    to_type = np.array([codes.ORG_TYPES.index(o.type) for o in others])
    size = np.array([rates.region_size(o.region) for o in others])
    index = geography.region_ids.index
    relation = region_relation(np.full(len(others), index(org.region)), np.array([index(o.region) for o in others]), geography)
    within = np.sqrt(size) * np.array(rates.RECEIVER_REGION_WEIGHT)[relation]
    type_total = np.bincount(to_type, weights=within, minlength=len(codes.ORG_TYPES))
    w = flow[to_type] * within / type_total[to_type]
    return w / w.sum() if w.sum() > 0 else np.full(len(others), 1.0 / len(others))


def build_referrals(
    rng: np.random.Generator,
    org: Organisation,
    others: list[Organisation],
    roster: Roster,
    population: Population,
    rec_client: np.ndarray,
    period_idx: np.ndarray,
    periods: list[Period],
) -> tuple[dict[str, pa.Array], np.ndarray]:
    """One agency's referrals for all periods: columns by name, and each row's period index.

    ``others`` are the organisations it may refer to (every other registered organisation, any
    tier: a Tier 1 agency receives referrals even though it sends no data). Rows are ordered
    by period then referral date and numbered in that order.
    """
    n = len(rec_client)
    when = event_dates(rng, periods, period_idx, rates.WEEKEND_WEIGHT)
    order = np.lexsort((when, period_idx))
    when, period_idx, rec_client = when[order], period_idx[order], rec_client[order]
    period_end = np.array([p.end for p in periods], dtype="datetime64[D]")[period_idx]
    period_start = np.array([p.start for p in periods], dtype="datetime64[D]")[period_idx]

    prefix, width = REFERRAL_ID_STYLE[org.type]
    cols: dict[str, pa.Array] = {"referral_id": format_ids(prefix, int(rng.integers(1_000, 200_000)) + np.arange(n), width)}
    client, person = fields.client_columns(rng, roster, population, rec_client)
    cols.update(client)
    cols["referral_date"] = dates(when)
    cols["referring_org"] = coded(np.zeros(n), [org.id])

    receivers = others or [org]  # a network of one: the only possible receiver is itself
    receiver = rng.choice(len(receivers), size=n, p=receiver_weights(org, receivers, population.geography))
    cols["receiving_org"] = coded(receiver, [o.id for o in receivers])
    receiver_type = np.array([o.type for o in receivers])[receiver]
    reason = np.empty(n, dtype=np.int64)
    for t in codes.ORG_TYPES:
        rows = np.flatnonzero(receiver_type == t)
        reason[rows] = choice(rng, len(rows), rates.REASON_BY_RECEIVER[t])
    cols["referral_reason"] = coded(reason, codes.REFERRAL_REASONS)

    risk = fields.risk_levels(rng, org.type, n)
    warm = rng.random(n) < rates.WARM_SHARE[org.type] + np.array(rates.WARM_SHIFT_BY_RISK)[risk]
    cols["handoff_type"] = coded(np.where(warm, 0, 1), codes.HANDOFF_TYPES)
    probs = np.where(warm[:, None], np.array(rates.OUTCOME_MIX["warm"]), np.array(rates.OUTCOME_MIX["standard"]))
    late = (period_end - when).astype(np.int64) < rates.LATE_IN_PERIOD_DAYS
    probs[late, codes.REFERRAL_OUTCOMES.index("pending")] *= rates.LATE_PENDING_FACTOR
    outcome = pick(rng, probs)
    cols["outcome"] = coded(outcome, codes.REFERRAL_OUTCOMES)

    contacted = rng.random(n) < np.array(rates.CONTACTED_BY_OUTCOME)[outcome]
    days = np.where(warm, rng.geometric(rates.WARM_CONTACT_P, n) - 1, rng.negative_binomial(*rates.STANDARD_CONTACT_NB, n))
    # A contact is only known if it happened before the extract was taken.
    days = np.minimum(days, (period_end + rates.EXTRACT_LAG_DAYS - when).astype(np.int64))
    cols["days_to_first_contact"] = pa.array(days.astype(np.int64), type=pa.int64(), mask=~contacted)

    cols["gender"] = fields.gender(rng, population, person)
    cols["language"] = coded(population.language[person], codes.LANGUAGES)
    cols["risk_level"] = coded(risk, codes.RISK_LEVELS)
    cols.update(fields.consent(rng, when, period_start, period_end))
    return cols, period_idx
