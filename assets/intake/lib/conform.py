"""The contract rules as the coordinator applies them to loaded data, written once for both uses:
ingest refuses a bundle that breaks them, and the intake checks re-apply them to what a run loaded.

Record rows go through ``contracts.conformance`` (the one engine that evaluates a contract's
pandera model; the contributor runs it too). Count rows are held to the contracts' standard
tables, with the code lists read from the output models. Results name columns and rules and
count rows, never a value.
"""

from __future__ import annotations

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dvnet.contracts.conformance import Failure, schema_failures
from dvnet.contracts.geography import UNKNOWN, Geography
from dvnet.contracts.registry import Contract, all_contracts

#: Arrow types of a payload or a staged table, as the pandas types the output models declare
#: (text stays Arrow-backed: no copy of the buffers).
_TEXT = pd.StringDtype("pyarrow")
_PANDAS_TYPES = {pa.string(): _TEXT, pa.large_string(): _TEXT, pa.bool_(): pd.BooleanDtype(), pa.int64(): pd.Int64Dtype()}


def record_failures(table: pa.Table, contract: Contract) -> list[Failure]:
    """Every (column, rule) of ``contract``'s output model that some rows of ``table`` fail."""
    frame = table.to_pandas(types_mapper=_PANDAS_TYPES.get)
    return schema_failures(frame, contract.output_schema)


#: The rule a region outside the network's geography breaks, as checks and refusals name it.
OFF_GEOGRAPHY = "region:in_network_geography"


def off_geography_rows(table: pa.Table, geography: Geography) -> int:
    """Rows whose ``region`` is not one of the network's regions (nor ``unknown``). The contracts
    hold a region's form only; which regions exist is the network's (its registry's geography)."""
    if "region" not in table.column_names:
        return 0
    region = table["region"].cast(pa.string())
    off = pc.and_(pc.is_valid(region), pc.invert(pc.is_in(region, value_set=pa.array([*geography.region_ids, UNKNOWN]))))
    return int(pc.sum(off).as_py() or 0)


def rule_name(failure: Failure) -> str:
    """``column:rule`` without the rule's arguments (a code list or a pattern is the contract's)."""
    return f"{failure.column}:{failure.rule.split('(', 1)[0]}"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def count_violations(con: duckdb.DuckDBPyConnection, relation: str, where: str = "TRUE", params: list | None = None) -> dict[str, int]:
    """``column:rule`` -> rows of ``relation`` (count rows: ``contract_id``, ``table_name``,
    dimension columns, ``n``) that break it, over the rows matching ``where`` (trusted SQL with
    ``params``). The rules: n ≥ 1; the table is a standard table of the row's contract; a
    dimension the table does not use is NULL; one it uses is present unless its output column is
    nullable, and holds one of its codes (``Contract.dimension_codes``). One scan."""
    columns = [d[0] for d in con.execute(f"SELECT * FROM {relation} LIMIT 0").description]
    dims = [c for c in columns if c not in ("bundle_id", "agency_id", "period", "contract_id", "table_name", "n")]
    # Each rule holds for the rows of a set of (contract, table) pairs, named "contract/table".
    unused: dict[str, list[str]] = {d: [] for d in dims}
    required: dict[str, list[str]] = {d: [] for d in dims}
    coded: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for contract in all_contracts():
        codes = contract.dimension_codes()
        nullable = {name for name, col in contract.output_schema.columns.items() if col.nullable}
        for t in contract.standard_tables:
            pair = f"{contract.id}/{t.name}"
            for d in dims:
                if d not in t.dims:
                    unused[d].append(pair)
                    continue
                if d not in nullable:
                    required[d].append(pair)
                if d in codes:
                    coded.setdefault((d, codes[d]), []).append(pair)
    pair_in = "list_contains(?::VARCHAR[], (contract_id || '/' || table_name))"
    rules: list[tuple[str, str, list]] = [
        ("n:at_least_1", "n IS NULL OR n < 1", []),
        ("table_name:known", f"NOT {pair_in}", [[f"{c.id}/{t.name}" for c in all_contracts() for t in c.standard_tables]]),
        *((f"{d}:unused_is_null", f"{pair_in} AND {_q(d)} IS NOT NULL", [pairs]) for d, pairs in unused.items() if pairs),
        *((f"{d}:not_null", f"{pair_in} AND {_q(d)} IS NULL", [pairs]) for d, pairs in required.items() if pairs),
        *((f"{d}:isin", f"{pair_in} AND NOT list_contains(?::VARCHAR[], CAST({_q(d)} AS VARCHAR))", [pairs, list(codes)])
          for (d, codes), pairs in coded.items()),
    ]  # fmt: skip
    counted = ", ".join(f"count(*) FILTER (WHERE {sql})" for _, sql, _ in rules)  # SQL DuckDB and PostgreSQL both read
    args = [a for _, _, rule_args in rules for a in rule_args]
    found = con.execute(f"SELECT {counted} FROM {relation} WHERE {where}", [*args, *(params or [])]).fetchone()
    violations: dict[str, int] = {}
    for (key, _, _), n in zip(rules, found):
        if n:
            violations[key] = violations.get(key, 0) + int(n)
    return violations
