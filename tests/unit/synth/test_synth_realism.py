"""The shapes downstream features depend on: periods, shared people, small regions, consent mix,
plausible rates and referral flows."""

from __future__ import annotations

import pandas as pd
import pytest

from dvnet.pipelines.demo_network import demo_geography
from dvnet.contracts.registry import get_contract
from dvnet.pipelines.synth.common import parse_period

from .conftest import NETWORK, clean_files, contract_of, read_typed

TINY_REGIONS = ("north-islands", "north-tundra", "south-hills")


def _load(root):
    frames = {}
    for path in clean_files(root):
        c = contract_of(path)
        frames.setdefault(c.id, []).append(read_typed(path, c).assign(_agency=path.parts[-3]))
    return {k: pd.concat(v, ignore_index=True) for k, v in frames.items()}


@pytest.fixture(scope="module")
def larger(larger_run):
    return _load(larger_run[0])


def test_every_event_date_falls_in_its_files_period(small_run):
    root, _ = small_run
    for path in clean_files(root):
        c = contract_of(path)
        period = parse_period(path.name.split(".")[0].rsplit("_", 1)[1])
        dates = read_typed(path, c)[c.event_date]
        assert dates.notna().all()
        assert (dates >= pd.Timestamp(period.start)).all() and (dates <= pd.Timestamp(period.end)).all()


def test_dates_are_plausible_around_the_event(typed):
    ep = typed["service_episode"]
    age = (ep["episode_start"] - ep["date_of_birth"]).dt.days / 365.25
    assert age.dropna().between(14, 95).all()
    assert (ep["episode_end"].isna() | (ep["episode_end"] >= ep["episode_start"])).all()
    still_open = ep["episode_end"].isna()
    assert (ep.loc[still_open, "housing_status_at_exit"] == "still_in_service").all()
    assert (ep.loc[~still_open, "housing_status_at_exit"] != "still_in_service").all()


def test_people_are_shared_across_agencies_per_ground_truth(small_run, typed):
    root, _ = small_run
    truth = pd.read_parquet(root / "_ground_truth" / "persons.parquet")
    assert list(truth.columns) == ["person_id", "agency_id", "client_id"]
    assert not truth.duplicated(["agency_id", "client_id"]).any()
    assert not truth.duplicated(["person_id", "agency_id"]).any()
    per_person = truth.groupby("person_id")["agency_id"].nunique()
    assert 0.2 <= (per_person >= 2).mean() <= 0.45

    rows = pd.concat([typed["referral"], typed["service_episode"]])[["_agency", "client_id", "client_name", "date_of_birth"]]
    # every ground-truth appearance is in the files, and nothing in the files is missing from it
    seen = set(zip(rows["_agency"], rows["client_id"]))
    assert seen == set(zip(truth["agency_id"].astype(str), truth["client_id"]))
    # one person keeps one date of birth everywhere; their name varies only in case, accents, spaces
    m = rows.merge(truth.astype({"agency_id": str}), left_on=["_agency", "client_id"], right_on=["agency_id", "client_id"])
    assert (m.dropna(subset=["date_of_birth"]).groupby("person_id")["date_of_birth"].nunique() == 1).all()
    import unicodedata

    def norm(s: str) -> str:
        s = "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))
        return " ".join(s.lower().split())

    names = m.dropna(subset=["client_name"])
    assert (names.groupby("person_id")["client_name"].agg(lambda s: s.map(norm).nunique()) == 1).all()
    raw_variety = names.groupby("person_id")["client_name"].nunique()
    assert (raw_variety >= 2).any()  # some agencies spell the same person differently


def test_small_regions_produce_small_counts(larger):
    ep = larger["service_episode"]
    region = ep["postal_code"].str[:3].map(demo_geography().region_of_prefix)
    assert region.dropna().isin(demo_geography().region_ids).all()
    counts = region.value_counts()
    assert counts.idxmax() == "south-metro"
    assert counts["south-metro"] > 0.4 * counts.sum()
    for tiny in TINY_REGIONS:
        assert counts.get(tiny, 0) < 0.03 * counts.sum()
    # small cells really occur: some (agency, tiny region) counts are between 1 and 9
    cells = ep.assign(region=region).groupby(["_agency", "region"]).size()
    small = cells[cells.index.get_level_values("region").isin(TINY_REGIONS)]
    assert ((small >= 1) & (small <= 9)).any()


