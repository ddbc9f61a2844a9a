"""Checks beside the intake assets: thin wrappers around the predicates in ``lib/checks.py``.

Each wrapper fetches resources, calls its predicate and turns the value-free ``Finding`` into an
``AssetCheckResult``. Checks are not partitioned. ``loaded_rows_conform`` and
``bundles_reconcile`` look at the bundles this run's ``intake`` materialisation says it loaded
(and those they replaced); the other two read the quarantine and the ledger (one row per bundle).

All four sit on ``intake``, the asset every intake run materialises. On the staged and count
assets (materialised only when a bundle adds rows to them) every quarantine-only run would record
their checks as skipped, and the UI would show them as not passing.
"""

# No `from __future__ import annotations`: Dagster reads config and resource types from the
# signatures at definition time.

from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, DagsterEventType, MetadataValue, asset_check

from dvnet.assets.intake.assets import INTAKE
from dvnet.assets.intake.lib.checks import Finding, agencies_contributed, bundles_reconcile, loaded_rows_conform, quarantine_explained
from dvnet.assets.resources import NetworkResource, WarehouseResource


def _result(finding: Finding, severity: AssetCheckSeverity = AssetCheckSeverity.ERROR) -> AssetCheckResult:
    meta = {k: (MetadataValue.json(v) if isinstance(v, (dict, list)) else v) for k, v in finding.metadata.items()}
    return AssetCheckResult(passed=finding.passed, severity=severity, metadata=meta)


def loaded_bundle_ids(context: AssetCheckExecutionContext) -> list[str]:
    """The bundles loaded by this run's ``intake`` materialisation (its ``bundles`` metadata).
    A check executed on its own, in a run without one, takes the latest ``intake``
    materialisation instead: the bundles most recently loaded."""
    instance = context.instance
    events = instance.all_logs(context.run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
    materialisations = [e.asset_materialization for e in events if e.asset_materialization and e.asset_materialization.asset_key == INTAKE]
    if not materialisations:
        latest = instance.get_latest_materialization_event(INTAKE)
        materialisations = [latest.asset_materialization] if latest is not None and latest.asset_materialization else []
    return [
        b["bundle_id"] for m in materialisations for b in m.metadata["bundles"].value if b["outcome"] == "loaded"
    ]  # fmt: skip


@asset_check(
    asset=INTAKE,
    name="bundles_reconcile",
    description="The bundles this run loaded, and those they replaced: records in the manifest = rows loaded = rows held; no orphan rows.",
)
def bundles_reconcile_check(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
    bundle_ids = loaded_bundle_ids(context)
    with warehouse.writer() as con:
        return _result(bundles_reconcile(con, bundle_ids))


@asset_check(asset=INTAKE, name="quarantine_explained", description="Every quarantined file has a reason file and a quarantine_log row.")
def quarantine_explained_check(network: NetworkResource, warehouse: WarehouseResource) -> AssetCheckResult:
    with warehouse.writer() as con:
        return _result(quarantine_explained(con, network.paths.quarantine))


@asset_check(
    asset=INTAKE,
    name="agencies_contributed_this_period",
    description="Freshness: active Tier 2+ agencies without a loaded bundle for the latest period (a warning, not an error).",
)
def agencies_contributed_check(network: NetworkResource, warehouse: WarehouseResource) -> AssetCheckResult:
    with warehouse.writer() as con:
        return _result(agencies_contributed(con, network.coordinator_context().network), AssetCheckSeverity.WARN)


@asset_check(
    asset=INTAKE,
    name="loaded_rows_conform",
    description="The rows this run loaded re-validate: staged rows against their contract's output model (every rule, "
    "by the engine the contributor and ingest use); count rows name a known standard table, its dimensions only, valid codes, n ≥ 1; "
    "regions are the network's own (its registry's geography).",
)
def loaded_rows_conform_check(context: AssetCheckExecutionContext, network: NetworkResource, warehouse: WarehouseResource) -> AssetCheckResult:
    bundle_ids = loaded_bundle_ids(context)
    geography = network.coordinator_context().network.geography
    with warehouse.writer() as con:
        return _result(loaded_rows_conform(con, bundle_ids, geography))


CHECKS = [bundles_reconcile_check, loaded_rows_conform_check, quarantine_explained_check, agencies_contributed_check]
