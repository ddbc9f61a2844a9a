"""The warehouse group's checks (``<family>_reconcile``, one per cube family) compare each cube's
total with the contributions it sums, and fail, through Dagster, when a cube lost or gained
counts."""

from __future__ import annotations

import duckdb
import pytest

from dvnet.assets.warehouse.lib.cubes import CUBE_FAMILIES, RELEASE_TABLES, cube_reconciles

CHECK_NAMES = ("equity_cubes_reconcile", "referral_flow_cubes_reconcile", "service_indicator_cubes_reconcile")


@pytest.fixture
def built(ck, kit, instance):
    """Two agencies' contributions loaded (records and counts, both contracts), cubes built."""
    from dagster import materialize

    from dvnet.assets.resources import build_resources
    from dvnet.assets.warehouse.assets import ASSETS, CHECKS

    kit.drop("a", kit.records("shelter-a", n=40, seed=1).blob)
    kit.drop("b", kit.counts("shelter-a", "referral", n=30, seed=2).blob)
    kit.drop("c", kit.records("legal-b", "referral", n=25, seed=3).blob)
    for agency in ("shelter-a", "legal-b"):
        assert ck.run_partition(kit, instance, agency, ck.PERIOD).success
    first = materialize([*ASSETS, *CHECKS], instance=instance, resources=build_resources(kit.root), raise_on_error=False)
    return first, kit


def _checks_alone(kit, instance) -> dict[str, bool]:
    from dagster import AssetSelection, materialize

    from dvnet.assets.resources import build_resources
    from dvnet.assets.warehouse.assets import ASSETS, CHECKS

    result = materialize([*ASSETS, *CHECKS], selection=AssetSelection.checks(*CHECKS), instance=instance, resources=build_resources(kit.root))
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def test_every_cube_family_reconciles_after_a_build(built):
    first, _ = built
    assert CHECK_NAMES == tuple(sorted(f"{family}_reconcile" for family in CUBE_FAMILIES))
    assert {e.check_name: e.passed for e in first.get_asset_check_evaluations()} == {f"{family}_reconcile": True for family in CUBE_FAMILIES}


@pytest.mark.parametrize(("family", "damage"), zip(sorted(CUBE_FAMILIES), ["a lost cell", "an inflated cell", "a lost cell"]))
def test_a_cube_that_lost_or_gained_counts_fails_its_familys_check(built, instance, family, damage):
    _, kit = built
    name = next(s.name for s in RELEASE_TABLES if CUBE_FAMILIES[family](s.name))
    with duckdb.connect(str(kit.paths.warehouse)) as con:
        assert cube_reconciles(con, name)[0] == cube_reconciles(con, name)[1] > 0
        if damage == "a lost cell":
            con.execute(f"DELETE FROM cube_{name} WHERE rowid = (SELECT min(rowid) FROM cube_{name})")
        else:
            con.execute(f"UPDATE cube_{name} SET n = n + 1 WHERE rowid = (SELECT min(rowid) FROM cube_{name})")
        cube, source = cube_reconciles(con, name)
        assert cube != source
    checks = _checks_alone(kit, instance)
    assert checks == {f"{f}_reconcile": f != family for f in CUBE_FAMILIES}
