"""The asset graph is a tested artefact: keys, groups, dependencies, checks, jobs and sensors.

The intake group is pinned exactly; the warehouse and releases groups may grow, but only inside
their own groups.
"""

from __future__ import annotations

from dvnet.assets.definitions import build_definitions

EXPECTED_INTAKE_ASSETS = {
    # asset key: upstream asset keys
    "intake": set(),
    "staged_referrals": {"intake"},
    "staged_service_episodes": {"intake"},
    "staged_research_extracts": {"intake"},
    "contribution_counts": {"intake", "staged_referrals", "staged_service_episodes"},
}
EXPECTED_INTAKE_CHECKS = {
    "intake:bundles_reconcile",
    "intake:loaded_rows_conform",
    "intake:quarantine_explained",
    "intake:agencies_contributed_this_period",
}
ALLOWED_GROUPS = {"intake", "warehouse", "releases"}


def test_asset_graph_snapshot():
    defs = build_definitions("/nonexistent-network")  # building the graph reads no configuration
    graph = defs.resolve_asset_graph()
    nodes = {k.to_user_string(): graph.get(k) for k in graph.get_all_asset_keys()}
    intake = {k: n for k, n in nodes.items() if n.group_name == "intake"}
    assert {k: {p.to_user_string() for p in n.parent_keys} for k, n in intake.items()} == EXPECTED_INTAKE_ASSETS
    assert {n.group_name for n in nodes.values()} <= ALLOWED_GROUPS
    assert all(n.description for n in intake.values()), "every intake asset says what it holds"
    assert {n.partitions_def.__class__.__name__ for n in intake.values()} == {"MultiPartitionsDefinition"}
    assert [d.name for d in next(iter(intake.values())).partitions_def.partitions_defs] == ["agency", "period"]

    checks = {f"{c.asset_key.to_user_string()}:{c.name}" for c in graph.asset_check_keys}
    assert {c for c in checks if c.split(":")[0] in intake} == EXPECTED_INTAKE_CHECKS

    job = defs.resolve_job_def("intake_job")
    assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} == set(EXPECTED_INTAKE_ASSETS)
    assert {f"{c.asset_key.to_user_string()}:{c.name}" for c in job.asset_layer.asset_graph.asset_check_keys} >= EXPECTED_INTAKE_CHECKS
    sensor = defs.resolve_sensor_def("inbox_sensor")
    assert sensor.job_name == "intake_job" and sensor.default_status.value == "RUNNING"
    assert {s.name for s in defs.sensors} == {"inbox_sensor", "abandoned_runs_sensor"}  # the sweep needs no job, and runs by default
    assert defs.resolve_sensor_def("abandoned_runs_sensor").default_status.value == "RUNNING"
    assert set(defs.resources) >= {"network", "warehouse"}
    batch = defs.resolve_job_def("intake_batch")  # dvnet ingest's one run: an op job, reporting intake partitions at run time
    assert [n.name for n in batch.nodes] == ["load_batch"]


def test_the_definitions_load_as_dagster_dev_loads_them():
    """Names Dagster wants unique across the repository (an op named as its job took the UI down)."""
    from dagster import Definitions

    Definitions.validate_loadable(build_definitions("/nonexistent-network"))
