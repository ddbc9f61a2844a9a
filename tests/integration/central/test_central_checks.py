"""The intake checks are predicates that fail when what they guard is broken; ``loaded_rows_conform``
looks at the bundles its run loaded, never the whole warehouse."""

from __future__ import annotations

import duckdb
import pytest

from dvnet.assets.intake.lib import checks
from dvnet.assets.warehouse.lib import staged_files
from dvnet.contracts.registry import get_contract
from dvnet.common import network as store
from dvnet.pipelines.demo_network import demo_geography

GEOGRAPHY = demo_geography()  # the kit's network declares the demo's regions


@pytest.fixture
def con(ck, kit, instance):
    """The warehouse after intake runs: records from shelter-a and health-c, counts from legal-b, one quarantined file."""
    kit.drop("a", kit.records("shelter-a", n=20, seed=1).blob)
    kit.drop("b", kit.counts("legal-b", "referral", n=20, seed=2).blob)
    kit.drop("c", kit.records("health-c", n=8, seed=5).blob)
    kit.drop("bad", kit.records("shelter-a", n=5, seed=3).blob[:-3])
    for agency in ("shelter-a", "legal-b", "health-c"):
        ck.run_partition(kit, instance, agency, ck.PERIOD)
    ck.run_partition(kit, instance, "_unverified", "_unknown")
    connection = duckdb.connect(str(kit.paths.warehouse))
    yield connection
    connection.close()


def _loaded(con, agency: str | None = None) -> list[str]:
    sql, params = "SELECT bundle_id FROM ledger", []
    if agency:
        sql, params = sql + " WHERE agency_id = ?", [agency]
    return [r[0] for r in con.execute(sql + " ORDER BY bundle_id", params).fetchall()]


def test_checks_pass_on_a_clean_intake(con, kit):
    assert checks.bundles_reconcile(con, _loaded(con)).passed
    assert checks.staged_rows_conform(con, get_contract("service_episode"), _loaded(con), GEOGRAPHY).passed
    assert checks.counts_conform(con, _loaded(con), GEOGRAPHY).passed
    finding = checks.loaded_rows_conform(con, _loaded(con), GEOGRAPHY)
    assert finding.passed and finding.metadata["bundles_checked"] == 3
    staged, counts = (con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("staged_service_episode", "contribution_counts"))
    assert finding.metadata["rows_checked"] == staged + counts
    assert checks.quarantine_explained(con, kit.paths.quarantine).passed
    assert checks.agencies_contributed(con, store.load_network(kit.root)).passed


def test_bundles_reconcile_fails_on_a_missing_or_orphan_row(ck, con):
    loaded = _loaded(con)
    ck.alter_staged(con, "service_episode", "DELETE FROM staged_service_episode WHERE rowid = (SELECT min(rowid) FROM staged_service_episode)")
    finding = checks.bundles_reconcile(con, loaded)
    assert not finding.passed and finding.metadata["bundles_not_reconciling"] == 1
    con.execute("DELETE FROM ledger WHERE agency_id = 'legal-b'")
    assert checks.bundles_reconcile(con, loaded).metadata["orphan_rows"] > 0


def test_bundles_reconcile_looks_at_the_runs_bundles_and_those_they_replaced(ck, kit, instance, con):
    """Scoped: a bundle the run did not load is not read again (its own run reconciled it), but a
    bundle the run's correction replaced is, so rows a correction failed to remove are caught."""
    (shelter,), (health,) = _loaded(con, "shelter-a"), _loaded(con, "health-c")
    ck.alter_staged(con, "service_episode", "DELETE FROM staged_service_episode WHERE rowid = (SELECT min(rowid) FROM staged_service_episode WHERE bundle_id = ?)", [health])
    assert not checks.bundles_reconcile(con, [health]).passed
    assert checks.bundles_reconcile(con, [shelter]).passed and checks.bundles_reconcile(con, [shelter]).metadata["bundles_checked"] == 1
    con.close()
    fix = kit.records("shelter-a", n=7, seed=9, supersedes=shelter)
    kit.drop("fix", fix.blob)
    ck.run_partition(kit, instance, "shelter-a", ck.PERIOD)
    with duckdb.connect(str(kit.paths.warehouse)) as again:
        finding = checks.bundles_reconcile(again, [fix.bundle_id])
        assert finding.passed and finding.metadata["bundles_checked"] == 2  # the correction and the bundle it replaced
        # a row of the replaced bundle among the correction's rows (the files the run's check reads)
        ck.alter_staged(again, "service_episode", "INSERT INTO staged_service_episode SELECT * REPLACE (? AS bundle_id) FROM staged_service_episode "
                        "WHERE bundle_id = ? LIMIT 1", [shelter, fix.bundle_id])
        finding = checks.bundles_reconcile(again, [fix.bundle_id])
        assert not finding.passed and finding.metadata["bundle_ids"] == [shelter]  # a replaced bundle's row left behind


