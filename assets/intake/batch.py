"""``intake_batch``: a batch of inbox bundles in one run, reported per agency × period (issue 18).

``intake_job`` runs one partition per run, which suits the inbox sensor (a bundle arrives, a run
starts) and a partition re-run from the UI. A coordinator clearing the inbox with ``dvnet
ingest`` would pay a run's orchestration per agency × period (run creation, resources, some forty
event-log writes, a check step): 1.3 s a bundle on this machine, more than a 200k-row bundle's own
work. This op job does the same work for the whole batch in one run:

- ``ingest_batch`` verifies the next bundle in a thread while this one loads, in ingest order
  (agency, then sequence), and files each under its partition as it verifies it (the sensor's
  rule, ``lib/filing.py``, from what the verification found: a first pass over the inbox to file
  them read, verified and decrypted every bundle twice, 0.6–0.8 s of 50 × 200k-row bundles);
  consecutive bundles of one partition form a group, each group's loads in a turn of the
  warehouse writer (``writer_turns``: the connection is kept while nobody waits, let go between
  groups once another process does), so another writer waits for one partition's loads;
- each group is reported as it finishes, as the per-partition run reports it: an
  ``AssetMaterialization`` of ``intake`` (and of the staged and count assets it added to) *for
  that partition*, with the same metadata (``partition_materialisations``). The UI's partition
  view, the asset's history and ``dagster/partition_row_count`` read exactly as after
  per-partition runs; the run page shows one run that materialised many partitions;
- the four intake checks are evaluated once, over every bundle the batch loaded (what the
  per-partition runs' checks would have seen together), and recorded as the checks of ``intake``
  (``AssetCheckEvaluation``). The staged rows of ``loaded_rows_conform`` are checked as the
  batch goes, after the groups that loaded them committed, each time ``CHECK_EVERY_ROWS`` rows are
  waiting (the loading thread has the time while the next bundle verifies; a check per small group
  would cost more than it saves), against the SHA-256 of each staged file as ingest encoded it
  from the rows it validated, so rows stored exactly as validated are not validated a second
  time; the finding is reported with the others at the end.

When anything loaded, or a rebuild is still owed (``warehouse/lib/cubes_due.py``: loads a killed
batch or a sensor run left the cubes behind), the batch then rebuilds the ``warehouse`` group (the indicator cubes) and
reports it as those assets and their reconcile checks report themselves (``rebuilt_warehouse``):
a run of its own for it cost ``dvnet ingest`` about 1.4 s for 0.5 s of work (run start, seven
steps, a warehouse connection each).

A group whose writer cannot be had (``WAREHOUSE_BUSY``) stops the batch: the groups before it stay
loaded and reported, its bundles and those after it stay in the inbox for the next run.
"""

# No `from __future__ import annotations`: Dagster reads config and resource types from the
# signatures at definition time.

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from dagster import (AssetCheckEvaluation, AssetCheckSeverity, AssetKey, AssetMaterialization, Config, OpExecutionContext, ResourceParam,
                     in_process_executor, job, op)
from pydantic import Field

from dvnet.assets.intake.assets import INTAKE, IntakeSummary, partition_materialisations
from dvnet.assets.intake.checks import SPECS, check_metadata, evaluate
from dvnet.assets.intake.lib.checks import staged_findings
from dvnet.assets.intake.lib.ingest import ingest_batch
from dvnet.assets.intake.partitions import AGENCY, PERIOD, partition_key, pending_selection
from dvnet.assets.resources import NetworkResource, WarehouseResource
from dvnet.assets.warehouse.lib import cubes_due
from dvnet.assets.warehouse.assets import CUBE_FAMILIES, cube_metadata, cubes_reconcile, people_metadata, reconcile_check_name, unduplicated_people
from dvnet.common.faults import maybe_crash
from dvnet.contracts.errors import DvnetError
from dvnet.contracts.network import Network

INTAKE_BATCH_JOB = "intake_batch"
#: Its one op (Dagster wants op and job names apart).
LOAD_BATCH = "load_batch"


#: Loaded rows the batch lets wait before it checks them (``loaded_rows_conform``'s staged rows):
#: 50 bundles of 200k rows checked as they commit took 2.6 s off a `dvnet ingest` of 20 s; 50 of
#: 1,000 rows checked group by group added 0.4 s to one of 8 s (bundles made by
#: ``benchmarks/central.py --stage setup``, issue 18).
CHECK_EVERY_ROWS = 100_000


@dataclass
class _Unchecked:
    """Loaded bundles whose staged rows the batch has not checked yet, with their rows and their files' SHA-256 as encoded."""

    bundle_ids: list[str] = field(default_factory=list)
    digests: dict[str, str] = field(default_factory=dict)
    rows: int = 0

    def add(self, outcomes: list, digests: dict[str, str]) -> None:
        loaded = [o for o in outcomes if o.outcome == "loaded"]
        self.bundle_ids += [o.bundle_id for o in loaded]
        self.digests |= digests
        self.rows += sum(o.rows_loaded or 0 for o in loaded)


class IntakeBatchConfig(Config):
    """Which inbox files the batch processes."""

    files: list[str] = Field(default=[], description="Inbox entries by their safe name (inbox_name). Empty: every pending arrival.")


def _add_partition(instance, known: dict[str, set[str]], agency: str, period: str) -> None:
    """The group's agency and period added to the dynamic partitions (``known``: those the instance
    has, read once a batch) before the first report under them."""
    for dim, value in ((AGENCY, agency), (PERIOD, period)):
        if dim not in known:
            known[dim] = set(instance.get_dynamic_partitions(dim))
        if value not in known[dim]:
            instance.add_dynamic_partitions(dim, [value])
            known[dim].add(value)


