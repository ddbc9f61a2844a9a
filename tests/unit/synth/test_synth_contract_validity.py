"""Every clean extract is exactly what its contract asks for, in the agreed text form."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from dvnet.contracts.codes import ORG_TYPES
from dvnet.contracts.network import Organisation
from dvnet.contracts.registry import get_contract
from dvnet.pipelines.demo_network import demo_geography
from dvnet.pipelines.synth import synthesize

from .conftest import NETWORK, PERIODS, SEED, SMALL, clean_files, contract_of, period_of, read_typed

ISO_DATE = re.compile(rb"^\d{4}-\d{2}-\d{2}$")


def test_each_agency_gets_the_files_its_tier_allows(small_run):
    root, summary = small_run
    expected = set()
    for org in NETWORK:
        for period in PERIODS:
            for contract, min_tier in (("referral", 2), ("service_episode", 3), ("research_extract", 4)):
                if org.tier >= min_tier:
                    expected.add(f"{org.id}/extracts/{contract}_{period}.csv")
    written = {p.relative_to(root).as_posix() for p in clean_files(root)}
    assert written == expected
    assert not (root / "riverside-university-evaluation").exists()  # tier 1 holds no extracts
    assert {(a, c, p) for (a, c, p) in summary.rows} == {
        (n.split("/")[0], n.split("/")[2].rsplit("_", 1)[0], n.rsplit("_", 1)[1][:-4]) for n in expected
    }
    assert summary.total_rows == sum(summary.rows.values()) > 0


def test_every_clean_file_validates_against_its_contract(small_run):
    root, summary = small_run
    files = clean_files(root)
    assert files
    for path in files:
        contract = contract_of(path)
        df = read_typed(path, contract)
        assert list(df.columns) == list(contract.source.to_schema().columns)
        contract.source.validate(df, lazy=True)  # raises SchemaErrors on any failure
        assert len(df) == summary.rows[(path.parts[-3], contract.id, period_of(path))]


def test_every_organisation_type_can_send_every_extract(tmp_path):
    """The demo network's funder and research unit are Tier 1 and send nothing; the generator's
    rates for their types are still exercised here, one Tier 4 agency of each type."""
    orgs = [Organisation(id=t.replace("_", "-"), name=t, type=t, tier=4, region="south-metro") for t in ORG_TYPES]
    summary = synthesize(orgs, tmp_path, seed=SEED, periods=["2026-Q3"], scale=SMALL, geography=demo_geography())
    assert {(a, c) for a, c, _ in summary.rows} == {(o.id, c) for o in orgs for c in ("referral", "service_episode", "research_extract")}
    for path in clean_files(tmp_path):
        contract = contract_of(path)
        contract.source.validate(read_typed(path, contract), lazy=True)


def test_text_form_is_utf8_without_bom_iso_dates_and_lowercase_booleans(small_run):
    root, _ = small_run
    for path in clean_files(root):
        data = path.read_bytes()
        assert not data.startswith(b"\xef\xbb\xbf")
        data.decode("utf-8")  # strict
        assert b"\r" not in data and b'"' not in data
        contract = contract_of(path)
        schema = contract.source.to_schema().columns
        lines = data.split(b"\n")
        assert lines[-1] == b"" and lines[0].decode() == ",".join(schema)
        kinds = [str(c.dtype) for c in schema.values()]
        for line in lines[1:-1]:
            fields = line.split(b",")
            assert len(fields) == len(kinds)
            for value, kind in zip(fields, kinds):
                if value and kind.startswith("datetime64"):
                    assert ISO_DATE.match(value)
                elif kind == "boolean":
                    assert value in (b"true", b"false")


@pytest.mark.parametrize("contract_id", ["referral", "service_episode"])
def test_names_sometimes_missing_in_operational_extracts(typed, contract_id):
    df = typed[contract_id]
    assert df["client_name"].isna().any()
    assert df["client_name"].notna().mean() > 0.9


def test_research_extracts_always_carry_both_linkage_inputs(typed):
    df = typed["research_extract"]
    assert len(df) > 0
    assert df["client_name"].notna().all() and (df["client_name"].str.strip().str.len() > 0).all()
    assert df["date_of_birth"].notna().all()


def test_research_extract_rows_are_episodes_of_the_same_agency(typed):
    ep = typed["service_episode"][["_agency", "episode_id", "client_id", "episode_start"]]
    rx = typed["research_extract"][["_agency", "episode_id", "client_id", "episode_start"]]
    joined = rx.merge(ep, how="left", on=["_agency", "episode_id"], suffixes=("", "_ep"), indicator=True)
    assert (joined["_merge"] == "both").all()
    assert (joined["client_id"] == joined["client_id_ep"]).all()


def test_ids_are_unique_per_file_and_clients_keep_one_id_per_agency(typed):
    for contract_id, key in (("referral", "referral_id"), ("service_episode", "episode_id")):
        df = typed[contract_id]
        assert not df.duplicated(["_agency", "_period", key]).any()
    both = pd.concat([typed["referral"], typed["service_episode"]])
    # one agency spells a client's name one way (or leaves it empty)
    spellings = both.dropna(subset=["client_name"]).groupby(["_agency", "client_id"])["client_name"].nunique()
    assert (spellings == 1).all()


def test_receiving_org_is_another_registered_organisation(typed):
    df = typed["referral"]
    ids = {o.id for o in NETWORK}
    assert set(df["receiving_org"]) <= ids
    assert (df["receiving_org"] != df["referring_org"]).all()
    assert (df["referring_org"] == df["_agency"]).all()
    # Tier 1 organisations receive referrals even though they send no data
    assert get_contract("referral").min_tier == 2