def test_loaded_rows_conform_fails_on_a_code_outside_its_list(ck, con):
    ck.alter_staged(con, "service_episode", "UPDATE staged_service_episode SET service_type = 'teleportation' WHERE rowid = (SELECT min(rowid) FROM staged_service_episode)")
    finding = checks.staged_rows_conform(con, get_contract("service_episode"), _loaded(con), GEOGRAPHY)
    assert not finding.passed and finding.metadata["violations_by_column_rule"] == {"service_type:isin": 1}
    assert "teleportation" not in repr(finding.metadata)  # counts, never values
    con.execute("UPDATE contribution_counts SET n = 0 WHERE rowid = (SELECT min(rowid) FROM contribution_counts)")
    con.execute("UPDATE contribution_counts SET risk_level = 'extreme' WHERE risk_level = 'high'")
    finding = checks.counts_conform(con, _loaded(con), GEOGRAPHY)
    assert not finding.passed and set(finding.metadata["violations_by_column_rule"]) == {"n:at_least_1", "risk_level:isin"}
    assert set(checks.loaded_rows_conform(con, _loaded(con), GEOGRAPHY).metadata["violations_by_table"]) == {"staged_service_episode", "contribution_counts"}


def test_loaded_rows_conform_holds_regions_to_the_network_geography(ck, con):
    ck.alter_staged(con, "service_episode", "UPDATE staged_service_episode SET region = 'atlantis' WHERE rowid = (SELECT min(rowid) FROM staged_service_episode)")
    con.execute("UPDATE contribution_counts SET region = 'atlantis' WHERE rowid = (SELECT min(rowid) FROM contribution_counts WHERE region IS NOT NULL)")
    staged = checks.staged_rows_conform(con, get_contract("service_episode"), _loaded(con), GEOGRAPHY)
    counts = checks.counts_conform(con, _loaded(con), GEOGRAPHY)
    assert staged.metadata["violations_by_column_rule"] == {"region:in_network_geography": 1}
    assert counts.metadata["violations_by_column_rule"] == {"region:in_network_geography": 1}
    assert "atlantis" not in repr(staged.metadata) + repr(counts.metadata)


def test_loaded_rows_conform_applies_every_rule_of_the_output_model(ck, con):
    """Rules the old SQL copy of the model never had (a pseudonym's pattern, a missing value) fail too."""
    ck.alter_staged(con, "service_episode", "UPDATE staged_service_episode SET episode_pseudonym = 'not-hex', gender = NULL WHERE rowid IN (SELECT rowid FROM staged_service_episode WHERE agency_id = 'shelter-a' LIMIT 2)")
    finding = checks.staged_rows_conform(con, get_contract("service_episode"), _loaded(con, "shelter-a"), GEOGRAPHY)
    assert finding.metadata["violations_by_column_rule"] == {"episode_pseudonym:str_matches": 2, "gender:not_nullable": 2}
    assert "not-hex" not in repr(finding.metadata)


def test_loaded_rows_conform_checks_only_the_bundles_it_is_given(ck, con):
    ck.alter_staged(con, "service_episode", "UPDATE staged_service_episode SET service_type = 'teleportation' WHERE agency_id = 'shelter-a'")
    assert not checks.loaded_rows_conform(con, _loaded(con, "shelter-a"), GEOGRAPHY).passed
    others = checks.loaded_rows_conform(con, _loaded(con, "health-c"), GEOGRAPHY)
    assert others.passed and others.metadata["bundles_checked"] == 1
    assert others.metadata["rows_checked"] == 8 + con.execute("SELECT count(*) FROM contribution_counts WHERE agency_id = 'health-c'").fetchone()[0]


