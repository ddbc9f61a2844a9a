"""Standard count tables: low-dimensional, built only from columns that leave, bucketed as documented."""

from __future__ import annotations

import duckdb
import pytest

from dvnet.contracts import codes
from dvnet.contracts.registry import all_contracts, get_contract
from dvnet.contracts.standard_tables import MAX_DIMS, REFERRAL_TABLES, StandardTable

WITH_TABLES = [c for c in all_contracts() if c.standard_tables]


def test_aggregate_contracts_have_standard_tables_and_record_only_ones_need_none():
    for c in all_contracts():
        assert bool(c.standard_tables) == ("aggregate" in c.modes), c.ref


@pytest.mark.parametrize("contract", WITH_TABLES, ids=lambda c: c.ref)
def test_every_dimension_is_an_output_column_a_derived_expression_or_the_indicator(contract):
    outputs = set(contract.output_columns())
    names = [t.name for t in contract.standard_tables]
    assert len(names) == len(set(names)), "table names repeat"
    for t in contract.standard_tables:
        assert 1 <= len(t.dims) <= MAX_DIMS
        for dim in t.dims:
            ok = dim in outputs or dim in t.derived or (dim == "indicator" and t.unpivot)
            assert ok, f"{t.name}: dimension {dim} does not come from the output"
        assert set(t.unpivot) <= outputs


@pytest.mark.parametrize("contract", WITH_TABLES, ids=lambda c: c.ref)
def test_no_table_is_a_cube_over_identifying_columns(contract):
    for t in contract.standard_tables:
        assert contract.key_column not in t.dims
        assert "client_pseudonym" not in t.dims
        assert "linkage_token" not in t.dims


def test_a_table_with_more_than_three_dimensions_is_refused():
    with pytest.raises(ValueError):
        StandardTable("too_wide", "x", "referrals", ("a", "b", "c", "d"))


def test_days_to_first_contact_buckets_fall_on_their_documented_edges():
    expr = next(t for t in REFERRAL_TABLES if "days_to_first_contact_bucket" in t.derived).derived["days_to_first_contact_bucket"]
    days = [None, 0, 1, 2, 3, 4, 7, 8, 14, 15, 30, 31, 3650]
    want = ["no_contact_yet", "0", "1", "2-3", "2-3", "4-7", "4-7", "8-14", "8-14", "15-30", "15-30", "31+", "31+"]
    con = duckdb.connect()
    try:
        con.execute("CREATE TABLE t (i INTEGER, days_to_first_contact INTEGER)")
        con.executemany("INSERT INTO t VALUES (?, ?)", list(enumerate(days)))
        got = [r[0] for r in con.execute(f"SELECT {expr} FROM t ORDER BY i").fetchall()]
    finally:
        con.close()
    assert got == want
    assert set(want) - {"no_contact_yet"} == set(codes.DAYS_TO_CONTACT_BUCKETS)


def test_risk_indicator_table_counts_every_shared_indicator():
    c = get_contract("service_episode")
    t = next(t for t in c.standard_tables if t.unpivot)
    assert {x.removeprefix("risk_") for x in t.unpivot} == set(codes.RISK_INDICATORS)
