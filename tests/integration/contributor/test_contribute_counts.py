"""The standard count tables: the one-scan query (GROUPING SETS) gives exactly the rows of
counting each table on its own, with and without the coordinator's key columns, NULLs and all;
and the fast path by integer codes gives exactly the SQL's table."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from dvnet.anonymize.counts import all_dimensions, coded, counts_sql, sql_counts, standard_counts, table_sql
from dvnet.contracts.codes import code_list
from dvnet.contracts.registry import get_contract
from dvnet.kernels import coded_counts as coded_counts_module


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


def _chunked(table: pa.Table, pieces: int, large: bool) -> pa.Table:
    """``table`` cut into ``pieces`` chunks, text as large strings when ``large``."""
    if large:
        table = table.cast(pa.schema([pa.field(f.name, pa.large_string() if pa.types.is_string(f.type) else f.type) for f in table.schema]))
    return pa.Table.from_batches(table.to_batches(max_chunksize=max(1, -(-table.num_rows // pieces))), table.schema)


@pytest.mark.parametrize(("n", "seed", "pieces", "large"), [(3000, 1, 1, False), (3000, 2, 7, True), (1, 3, 1, False), (0, 4, 1, False), (257, 5, 3, False)])
def test_counts_by_integer_codes_equal_the_sql_reference(n, seed, pieces, large):
    """The fast path (``kernels.coded_counts``) returns the SQL's table exactly: rows, order,
    types, NULL values and NULL-only columns, whatever the chunking or string type."""
    contract = get_contract("service_episode")
    assert coded(contract) is not None  # this contract takes the fast path
    frame = _chunked(_frame("service_episode", n=n, seed=seed), pieces, large)
    if n > 1:  # a column with no value at all
        frame = frame.set_column(frame.schema.get_field_index("language"), "language", pa.nulls(n, frame.schema.field("language").type))
    fast, reference = standard_counts(frame, contract), sql_counts(frame, contract)
    assert fast.schema.equals(reference.schema)
    assert fast.equals(reference)


def test_counts_by_sorting_equal_the_sql_reference_when_combinations_are_many(monkeypatch):
    monkeypatch.setattr(coded_counts_module, "DENSE_LIMIT", 4)
    contract = get_contract("service_episode")
    frame = _frame("service_episode", seed=6)
    assert standard_counts(frame, contract).equals(sql_counts(frame, contract))


def test_a_derived_dimension_is_counted_by_the_sql():
    """The referral contract derives a bucket by an SQL expression: no fast path, the SQL's rows."""
    contract = get_contract("referral")
    assert coded(contract) is None
    frame = _frame("referral", seed=7)
    assert standard_counts(frame, contract).equals(sql_counts(frame, contract))


def test_a_frame_of_categoricals_is_counted_by_its_codes_as_the_sql_counts_it():
    """The contributor's aggregate mode hands over pandas categoricals of the code lists (unused
    codes included) and nullable booleans: the fast path reads their codes, with the SQL's rows."""
    contract = get_contract("service_episode")
    frame = _frame("service_episode", seed=8).to_pandas(types_mapper={pa.bool_(): pd.BooleanDtype()}.get)
    for name in frame.columns:
        listed = code_list(contract.output.to_schema().columns[name])
        if listed and frame[name].dtype == object:
            frame[name] = pd.Categorical(frame[name], categories=listed.values)
    arrow = pa.Table.from_pandas(frame, preserve_index=False)
    assert pa.types.is_dictionary(arrow.schema.field("service_type").type)
    assert coded_counts_module.coded_counts(arrow, coded(contract), all_dimensions(contract)) is not None  # no fallback
    assert standard_counts(frame, contract).equals(sql_counts(arrow, contract))
