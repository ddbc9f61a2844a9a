"""The standard count tables: the one-scan query (GROUPING SETS) gives exactly the rows of
counting each table on its own, with and without the coordinator's key columns, NULLs and all."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from dvnet.anonymize.counts import all_dimensions, counts_sql, table_sql
from dvnet.contracts.codes import code_list
from dvnet.contracts.registry import get_contract


def _frame(contract_id: str, n: int = 3000, seed: int = 3) -> pa.Table:
    """Random de-identified rows over each output column's codes, with NULLs sprinkled in."""
    rng = np.random.default_rng(seed)
    schema = get_contract(contract_id).output.to_schema()
    columns = {}
    for name, col in schema.columns.items():
        listed = code_list(col)
        allowed = listed.values if listed else None
        kind = str(col.dtype)
        if kind == "boolean":
            values = pa.array(rng.random(n) < 0.3)
        elif kind == "Int64":
            values = pa.array(rng.integers(0, 60, n))
        else:
            pool = allowed or [f"{name}-{i}" for i in range(4)]
            values = pa.array(np.asarray(pool, dtype=object)[rng.integers(0, len(pool), n)].tolist(), pa.string())
        nulls = pa.array(rng.random(n) < 0.05)
        columns[name] = pa.compute.if_else(nulls, pa.scalar(None, values.type), values)
    return pa.table(columns)


@pytest.mark.parametrize("contract_id", ["referral", "service_episode"])
def test_one_scan_counts_equal_table_by_table_counts(contract_id):
    contract = get_contract(contract_id)
    con = duckdb.connect()
    con.register("rows", _frame(contract_id, seed=1))
    dims = all_dimensions(contract)
    one_by_one = " UNION ALL ".join(table_sql(t, "rows", dims) for t in contract.standard_tables)
    expected = con.sql(one_by_one + " ORDER BY ALL").to_arrow_table()
    got = con.sql(counts_sql(contract, "rows") + " ORDER BY ALL").to_arrow_table()
    assert got.schema.equals(expected.schema)
    assert got.equals(expected)
    assert set(got.column("table_name").to_pylist()) == {t.name for t in contract.standard_tables}
    assert expected.num_rows > 100
