"""Warehouse group: indicator cubes built from every agency's contributions.

Thin wrappers over ``dvnet.assets.warehouse.lib.cubes``. Cubes hold unsuppressed sums and never leave the
coordinator; metadata says how many cells and agencies, never a cell's value. ``dvnet ingest``'s
batch run rebuilds the group and reports it with the same metadata and checks
(``assets/intake/batch.py``), so its materialisations come from here either way.
"""

# No `from __future__ import annotations`: Dagster reads resource types from the signatures.

from dagster import AssetCheckResult, AssetCheckSeverity, AssetKey, MaterializeResult, asset, asset_check

from dvnet.assets.warehouse.lib.cubes import CUBE_FAMILIES, RELEASE_TABLES, cube_reconciles, rebuild_cubes, unduplicated_people_table
from dvnet.assets.resources import NetworkResource, WarehouseResource
from dvnet.contracts.network import Network

GROUP = "warehouse"
CONTRIBUTIONS = AssetKey("contribution_counts")
STAGED = [AssetKey("staged_referrals"), AssetKey("staged_service_episodes")]


def cube_metadata(con, network: Network, family: str) -> dict:
    """Rebuild ``family``'s cubes; the materialisation's value-free metadata (cells, agencies, periods)."""
    sizes = rebuild_cubes(con, network, family)
    agencies = con.execute("SELECT count(DISTINCT agency_id) FROM contribution_counts").fetchall()[0][0]
    periods = [r[0] for r in con.execute("SELECT DISTINCT period FROM contribution_counts ORDER BY 1").fetchall()]
    return {"cubes": len(sizes), "cells": sum(sizes.values()), "contributing_agencies": agencies, "periods": ", ".join(periods)}


def cubes_reconcile(con, family: str) -> tuple[bool, dict]:
    """Whether each of ``family``'s cubes totals the contributions it sums; the check's metadata."""
    wanted, bad = CUBE_FAMILIES[family], []
    for spec in (s for s in RELEASE_TABLES if wanted(s.name)):
        cube, source = cube_reconciles(con, spec.name)
        if cube != source:
            bad.append(spec.name)
    return not bad, {"cubes_not_reconciling": ", ".join(bad) or "none"}


def reconcile_check_name(family: str) -> str:
    return f"{family}_reconcile"


def _cube_asset(family: str, description: str):
    @asset(name=family, group_name=GROUP, deps=[CONTRIBUTIONS, *STAGED], description=description)
    def _cubes(network: NetworkResource, warehouse: WarehouseResource) -> MaterializeResult:
        with warehouse.get_connection() as con:
            return MaterializeResult(metadata=cube_metadata(con, network.coordinator_context().network, family))

    @asset_check(asset=family, name=reconcile_check_name(family), description="Each cube's total equals the contributions it sums.")
    def _reconcile(warehouse: WarehouseResource) -> AssetCheckResult:
        with warehouse.get_connection() as con:
            passed, metadata = cubes_reconcile(con, family)
        return AssetCheckResult(passed=passed, severity=AssetCheckSeverity.ERROR, metadata=metadata)

    return _cubes, _reconcile


service_indicator_cubes, service_indicator_cubes_reconcile = _cube_asset(
    "service_indicator_cubes", "Service episodes by quarter × region × service type × risk level; risk-indicator prevalence; outcomes by service type."
)
equity_cubes, equity_cubes_reconcile = _cube_asset(
    "equity_cubes", "Outcomes (safety plan, protection order, housing at exit) by gender, age band, Indigenous identity, disability, language and region."
)
referral_flow_cubes, referral_flow_cubes_reconcile = _cube_asset(
    "referral_flow_cubes", "Referrals by referring → receiving organisation type, outcome, handoff (warm/standard) and days to first contact."
)


def people_metadata(con) -> dict:
    """Rebuild ``cube_unduplicated_people``; the materialisation's metadata."""
    return {"distinct_people": unduplicated_people_table(con)}


@asset(group_name=GROUP, deps=[AssetKey("staged_research_extracts")])
def unduplicated_people(warehouse: WarehouseResource) -> MaterializeResult:
    """People seen across Tier 4 agencies, counted once per project-scoped linkage token (Tier 4 data only)."""
    with warehouse.get_connection() as con:
        return MaterializeResult(metadata=people_metadata(con))


ASSETS = [service_indicator_cubes, equity_cubes, referral_flow_cubes, unduplicated_people]
CHECKS = [service_indicator_cubes_reconcile, equity_cubes_reconcile, referral_flow_cubes_reconcile]