def test_agency_volumes_follow_type_and_region(larger_run):
    _, summary = larger_run
    rows = summary.by_agency_contract()
    # Same type, a metro agency against one in a tiny region (the demo's tiny-region agencies are Tier 2: referrals only).
    assert rows[("harbour-house-shelter", "referral")] > 20 * rows[("island-outreach", "referral")]
    assert rows[("metro-supportive-housing", "referral")] > 10 * rows[("hills-emergency-shelter", "referral")]
    # and episodes: a metro shelter against one on the north coast
    assert rows[("harbour-house-shelter", "service_episode")] > 4 * rows[("northshore-transition-house", "service_episode")]


def test_consent_mix_includes_refused_expired_and_later_expiring(typed):
    for contract_id in ("referral", "service_episode"):
        df = typed[contract_id]
        c = get_contract(contract_id)
        period_end = df[c.event_date].dt.to_period("Q").dt.end_time.dt.normalize()
        consented = df["consent_to_share"]
        assert df.loc[~consented, "consent_expiry"].isna().all()
        assert df.loc[consented, "consent_expiry"].notna().all()
        expired = consented & (df["consent_expiry"] < period_end)
        later = consented & (df["consent_expiry"] > period_end)
        assert 0.6 < consented.mean() < 0.9
        assert 0.04 < expired.mean() < 0.2
        assert later.mean() > 0.5


def test_rates_are_plausible_and_risk_indicators_rise_with_risk(larger):
    ep = larger["service_episode"]
    expected = {
        "risk_children_in_household": (0.42, 0.58),
        "risk_recent_separation": (0.33, 0.47),
        "risk_strangulation": (0.10, 0.20),
        "risk_weapon_access": (0.06, 0.14),
        "risk_threats_to_kill": (0.15, 0.25),
        "risk_pregnancy": (0.04, 0.10),
        "safety_plan_completed": (0.60, 0.80),
    }
    for col, (lo, hi) in expected.items():
        assert lo <= ep[col].mean() <= hi, col
    by_risk = ep.groupby("risk_level")[["risk_strangulation", "risk_threats_to_kill"]].mean()
    assert (by_risk.loc["high"] > 2 * by_risk.loc["low"]).all()
    assert ep.loc[ep["gender"] == "man", "risk_pregnancy"].sum() == 0
    assert 0.8 < (ep["gender"] == "woman").mean() < 0.95
    assert (ep["gender"] == "not_stated").any() and (ep["indigenous_identity"] == "not_stated").any()
    assert set(ep["risk_level"]) == {"low", "medium", "high", "not_assessed"}


def test_indigenous_identity_over_represented_in_the_north(larger):
    ep = larger["service_episode"]
    region = ep["postal_code"].str[:3].map(demo_geography().region_of_prefix)
    yes = (ep["indigenous_identity"] == "yes").groupby(region.str.startswith("north")).mean()
    assert yes[True] > 3 * yes[False]


def test_referral_flows_handoffs_and_first_contact(larger):
    ref = larger["referral"]
    types = {o.id: o.type for o in NETWORK}
    from_hospital = ref[ref["_agency"] == "metro-general-hospital"]["receiving_org"].map(types)
    assert from_hospital.isin(["direct_service", "health_social_care"]).mean() > 0.5
    from_court = ref[ref["_agency"] == "metro-dv-court"]
    assert (from_court["receiving_org"].map(types) == "justice_legal").mean() > 0.25
    assert (from_court["referral_reason"] == "legal").mean() > 0.25
    days = ref.groupby("handoff_type")["days_to_first_contact"].mean()
    assert days["warm"] < days["standard"]
    assert ref.loc[ref["outcome"] == "unable_to_contact", "days_to_first_contact"].isna().all()
    assert set(ref["outcome"]) == {"accepted", "declined", "unable_to_contact", "pending", "withdrawn"}
    assert 0.3 < (ref["handoff_type"] == "warm").mean() < 0.65
