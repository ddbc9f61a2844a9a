"""Checks beside the intake assets: one op evaluating the predicates in ``lib/checks.py``.

The four checks share one op (``multi_asset_check``): an intake run executes one check step, with
one warehouse connection, instead of four (each step costs Dagster events, resource set-up and a
warehouse connection: most of a small bundle's run). Each check can still be executed on its own
(``can_subset``). Each predicate's value-free ``Finding`` becomes an ``AssetCheckResult``. Checks
are not partitioned. ``loaded_rows_conform`` and ``bundles_reconcile`` look at the bundles this run's ``intake`` materialisation says it loaded
(and those they replaced); the other two read the quarantine and the ledger (one row per bundle).

All four sit on ``intake``, the asset every intake run materialises. On the staged and count
assets (materialised only when a bundle adds rows to them) every quarantine-only run would record
their checks as skipped, and the UI would show them as not passing.
"""

# No `from __future__ import annotations`: Dagster reads config and resource types from the
# signatures at definition time.

from collections.abc import Iterator

from dagster import AssetCheckExecutionContext, AssetCheckKey, AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, DagsterEventType, MetadataValue, multi_asset_check

from dvnet.assets.intake.assets import INTAKE
from dvnet.assets.intake.lib.checks import Finding, agencies_contributed, bundles_reconcile, loaded_rows_conform, quarantine_explained
from dvnet.assets.resources import NetworkResource, WarehouseResource


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


BUNDLES_RECONCILE = "bundles_reconcile"
QUARANTINE_EXPLAINED = "quarantine_explained"
AGENCIES_CONTRIBUTED = "agencies_contributed_this_period"
LOADED_ROWS_CONFORM = "loaded_rows_conform"
SPECS = [
    AssetCheckSpec(BUNDLES_RECONCILE, asset=INTAKE, description=(
        "The bundles this run loaded, and those they replaced: records in the manifest = rows loaded = rows held; no orphan rows.")),
    AssetCheckSpec(QUARANTINE_EXPLAINED, asset=INTAKE, description="Every quarantined file has a reason file and a quarantine_log row."),
    AssetCheckSpec(AGENCIES_CONTRIBUTED, asset=INTAKE, description=(
        "Freshness: active Tier 2+ agencies without a loaded bundle for the latest period (a warning, not an error).")),
    AssetCheckSpec(LOADED_ROWS_CONFORM, asset=INTAKE, description=(
        "The rows this run loaded conform: staged rows to their contract's output model (every rule, by the engine the contributor "
        "and ingest use: re-validated, unless `dvnet ingest` encoded the bundle's staged file from the rows it validated and the stored file still has those bytes); "
        "count rows name a known standard table, its dimensions only, valid codes, n ≥ 1; regions are the network's own (its registry's geography).")),
]  # fmt: skip


@multi_asset_check(name="intake_checks", specs=SPECS, can_subset=True)
def intake_checks(context: AssetCheckExecutionContext, network: NetworkResource, warehouse: WarehouseResource) -> Iterator[AssetCheckResult]:
    """The intake checks selected for this run (all four in an intake run), on one connection."""
    wanted = {key.name for key in context.selected_asset_check_keys}
    bundle_ids = loaded_bundle_ids(context) if wanted & {BUNDLES_RECONCILE, LOADED_ROWS_CONFORM} else []
    with warehouse.writer() as con:
        for name, finding, severity in evaluate(wanted, bundle_ids, network, con):
            yield AssetCheckResult(asset_key=INTAKE, check_name=name, passed=finding.passed, severity=severity, metadata=check_metadata(finding))


def evaluate(wanted: set[str], bundle_ids: list[str], network: NetworkResource, con,
             staged: dict[str, Finding] | None = None) -> Iterator[tuple[str, Finding, AssetCheckSeverity]]:  # fmt: skip
    """(check name, finding, severity) of each intake check in ``wanted``, in ``SPECS`` order;
    ``bundle_ids``: the bundles the run loaded (what the two scoped checks look at); ``staged``:
    the findings on their staged rows, when the caller took them as it loaded (``loaded_rows_conform``)."""
    network_now = network.coordinator_context().network if wanted & {AGENCIES_CONTRIBUTED, LOADED_ROWS_CONFORM} else None
    if BUNDLES_RECONCILE in wanted:
        yield BUNDLES_RECONCILE, bundles_reconcile(con, bundle_ids), AssetCheckSeverity.ERROR
    if QUARANTINE_EXPLAINED in wanted:
        yield QUARANTINE_EXPLAINED, quarantine_explained(con, network.paths.quarantine), AssetCheckSeverity.ERROR
    if AGENCIES_CONTRIBUTED in wanted:
        yield AGENCIES_CONTRIBUTED, agencies_contributed(con, network_now), AssetCheckSeverity.WARN
    if LOADED_ROWS_CONFORM in wanted:
        yield LOADED_ROWS_CONFORM, loaded_rows_conform(con, bundle_ids, network_now.geography, staged=staged), AssetCheckSeverity.ERROR


def check_metadata(finding: Finding) -> dict:
    """A finding's value-free evidence as Dagster metadata."""
    return {k: (MetadataValue.json(v) if isinstance(v, (dict, list)) else v) for k, v in finding.metadata.items()}


def check_key(name: str) -> AssetCheckKey:
    """The key of the intake check ``name``, to select it alone."""
    return AssetCheckKey(INTAKE, name)


CHECKS = [intake_checks]
