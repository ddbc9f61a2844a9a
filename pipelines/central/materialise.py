"""Materialise the warehouse and releases groups in-process, on the persistent Dagster instance.

``dvnet demo`` and ``dvnet publish --via-dagster`` use it, so what they build shows in the UI
with its metadata and check results, exactly as a run launched there would.
"""

from __future__ import annotations

from pathlib import Path


def materialise_groups(network: Path, home: Path, groups: tuple[str, ...], run_config: dict | None = None) -> bool:
    """Run every asset (and its checks) of ``groups``; True when the run succeeded."""
    from dagster import AssetSelection, define_asset_job

    from pipelines.central.definitions import build_definitions
    from pipelines.commands.ingest import QUIET_LOGS, dagster_instance

    defs = build_definitions(network)
    selection = AssetSelection.groups(*groups)
    job_name = "__".join(("materialise", *groups))
    from dagster import Definitions

    defs = Definitions.merge(defs, Definitions(jobs=[define_asset_job(job_name, selection=selection)]))
    job = defs.resolve_job_def(job_name)
    with dagster_instance(home) as instance:
        result = job.execute_in_process(instance=instance, run_config={**(run_config or {}), **QUIET_LOGS}, raise_on_error=False)
    return result.success
