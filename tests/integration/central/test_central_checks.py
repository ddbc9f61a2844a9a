"""The intake checks are predicates that fail when what they guard is broken."""

from __future__ import annotations

import duckdb

from dvnet.assets.intake import checks
from dvnet.contracts.registry import get_contract
from dvnet.common import network as store


def _load(ck, kit, instance):
    kit.drop("a", kit.records("shelter-a", n=20, seed=1).blob)
    kit.drop("b", kit.counts("legal-b", "referral", n=20, seed=2).blob)
    kit.drop("c", kit.records("health-c", n=8, seed=5).blob)
    kit.drop("bad", kit.records("shelter-a", n=5, seed=3).blob[:-3])
    for agency in ("shelter-a", "legal-b", "health-c"):
        ck.run_partition(kit, instance, agency, ck.PERIOD)
    ck.run_partition(kit, instance, "_unverified", "_unknown")
    return duckdb.connect(str(kit.paths.warehouse))


def test_checks_pass_on_a_clean_intake(ck, kit, instance):
    con = _load(ck, kit, instance)
    try:
        assert checks.bundles_reconcile(con).passed
        assert checks.staged_rows_conform(con, get_contract("service_episode")).passed
        assert checks.counts_conform(con).passed
        assert checks.loaded_rows_conform(con).passed
        assert checks.quarantine_explained(con, kit.paths.quarantine).passed
        assert checks.agencies_contributed(con, store.load_network(kit.root)).passed
    finally:
        con.close()


def test_bundles_reconcile_fails_on_a_missing_or_orphan_row(ck, kit, instance):
    con = _load(ck, kit, instance)
    try:
        con.execute("DELETE FROM staged_service_episode WHERE rowid = (SELECT min(rowid) FROM staged_service_episode)")
        finding = checks.bundles_reconcile(con)
        assert not finding.passed and finding.metadata["bundles_not_reconciling"] == 1
        con.execute("DELETE FROM ledger WHERE agency_id = 'legal-b'")
        assert checks.bundles_reconcile(con).metadata["orphan_rows"] > 0
    finally:
        con.close()


def test_loaded_rows_conform_fails_on_a_code_outside_its_list(ck, kit, instance):
    con = _load(ck, kit, instance)
    try:
        con.execute("UPDATE staged_service_episode SET service_type = 'teleportation' WHERE rowid = (SELECT min(rowid) FROM staged_service_episode)")
        finding = checks.staged_rows_conform(con, get_contract("service_episode"))
        assert not finding.passed and finding.metadata["violations_by_column_rule"] == {"service_type:isin": 1}
        assert "teleportation" not in repr(finding.metadata)  # counts, never values
        con.execute("UPDATE contribution_counts SET n = 0 WHERE rowid = (SELECT min(rowid) FROM contribution_counts)")
        con.execute("UPDATE contribution_counts SET risk_level = 'extreme' WHERE risk_level = 'high'")
        finding = checks.counts_conform(con)
        assert not finding.passed and set(finding.metadata["violations_by_column_rule"]) == {"n:at_least_1", "risk_level:isin"}
        assert set(checks.loaded_rows_conform(con).metadata["violations_by_table"]) == {"staged_service_episode", "contribution_counts"}
    finally:
        con.close()


def test_quarantine_explained_fails_on_an_unexplained_file(ck, kit, instance):
    con = _load(ck, kit, instance)
    try:
        (kit.paths.quarantine / "dropped-by-hand.dvb").write_bytes(b"?")
        finding = checks.quarantine_explained(con, kit.paths.quarantine)
        assert not finding.passed and finding.metadata["files_without_reason"] == 1
        (kit.paths.quarantine / "dropped-by-hand.dvb.reason.json").write_text('{"reason": "X", "file_name": "f", "file_sha256": "0"}')
        finding = checks.quarantine_explained(con, kit.paths.quarantine)
        assert not finding.passed and finding.metadata["files_without_log_row"] == 1
    finally:
        con.close()


def test_freshness_warns_about_an_agency_that_has_not_contributed(ck, kit, instance):
    kit.drop("a", kit.records("shelter-a", n=10, seed=4).blob)
    result = ck.run_partition(kit, instance, "shelter-a", ck.PERIOD)
    # legal-b and health-c (Tier 2 and 3, active) sent nothing for 2026-Q3; housing-d is Tier 1.
    assert ck.check_results(result)["intake:agencies_contributed_this_period"] == (False, "WARN")
    assert result.success  # a warning, not a failed run
    evaluation = next(e for e in result.get_asset_check_evaluations() if e.check_name == "agencies_contributed_this_period")
    assert evaluation.metadata["agencies_missing"].value == ["health-c", "legal-b"]
    assert evaluation.metadata["latest_period"].value == ck.PERIOD
