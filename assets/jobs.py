"""Jobs of the central Dagster project.

``intake_job`` materialises the ``intake`` group (and runs its checks) for one agency × period
partition: the inbox sensor launches it once per new bundle, and staff launch it from the UI.
``intake_batch`` (``assets/intake/batch.py``) does the same work for a batch of bundles in one run,
reporting each agency × period as a materialisation of its partition: ``dvnet ingest`` executes it
in-process.
"""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job, in_process_executor

from dvnet.assets.intake.assets import GROUP as INTAKE_GROUP
from dvnet.assets.intake.batch import intake_batch_job
from dvnet.assets.intake.partitions import intake_partitions

INTAKE_JOB = "intake_job"

# In-process on purpose: every step of this job writes or reads the one DuckDB file, which takes
# one writer at a time, so steps in parallel processes would only queue on its lock after paying
# a second or two of imports each.
intake_job = define_asset_job(
    INTAKE_JOB,
    selection=AssetSelection.groups(INTAKE_GROUP),
    partitions_def=intake_partitions,
    executor_def=in_process_executor,
    description="Verify, then load or quarantine, one agency × period's inbox bundles; then check the intake.",
    tags={"dvnet/writes": "warehouse"},
)

JOBS = [intake_job, intake_batch_job]