def test_rows_in_the_file_ingest_encoded_are_not_validated_again_and_changed_ones_are(ck, con):
    """``dvnet ingest`` hands the check the SHA-256 of each staged file as verification encoded it:
    a bundle whose stored file still has those bytes is proven without validating again; a changed
    row makes its bundle re-validated, and the rule it breaks is named as before."""
    contract, ids = get_contract("service_episode"), _loaded(con)
    staged = dict(con.execute("SELECT bundle_id, count(*) FROM staged_service_episode GROUP BY ALL").fetchall())
    validated = {b: sha256 for b, (sha256, _) in staged_files.stored(con, "service_episode", ids).items()}  # as loaded, nothing changed since
    assert set(validated) == set(staged)
    finding = checks.staged_rows_conform(con, contract, ids, GEOGRAPHY, validated)
    assert finding.passed and finding.metadata["rows_as_validated"] == finding.metadata["rows_checked"] == sum(staged.values())
    (shelter,) = _loaded(con, "shelter-a")
    ck.alter_staged(con, "service_episode", "UPDATE staged_service_episode SET service_type = 'teleportation' WHERE rowid = (SELECT min(rowid) FROM staged_service_episode WHERE bundle_id = ?)", [shelter])
    finding = checks.staged_rows_conform(con, contract, ids, GEOGRAPHY, validated)
    assert not finding.passed and finding.metadata["violations_by_column_rule"] == {"service_type:isin": 1}
    assert finding.metadata["rows_as_validated"] == sum(staged.values()) - staged[shelter]  # shelter-a's rows validated again
    assert finding.metadata["rows_checked"] == sum(staged.values())
    assert checks.staged_rows_conform(con, contract, ids, GEOGRAPHY).metadata["rows_as_validated"] == 0  # no digests: every row validated


def test_the_check_sees_the_rows_its_run_loaded_and_fails_on_a_broken_one(ck, kit, instance):
    """Through Dagster: the check reads which bundles its run loaded from the intake
    materialisation; run on its own, it checks the bundles loaded last."""
    from dagster import AssetSelection, materialize

    from dvnet.assets.intake.assets import intake
    from dvnet.assets.intake.checks import LOADED_ROWS_CONFORM, check_key, intake_checks
    from dvnet.assets.resources import build_resources

    kit.drop("a", kit.records("shelter-a", n=20, seed=1).blob)
    first = ck.run_partition(kit, instance, "shelter-a", ck.PERIOD)
    kit.drop("c", kit.records("health-c", n=8, seed=5).blob)
    second = ck.run_partition(kit, instance, "health-c", ck.PERIOD)

    def evaluation(result):
        return next(e for e in result.get_asset_check_evaluations() if e.check_name == "loaded_rows_conform")

    assert evaluation(first).passed and evaluation(second).passed
    counted = ck.query(kit.paths.warehouse, "SELECT agency_id, count(*) FROM contribution_counts GROUP BY ALL")
    assert evaluation(second).metadata["rows_checked"].value == 8 + dict(counted)["health-c"]  # not shelter-a's rows

    con = duckdb.connect(str(kit.paths.warehouse))
    try:
        ck.alter_staged(con, "service_episode", "UPDATE staged_service_episode SET region = 'atlantis' WHERE agency_id = 'health-c' AND rowid = (SELECT min(rowid) FROM staged_service_episode WHERE agency_id = 'health-c')")
    finally:
        con.close()
    alone = materialize(
        [intake, intake_checks], selection=AssetSelection.checks(check_key(LOADED_ROWS_CONFORM)), instance=instance, resources=build_resources(kit.root)
    )
    assert not alone.asset_materializations_for_node("intake")  # the check ran on its own
    assert [e.check_name for e in alone.get_asset_check_evaluations()] == [LOADED_ROWS_CONFORM]  # and alone of the four
    failed = evaluation(alone)
    assert not failed.passed
    assert failed.metadata["violations_by_table"].value == {"staged_service_episode": {"region:in_network_geography": 1}}
    assert "atlantis" not in repr(failed.metadata)


def test_quarantine_explained_fails_on_an_unexplained_file(con, kit):
    (kit.paths.quarantine / "dropped-by-hand.dvb").write_bytes(b"?")
    finding = checks.quarantine_explained(con, kit.paths.quarantine)
    assert not finding.passed and finding.metadata["files_without_reason"] == 1
    (kit.paths.quarantine / "dropped-by-hand.dvb.reason.json").write_text('{"reason": "X", "file_name": "f", "file_sha256": "0"}')
    finding = checks.quarantine_explained(con, kit.paths.quarantine)
    assert not finding.passed and finding.metadata["files_without_log_row"] == 1


def test_freshness_warns_about_an_agency_that_has_not_contributed(ck, kit, instance):
    kit.drop("a", kit.records("shelter-a", n=10, seed=4).blob)
    result = ck.run_partition(kit, instance, "shelter-a", ck.PERIOD)
    # legal-b and health-c (Tier 2 and 3, active) sent nothing for 2026-Q3; housing-d is Tier 1.
    assert ck.check_results(result)["intake:agencies_contributed_this_period"] == (False, "WARN")
    assert result.success  # a warning, not a failed run
    evaluation = next(e for e in result.get_asset_check_evaluations() if e.check_name == "agencies_contributed_this_period")
    assert evaluation.metadata["agencies_missing"].value == ["health-c", "legal-b"]
    assert evaluation.metadata["latest_period"].value == ck.PERIOD
