"""The daemon's sweep for runs a killed dvnet process left in progress (``run_owner``).

``dvnet`` commands sweep when they open the instance; this sensor does the same inside the daemon
of ``dvnet ui``, so a run queue blocked by an ``dvnet ingest`` killed while the UI is up frees
itself within a minute, without anyone running a command.
"""

from __future__ import annotations

from dagster import DefaultSensorStatus, SensorEvaluationContext, SkipReason, sensor

from dvnet.assets.run_owner import fail_abandoned_runs

INTERVAL_SECONDS = 60


@sensor(
    name="abandoned_runs_sensor",
    minimum_interval_seconds=INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description="Marks failed the runs a dvnet command on this host left in progress when it was killed, so the run queue moves on.",
)
def abandoned_runs_sensor(context: SensorEvaluationContext) -> SkipReason:
    failed = fail_abandoned_runs(context.instance)
    return SkipReason(f"marked {len(failed)} abandoned run(s) failed" if failed else "no abandoned runs")


SENSORS = [abandoned_runs_sensor]
