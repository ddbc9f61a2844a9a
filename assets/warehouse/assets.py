"""Warehouse group: indicator cubes built from every agency's contributions.

Thin wrappers over ``dvnet.assets.warehouse.lib.cubes``. Cubes hold unsuppressed sums and never leave the
coordinator; metadata says how many cells and agencies, never a cell's value.
"""

# No `from __future__ import annotations`: Dagster reads resource types from the signatures.

from dagster import AssetCheckResult, AssetCheckSeverity, AssetKey, MaterializeResult, asset, asset_check

from dvnet.assets.warehouse.lib.cubes import CUBE_FAMILIES, RELEASE_TABLES, cube_reconciles, rebuild_cubes, unduplicated_people_table
from dvnet.assets.resources import NetworkResource, WarehouseResource

CONTRIBUTIONS = AssetKey("contribution_counts")
STAGED = [AssetKey("staged_referrals"), AssetKey("staged_service_episodes")]


def _cube_asset(family: str, description: str):
    @asset(name=family, group_name="warehouse", deps=[CONTRIBUTIONS, *STAGED], description=description)
    def _cubes(network: NetworkResource, warehouse: WarehouseResource) -> MaterializeResult:
        with warehouse.get_connection() as con:
            sizes = rebuild_cubes(con, network.coordinator_context().network, family)
            agencies = con.execute("SELECT count(DISTINCT agency_id) FROM contribution_counts").fetchone()[0]
            periods = [r[0] for r in con.execute("SELECT DISTINCT period FROM contribution_counts ORDER BY 1").fetchall()]
        return MaterializeResult(
            metadata={"cubes": len(sizes), "cells": sum(sizes.values()), "contributing_agencies": agencies, "periods": ", ".join(periods)}
        )

    @asset_check(asset=family, name=f"{family}_reconcile", description="Each cube's total equals the contributions it sums.")
    def _reconcile(warehouse: WarehouseResource) -> AssetCheckResult:
        wanted = CUBE_FAMILIES[family]
        bad = []
        with warehouse.get_connection() as con:
            for spec in (s for s in RELEASE_TABLES if wanted(s.name)):
                cube, source = cube_reconciles(con, spec.name)
                if cube != source:
                    bad.append(spec.name)
        return AssetCheckResult(passed=not bad, severity=AssetCheckSeverity.ERROR, metadata={"cubes_not_reconciling": ", ".join(bad) or "none"})

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


@asset(group_name="warehouse", deps=[AssetKey("staged_research_extracts")])
def unduplicated_people(warehouse: WarehouseResource) -> MaterializeResult:
    """People seen across Tier 4 agencies, counted once per project-scoped linkage token (Tier 4 data only)."""
    with warehouse.get_connection() as con:
        people = unduplicated_people_table(con)
    return MaterializeResult(metadata={"distinct_people": people})


ASSETS = [service_indicator_cubes, equity_cubes, referral_flow_cubes, unduplicated_people]
CHECKS = [service_indicator_cubes_reconcile, equity_cubes_reconcile, referral_flow_cubes_reconcile]
