"""Checks beside the intake assets: predicates over the whole warehouse, value-free results.

Each predicate is a pure function over a DuckDB connection (and the network folder) returning a
``Finding``; the ``@asset_check`` wrappers only fetch resources and translate. Checks are not
partitioned: "every loaded bundle reconciles" is a statement about the warehouse, and a run that
loads one partition re-checks all of it (each is one scan in DuckDB).

All four sit on ``intake``, the asset every intake run materialises. On the staged and count
assets (materialised only when a bundle adds rows to them) every quarantine-only run would record
their checks as skipped, and the UI would show them as not passing.
"""

# No `from __future__ import annotations`: Dagster reads config and resource types from the
# signatures at definition time.

import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check

from dvnet.assets.intake.assets import INTAKE
from dvnet.contracts.codes import DAYS_TO_CONTACT_BUCKETS, RISK_INDICATORS
from dvnet.contracts.network import Network
from dvnet.contracts.registry import Contract, all_contracts
from dvnet.assets.resources import NetworkResource, WarehouseResource
from dvnet.assets.warehouse.lib.schema import ensure_schema, staged_table

#: Tiers whose agencies are expected to contribute every period (Tier 1 sends nothing).
CONTRIBUTING_TIER = 2
KEY_COLUMNS = ("bundle_id", "agency_id", "period", "contract_id")


@dataclass
class Finding:
    """A check's verdict and its value-free evidence (counts, codes, ids)."""

    passed: bool
    metadata: dict = field(default_factory=dict)

    def result(self, severity: AssetCheckSeverity = AssetCheckSeverity.ERROR) -> AssetCheckResult:
        meta = {k: (MetadataValue.json(v) if isinstance(v, (dict, list)) else v) for k, v in self.metadata.items()}
        return AssetCheckResult(passed=self.passed, severity=severity, metadata=meta)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]).fetchone()[0] > 0


# --- bundles_reconcile ---------------------------------------------------------------------------


def bundles_reconcile(con: duckdb.DuckDBPyConnection) -> Finding:
    """Every ledger row: record_count = rows_loaded, and the warehouse holds exactly those rows.

    Record mode: staged rows of the bundle = rows_loaded (0 once superseded); aggregate mode:
    count rows of the bundle = rows_loaded. Rows whose bundle is not a current ledger row are
    orphans (a torn load would leave some).
    """
    ensure_schema(con)
    bad: set[str] = set()
    bad |= {r[0] for r in con.execute("SELECT bundle_id FROM ledger WHERE rows_loaded <> record_count").fetchall()}
    expected = "CASE WHEN l.superseded_by IS NULL THEN l.rows_loaded ELSE 0 END"
    bad |= {r[0] for r in con.execute(
        f"""SELECT l.bundle_id FROM ledger l
            LEFT JOIN (SELECT bundle_id, count(*) AS n FROM contribution_counts GROUP BY bundle_id) c USING (bundle_id)
            WHERE l.mode = 'aggregate' AND coalesce(c.n, 0) <> {expected}"""
    ).fetchall()}  # fmt: skip
    orphans = con.execute(
        "SELECT count(*) FROM contribution_counts c WHERE NOT EXISTS "
        "(SELECT 1 FROM ledger l WHERE l.bundle_id = c.bundle_id AND l.superseded_by IS NULL)"
    ).fetchone()[0]
    for contract in all_contracts():
        table = staged_table(contract.id)
        if not _exists(con, table):
            continue
        bad |= {r[0] for r in con.execute(
            f"""SELECT l.bundle_id FROM ledger l
                LEFT JOIN (SELECT bundle_id, count(*) AS n FROM {table} GROUP BY bundle_id) s USING (bundle_id)
                WHERE l.mode = 'record' AND l.contract_id = ? AND coalesce(s.n, 0) <> {expected}""",
            [contract.id],
        ).fetchall()}  # fmt: skip
        orphans += con.execute(
            f"SELECT count(*) FROM {table} s WHERE NOT EXISTS "
            "(SELECT 1 FROM ledger l WHERE l.bundle_id = s.bundle_id AND l.superseded_by IS NULL)"
        ).fetchone()[0]
    bundles = con.execute("SELECT count(*) FROM ledger").fetchone()[0]
    return Finding(
        passed=not bad and orphans == 0,
        metadata={"bundles_checked": bundles, "bundles_not_reconciling": len(bad), "bundle_ids": sorted(bad)[:50], "orphan_rows": orphans},
    )


# --- loaded_rows_conform -------------------------------------------------------------------------


