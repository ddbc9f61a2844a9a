"""Aggregate bundles whose count tables break a rule are refused before loading, by the same rules
the ``loaded_rows_conform`` check re-applies afterwards (``assets/intake/lib/conform.py``)."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from dvnet.anonymize.counts import standard_counts
from dvnet.assets.intake.lib.ingest import CoordinatorContext, ingest_file
from dvnet.contracts.registry import get_contract


def _set(table: pa.Table, column: str, row: int, value) -> pa.Table:
    values = table.column(column).to_pylist()
    values[row] = value
    return table.set_column(table.column_names.index(column), column, pa.array(values, table.schema.field(column).type))


def _first(table: pa.Table, name: str) -> int:
    return pc.index(table.column("table_name"), name).as_py()


CASES = {
    # name -> (contract, how the honest counts are broken, column:rule the refusal names)
    "count_below_1": ("referral", lambda t: _set(t, "n", 0, 0), "n:at_least_1"),
    "unknown_table": ("referral", lambda t: _set(t, "table_name", 0, "everything_by_name"), "table_name:known"),
    "code_off_list": ("referral", lambda t: _set(t, "outcome", _first(t, "referral_flows"), "vanished"), "outcome:isin"),
    "missing_dimension": ("referral", lambda t: _set(t, "outcome", _first(t, "referral_flows"), None), "outcome:not_null"),
    "unused_dimension": ("referral", lambda t: _set(t, "region", _first(t, "referral_flows"), "north-coast"), "region:unused_is_null"),
    # The two rules ingest's own copy lacked (only the check had them):
    "unknown_indicator": ("service_episode", lambda t: _set(t, "indicator", _first(t, "risk_indicators_by_service"), "bad_luck"), "indicator:isin"),
    "boolean_not_true_false": ("service_episode", lambda t: _set(t, "safety_plan_completed", _first(t, "safety_plan_completed_by_service"), "yes"), "safety_plan_completed:isin"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_broken_count_table_is_refused(ck, kit, case):
    contract_id, broken, rule = CASES[case]
    honest = standard_counts(ck.FRAMES[contract_id](40, ck.PERIOD, 5), get_contract(contract_id))
    table = broken(honest)
    sealed = kit.seal("shelter-a", contract_id, ck.parquet_bytes(table), table.num_rows, mode="aggregate")
    with duckdb.connect(str(kit.paths.warehouse)) as con:
        out = ingest_file(kit.drop(case, sealed.blob), CoordinatorContext.load(kit.root), con)
        assert con.execute("SELECT count(*) FROM contribution_counts").fetchone()[0] == 0
    assert (out.outcome, out.reason) == ("quarantined", "CONTRACT_VIOLATION")
    assert rule in out.message
    for value in ("everything_by_name", "vanished", "bad_luck"):
        assert value not in out.message  # rules and counts, never a value


def test_honest_counts_load(ck, kit):
    ctx = CoordinatorContext.load(kit.root)
    with duckdb.connect(str(kit.paths.warehouse)) as con:
        for contract_id in ("referral", "service_episode"):
            out = ingest_file(kit.drop(contract_id, kit.counts("shelter-a", contract_id, n=40, seed=5).blob), ctx, con)
            assert (out.outcome, out.reason) == ("loaded", None)