@op(name=LOAD_BATCH, out={}, tags={"dvnet/writes": "warehouse"})
def load_batch(context: OpExecutionContext, config: IntakeBatchConfig, network: NetworkResource, warehouse: WarehouseResource,
               intake_progress: ResourceParam[Callable[[int], None]]) -> Iterator[AssetMaterialization | AssetCheckEvaluation]:  # fmt: skip
    """Verify, then load or quarantine, a batch of inbox bundles; report each agency × period as it
    finishes; then check the intake and, when anything loaded, rebuild the cubes."""
    ctx = network.coordinator_context()
    paths, skipped = pending_selection(ctx, list(config.files))
    everything, staged, unchecked, groups, known = [], {}, _Unchecked(), 0, {}
    with warehouse.writer_turns() as turn:
        for group in ingest_batch(paths, ctx, turn, unread=skipped):
            _add_partition(context.instance, known, group.agency, group.period)
            summary = IntakeSummary(group.outcomes, Counter({"not_in_inbox": group.gone}) if group.gone else Counter())
            everything += group.outcomes
            groups += 1
            unchecked.add(group.outcomes, group.digests)
            if unchecked.rows >= CHECK_EVERY_ROWS:  # checked now, committed, while the next bundle verifies
                staged = staged_findings(group.con, unchecked.bundle_ids, ctx.network.geography, unchecked.digests, into=staged)
                unchecked = _Unchecked()
            partition = str(partition_key(group.agency, group.period))
            for key, metadata in partition_materialisations(summary, group.con, group.agency, group.period):
                yield AssetMaterialization(asset_key=key, partition=partition, metadata=metadata)
            intake_progress(group.files)
        if +skipped:
            context.log.info(f"skipped: {dict(+skipped)}")
        loaded = [o.bundle_id for o in everything if o.outcome == "loaded"]
        if groups:
            # One log line for the batch (each partition's is its materialisation's metadata): an
            # event per group would cost the run as much as its materialisation does.
            context.log.info(f"{groups} agency × period group(s): {IntakeSummary(everything).headline()}")
            with turn() as con:
                staged = staged_findings(con, unchecked.bundle_ids, ctx.network.geography, unchecked.digests, into=staged)
                for name, finding, severity in evaluate({spec.name for spec in SPECS}, loaded, network, con, staged):
                    yield AssetCheckEvaluation(asset_key=INTAKE, check_name=name, passed=finding.passed, severity=severity, metadata=check_metadata(finding))
    if loaded or cubes_due.owed(ctx.paths.warehouse):  # owed: loads a stopped run (or a sensor run) left the cubes behind
        yield from rebuilt_warehouse(context, warehouse, ctx.network, ctx.paths.warehouse)


def rebuilt_warehouse(context: OpExecutionContext, warehouse: WarehouseResource, network: Network,
                      warehouse_file: Path) -> Iterator[AssetMaterialization | AssetCheckEvaluation]:  # fmt: skip
    """The ``warehouse`` group rebuilt as its assets rebuild it (on the warehouse file, refreshed
    first from PostgreSQL in the scaled profile), reported as they report themselves
    (``assets/warehouse/assets.py``). A rebuild that fails is reported as the failed check of each
    family it did not finish, with the refusal's reason or the error's type, never its message (a
    message may quote a value); the loads stay loaded, the rebuild stays owed (``cubes_due``), and
    ``dvnet ingest`` says so and exits 1."""
    done: set[str] = set()
    try:
        with warehouse.get_connection() as con:
            for family in CUBE_FAMILIES:
                yield AssetMaterialization(asset_key=family, metadata=cube_metadata(con, network, family))
                passed, metadata = cubes_reconcile(con, family)
                yield AssetCheckEvaluation(asset_key=AssetKey(family), check_name=reconcile_check_name(family), passed=passed,
                                           severity=AssetCheckSeverity.ERROR, metadata=metadata)  # fmt: skip
                done.add(family)
                maybe_crash("after_cube_family")
            yield AssetMaterialization(asset_key=unduplicated_people.key, metadata=people_metadata(con))
            cubes_due.settle(warehouse_file)  # every family rebuilt from every load committed so far; still the writer, so none since
    except Exception as e:  # noqa: BLE001 - reported as failed checks; the batch's loads are done and recorded
        why = e.reason if isinstance(e, DvnetError) else type(e).__name__
        context.log.error(f"rebuilding the warehouse group failed ({why})")
        for family in (f for f in CUBE_FAMILIES if f not in done):
            yield AssetCheckEvaluation(asset_key=AssetKey(family), check_name=reconcile_check_name(family), passed=False,
                                       severity=AssetCheckSeverity.ERROR, metadata={"rebuild_failed": why})  # fmt: skip


# In-process, as intake_job: the one op writes the one warehouse.
@job(name=INTAKE_BATCH_JOB, executor_def=in_process_executor, tags={"dvnet/writes": "warehouse"},
     description="Verify, then load or quarantine, a batch of inbox bundles in one run (`dvnet ingest`); each agency × period "
                 "is reported as a materialisation of its intake partition, the intake checks run once over the batch, and "
                 "the warehouse group (the indicator cubes) is rebuilt when anything loaded.")  # fmt: skip
def intake_batch_job():
    load_batch()


JOBS = [intake_batch_job]
