"""The inbox sensor: one run of ``intake_job`` per bundle that lands in the coordinator's inbox.

Agencies deliver by writing a temporary name and renaming it to ``*.dvb`` (what ``contribute``
and ``atomic_write`` do), so a file the sensor sees is complete.

The cursor is the set of inbox arrivals already requested (by ``inbox_name``), each stamped with
its inode change time and size: every other ``*.dvb`` entry is new, whatever modification time it kept on its way
(``cp -p`` and USB copies keep old ones, which a "newest mtime seen" cursor would skip). Files
leave the inbox when processed, so the cursor stays as small as the inbox.

``run_key`` is ``<bundle id>/<file sha256 prefix>/<arrival stamp>`` (the whole file's sha256 in
place of the bundle id when the header does not parse; for an entry that is not a regular file,
which is never read, the sha256 of its name). The bundle id alone would make Dagster
silently drop the run for a replay (same id, other bytes) or a second delivery of the same bundle,
leaving the file in the inbox forever instead of quarantining it (``REPLAY``) or recording it
(``DUPLICATE``). A re-evaluated tick still yields the same key, so no bundle runs twice.
"""

# No `from __future__ import annotations`: Dagster reads config and resource types from the
# signatures at definition time.

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from dagster import (
    AddDynamicPartitionsRequest,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from dvnet import bundle
from dvnet.assets.intake.partitions import AGENCY, PERIOD, UNKNOWN_PERIOD, UNVERIFIED_AGENCY, bundle_partition, partition_key
from dvnet.contracts.errors import DvnetError
from dvnet.assets.intake.lib.inbox import inbox_name, read_entry
from dvnet.assets.intake.lib.ingest import CoordinatorContext, pending_files
from dvnet.assets.jobs import intake_job
from dvnet.assets.resources import NETWORK_ENV, NetworkResource

MINIMUM_INTERVAL_SECONDS = 30


@dataclass(frozen=True)
class PlannedRun:
    """One new inbox file and the run that will process it."""

    file_name: str
    run_key: str
    agency: str
    period: str
    bundle_id: str | None


def _stamp(path: Path) -> str:
    st = os.lstat(path)  # the entry itself: a link is never followed
    return f"{st.st_ctime_ns}:{st.st_size}"


def parse_cursor(cursor: str | None) -> dict[str, str]:
    try:
        seen = json.loads(cursor or "{}").get("seen", {})
        return {str(k): str(v) for k, v in seen.items()} if isinstance(seen, dict) else {}
    except (ValueError, AttributeError):
        return {}


def plan_inbox(ctx: CoordinatorContext, seen: dict[str, str]) -> tuple[list[PlannedRun], dict[str, str]]:
    """Runs for inbox arrivals not yet requested, in ingest order; and the next cursor's ``seen``.

    Every arrival gets a run, whatever it is: one that is not a regular file, or is over the size
    cap, is filed under the sentinel partition without being read, and its run quarantines it."""
    planned: list[PlannedRun] = []
    now_seen: dict[str, str] = {}
    for path in pending_files(ctx.paths.inbox):
        name = inbox_name(path)
        try:
            stamp = _stamp(path)
            if seen.get(name) == stamp:
                now_seen[name] = stamp
                continue
            entry = read_entry(path, ctx.max_bundle_bytes, hash_oversize=False)  # never hashes a file over the cap
        except FileNotFoundError:  # processed between listing and reading
            continue
        except DvnetError:  # not a regular file (never opened), or unreadable
            entry = None
        blob = entry.blob if entry is not None else None
        if entry is None:
            sha = hashlib.sha256(os.fsencode(path.name)).hexdigest()
        else:
            sha = entry.sha256 or f"oversize-{entry.size}"
        try:
            bundle_id = bundle.parse(blob, ctx.max_bundle_bytes).header["bundle_id"] if blob is not None else None
        except DvnetError:
            bundle_id = None
        agency, period = (UNVERIFIED_AGENCY, UNKNOWN_PERIOD) if blob is None else bundle_partition(blob, ctx)
        ctime = stamp.split(":")[0]
        planned.append(PlannedRun(name, f"{bundle_id or sha}/{sha[:16]}/{ctime}", agency, period, bundle_id))
        now_seen[name] = stamp
    return planned, now_seen


@sensor(
    name="inbox_sensor",
    job=intake_job,
    minimum_interval_seconds=MINIMUM_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description="Watches the coordinator inbox; one intake run per new bundle, filed under its agency × period.",
)
def inbox_sensor(context: SensorEvaluationContext, network: NetworkResource) -> SensorResult:
    if not network.paths.registry.exists():
        return SensorResult(skip_reason=SkipReason(f"no network registry at {network.paths.registry} (set {NETWORK_ENV})"))
    ctx = network.coordinator_context()
    planned, seen = plan_inbox(ctx, parse_cursor(context.cursor))
    cursor = json.dumps({"seen": seen}, sort_keys=True)
    if not planned:
        return SensorResult(skip_reason=SkipReason("no new bundles in the inbox"), cursor=cursor)
    known = {
        AGENCY: set(context.instance.get_dynamic_partitions(AGENCY)),
        PERIOD: set(context.instance.get_dynamic_partitions(PERIOD)),
    }
    new_agencies = sorted({p.agency for p in planned} - known[AGENCY])
    new_periods = sorted({p.period for p in planned} - known[PERIOD])
    requests = []
    if new_agencies:
        requests.append(AddDynamicPartitionsRequest(partitions_def_name=AGENCY, partition_keys=new_agencies))
    if new_periods:
        requests.append(AddDynamicPartitionsRequest(partitions_def_name=PERIOD, partition_keys=new_periods))
    runs = [
        RunRequest(
            run_key=p.run_key,
            partition_key=partition_key(p.agency, p.period),
            run_config={"ops": {"intake": {"config": {"files": [p.file_name]}}}},
            tags={"dvnet/bundle_file": p.file_name, **({"dvnet/bundle_id": p.bundle_id} if p.bundle_id else {})},
        )
        for p in planned
    ]
    return SensorResult(run_requests=runs, dynamic_partitions_requests=requests, cursor=cursor)


SENSORS = [inbox_sensor]