def _rules(contract: Contract) -> list[tuple[str, str, str, list]]:
    """(column, rule, SQL condition for a violating row, parameters) from the output model."""
    rules = []
    for name, col in contract.output.to_schema().columns.items():
        c = _q(name)
        if not col.nullable:
            rules.append((name, "not_null", f"{c} IS NULL", []))
        for check in col.checks:
            stats = check.statistics or {}
            if check.name == "isin":
                rules.append((name, "isin", f"{c} IS NOT NULL AND CAST({c} AS VARCHAR) NOT IN (SELECT unnest(?::VARCHAR[]))", [[str(v) for v in stats["allowed_values"]]]))
            elif check.name == "str_matches":
                rules.append((name, "str_matches", f"{c} IS NOT NULL AND NOT regexp_full_match(CAST({c} AS VARCHAR), ?)", [str(stats["pattern"])]))
            elif check.name == "greater_than_or_equal_to":
                rules.append((name, "ge", f"{c} < ?", [stats["min_value"]]))
    return rules


def staged_rows_conform(con: duckdb.DuckDBPyConnection, contract: Contract) -> Finding:
    """Staged rows of ``contract`` still satisfy its output model: columns, nulls, codes, patterns."""
    table = staged_table(contract.id)
    if not _exists(con, table):
        return Finding(True, {"rows_checked": 0})
    columns = [r[0] for r in con.execute("SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position", [table]).fetchall()]
    expected = [*KEY_COLUMNS, *contract.output_columns()]
    violations: dict[str, int] = {}
    if sorted(columns) != sorted(expected):
        violations["table_columns"] = len(set(columns) ^ set(expected))
    else:
        for column, rule, condition, params in _rules(contract):
            n = con.execute(f"SELECT count(*) FROM {table} WHERE {condition}", params).fetchone()[0]
            if n:
                violations[f"{column}:{rule}"] = n
        n = con.execute(f"SELECT count(*) FROM {table} WHERE contract_id <> ? OR {_q(contract.quarter_column)} IS DISTINCT FROM period", [contract.id]).fetchone()[0]
        if n:
            violations["period:matches_bundle"] = n
    rows = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    return Finding(not violations, {"rows_checked": rows, "violations_by_column_rule": violations})


def _dimension_codes(contract: Contract) -> dict[str, list[str]]:
    codes: dict[str, list[str]] = {"indicator": list(RISK_INDICATORS), "days_to_first_contact_bucket": [*DAYS_TO_CONTACT_BUCKETS, "no_contact_yet"]}
    for name, col in contract.output.to_schema().columns.items():
        allowed = next((c.statistics.get("allowed_values") for c in col.checks if c.name == "isin"), None)
        if allowed is not None:
            codes[name] = [str(v) for v in allowed]
        elif str(col.dtype) == "boolean":
            codes[name] = ["true", "false"]
    return codes


def counts_conform(con: duckdb.DuckDBPyConnection) -> Finding:
    """Count rows name a standard table of their contract, use its dimensions only, valid codes, n ≥ 1."""
    ensure_schema(con)
    count_columns = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'contribution_counts'").fetchall()}
    dims = sorted(count_columns - {*KEY_COLUMNS, "table_name", "n"})
    violations: dict[str, int] = {}

    def add(key: str, sql: str, params: list) -> None:
        n = con.execute(f"SELECT count(*) FROM contribution_counts WHERE {sql}", params).fetchone()[0]
        if n:
            violations[key] = violations.get(key, 0) + n

    add("n:at_least_1", "n IS NULL OR n < 1", [])
    known = [(c.id, t.name) for c in all_contracts() for t in c.standard_tables]
    add("table_name:known", "NOT list_contains(?::VARCHAR[], contract_id || '/' || table_name)", [[f"{c}/{t}" for c, t in known]])
    for contract in all_contracts():
        codes = _dimension_codes(contract)
        nullable = {n for n, col in contract.output.to_schema().columns.items() if col.nullable}
        for t in contract.standard_tables:
            where = "contract_id = ? AND table_name = ?"
            for d in dims:
                if d not in t.dims:
                    add(f"{d}:unused_is_null", f"{where} AND {_q(d)} IS NOT NULL", [contract.id, t.name])
                    continue
                if d not in nullable:
                    add(f"{d}:not_null", f"{where} AND {_q(d)} IS NULL", [contract.id, t.name])
                if d in codes:
                    add(f"{d}:isin", f"{where} AND {_q(d)} IS NOT NULL AND {_q(d)} NOT IN (SELECT unnest(?::VARCHAR[]))", [contract.id, t.name, codes[d]])
    rows = con.execute("SELECT count(*) FROM contribution_counts").fetchone()[0]
    return Finding(not violations, {"rows_checked": rows, "violations_by_column_rule": violations})


