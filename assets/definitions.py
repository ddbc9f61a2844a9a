"""The coordinator's Dagster project: ``dagster dev -m dvnet.assets.definitions``.

Only assembles: assets and checks of the three groups (``intake`` from ``assets.intake``,
``warehouse`` and ``releases`` from their packages), the intake jobs, the inbox sensor, the sweep
for runs a killed dvnet command left in progress, and the resources. Nothing here reads configuration: resources read the network folder at run time.
"""

from __future__ import annotations

import os

from dagster import Definitions

from dvnet.assets.intake import assets as intake_assets
from dvnet.assets.intake import checks as intake_checks
from dvnet.assets.intake import sensors as intake_sensors
from dvnet.assets.releases import assets as releases_assets
from dvnet.assets.warehouse import assets as warehouse_assets
from dvnet.assets.jobs import JOBS
from dvnet.assets.resources import build_resources
from dvnet.assets import run_sensors
from dvnet.assets.warehouse.lib.lock import DEFAULT_WAIT

GROUP_MODULES = (intake_assets, warehouse_assets, releases_assets)


def build_definitions(network_root: str | os.PathLike | None = None, release_steps=None, lock_wait: float = DEFAULT_WAIT,
                      intake_progress=None) -> Definitions:  # fmt: skip
    """The Definitions, with the network folder fixed (``dvnet ingest``) or read at run time (None);
    ``release_steps`` is told each stage of a release (``dvnet publish``'s progress line);
    ``lock_wait`` bounds a run's wait for the warehouse (``--wait``); ``intake_progress`` is told
    each batch group's bundles (``dvnet ingest``'s progress)."""
    return Definitions(
        assets=[a for m in GROUP_MODULES for a in m.ASSETS],
        asset_checks=[*intake_checks.CHECKS, *(c for m in GROUP_MODULES[1:] for c in getattr(m, "CHECKS", []))],
        jobs=JOBS,
        sensors=[*intake_sensors.SENSORS, *run_sensors.SENSORS],
        resources=build_resources(network_root, release_steps, lock_wait, intake_progress),
    )


defs = build_definitions()