def loaded_rows_conform(con: duckdb.DuckDBPyConnection) -> Finding:
    """Every staged table (latest contract version of each) and the count rows conform."""
    findings = {staged_table(c.id): staged_rows_conform(con, c) for c in {c.id: c for c in all_contracts()}.values()}
    findings["contribution_counts"] = counts_conform(con)
    return Finding(
        passed=all(f.passed for f in findings.values()),
        metadata={
            "rows_checked": sum(f.metadata["rows_checked"] for f in findings.values()),
            "violations_by_table": {t: f.metadata.get("violations_by_column_rule", {}) for t, f in findings.items() if not f.passed},
        },
    )


# --- quarantine_explained ------------------------------------------------------------------------

REASON_SUFFIX = ".reason.json"


def quarantine_explained(con: duckdb.DuckDBPyConnection, quarantine: Path) -> Finding:
    """Every file in quarantine/ has its ``.reason.json`` and a matching ``quarantine_log`` row."""
    ensure_schema(con)
    files = sorted(p for p in Path(quarantine).glob("*") if p.is_file() and not p.name.endswith(REASON_SUFFIX) and not p.name.startswith("."))
    logged = set(con.execute("SELECT file_name, file_sha256 FROM quarantine_log").fetchall())
    no_reason, unlogged = [], []
    by_reason: dict[str, int] = {}
    for path in files:
        reason_file = path.with_name(path.name + REASON_SUFFIX)
        try:
            reason = json.loads(reason_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            no_reason.append(path.name)
            continue
        by_reason[str(reason.get("reason"))] = by_reason.get(str(reason.get("reason")), 0) + 1
        if (reason.get("file_name"), reason.get("file_sha256")) not in logged:
            unlogged.append(path.name)
    return Finding(
        passed=not no_reason and not unlogged,
        metadata={
            "quarantined_files": len(files),
            "quarantined_by_reason": dict(sorted(by_reason.items())),
            "files_without_reason": len(no_reason),
            "files_without_log_row": len(unlogged),
        },
    )


# --- agencies_contributed_this_period ------------------------------------------------------------


def agencies_contributed(con: duckdb.DuckDBPyConnection, network: Network) -> Finding:
    """Active Tier ≥ 2 agencies with a current loaded bundle for the latest period anyone sent."""
    ensure_schema(con)
    latest = con.execute("SELECT max(period) FROM ledger WHERE superseded_by IS NULL").fetchone()[0]
    expected = sorted(o.id for o in network.organisations if o.tier >= CONTRIBUTING_TIER and o.active)
    if latest is None:
        return Finding(not expected, {"latest_period": "none", "agencies_expected": len(expected), "agencies_missing": expected})
    sent = {r[0] for r in con.execute("SELECT DISTINCT agency_id FROM ledger WHERE period = ? AND superseded_by IS NULL", [latest]).fetchall()}
    missing = [a for a in expected if a not in sent]
    return Finding(
        passed=not missing,
        metadata={"latest_period": latest, "agencies_expected": len(expected), "agencies_contributed": len(expected) - len(missing), "agencies_missing": missing},
    )


# --- Dagster wrappers ----------------------------------------------------------------------------


@asset_check(asset=INTAKE, name="bundles_reconcile", description="Every loaded bundle: records in its manifest = rows loaded = rows held; no orphan rows.")
def bundles_reconcile_check(warehouse: WarehouseResource) -> AssetCheckResult:
    with warehouse.get_connection() as con:
        return bundles_reconcile(con).result()


@asset_check(asset=INTAKE, name="quarantine_explained", description="Every quarantined file has a reason file and a quarantine_log row.")
def quarantine_explained_check(network: NetworkResource, warehouse: WarehouseResource) -> AssetCheckResult:
    with warehouse.get_connection() as con:
        return quarantine_explained(con, network.paths.quarantine).result()


@asset_check(
    asset=INTAKE,
    name="agencies_contributed_this_period",
    description="Freshness: active Tier 2+ agencies without a loaded bundle for the latest period (a warning, not an error).",
)
def agencies_contributed_check(network: NetworkResource, warehouse: WarehouseResource) -> AssetCheckResult:
    with warehouse.get_connection() as con:
        return agencies_contributed(con, network.coordinator_context().network).result(AssetCheckSeverity.WARN)


@asset_check(
    asset=INTAKE,
    name="loaded_rows_conform",
    description="Staged rows re-validate against their contract's output model (columns, nulls, codes, patterns); "
    "count rows name a known standard table, its dimensions only, valid codes, n ≥ 1.",
)
def loaded_rows_conform_check(warehouse: WarehouseResource) -> AssetCheckResult:
    with warehouse.get_connection() as con:
        return loaded_rows_conform(con).result()


CHECKS = [bundles_reconcile_check, loaded_rows_conform_check, quarantine_explained_check, agencies_contributed_check]
