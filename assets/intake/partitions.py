"""Intake partitions: agency × reporting period, both dynamic (agencies join, quarters pass).

Dagster 1.13 accepts two named ``DynamicPartitionsDefinition``s as the dimensions of a
``MultiPartitionsDefinition``; a key reads ``<agency>|<period>`` (dimensions in name order).
Which partition a bundle is filed under is ``lib/filing.py``'s rule (unauthenticated bytes go to
the sentinel ``_unverified|_unknown`` and never create an agency or period partition).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dagster import DynamicPartitionsDefinition, MultiPartitionKey, MultiPartitionsDefinition

from dvnet.contracts.errors import DvnetError
from dvnet.assets.intake.lib.filing import SENTINEL, UNKNOWN_PERIOD, UNVERIFIED_AGENCY, partition_of
from dvnet.assets.intake.lib.inbox import inbox_name, read_entry
from dvnet.assets.intake.lib.ingest import CoordinatorContext, pending_files

AGENCY = "agency"
PERIOD = "period"

agency_partitions = DynamicPartitionsDefinition(name=AGENCY)
period_partitions = DynamicPartitionsDefinition(name=PERIOD)
intake_partitions = MultiPartitionsDefinition({AGENCY: agency_partitions, PERIOD: period_partitions})


def partition_key(agency: str, period: str) -> MultiPartitionKey:
    return MultiPartitionKey({AGENCY: agency, PERIOD: period})


SENTINEL_KEY = partition_key(UNVERIFIED_AGENCY, UNKNOWN_PERIOD)


def bundle_partition(blob: bytes, ctx: CoordinatorContext) -> tuple[str, str]:
    """(agency, period) a bundle is filed under (``filing.partition_of``); the sentinel pair when it does not authenticate."""
    return partition_of(blob, ctx)


def file_partition(path: Path, ctx: CoordinatorContext) -> tuple[str, str]:
    """``bundle_partition`` of an inbox entry, read safely (``inbox.read_entry``): one larger than
    the bundle size cap, or anything but a regular file, is filed under the sentinel unread."""
    try:
        blob = read_entry(Path(path), ctx.max_bundle_bytes, hash_oversize=False).blob
    except DvnetError:
        blob = None
    return SENTINEL if blob is None else partition_of(blob, ctx)


def pending_selection(ctx: CoordinatorContext, names: list[str] | None = None) -> tuple[list[Path], Counter]:
    """The pending inbox files in ingest order (agency, then sequence), or those of them ``names``
    lists; and how many named files are no longer in the inbox (processed already)."""
    pending = pending_files(ctx.paths.inbox)
    skipped: Counter = Counter()
    if names:
        wanted = set(names)
        skipped["not_in_inbox"] = len(wanted - {inbox_name(p) for p in pending})
        pending = [p for p in pending if inbox_name(p) in wanted]
    return pending, skipped


def plan_groups(ctx: CoordinatorContext, names: list[str] | None = None) -> tuple[list[tuple[str, str, list[Path]]], Counter]:
    """(agency, period, files) per group: consecutive pending bundles of one partition, in ingest
    order; and what was skipped. A file that leaves the inbox while the plan is made (another
    writer took it) is not planned; a named file no longer in the inbox was processed already."""
    pending, skipped = pending_selection(ctx, names)
    groups: list[tuple[str, str, list[Path]]] = []
    for path, filed in zip(pending, _filed(pending, ctx)):
        if filed is None:
            skipped["not_in_inbox"] += 1
            continue
        agency, period = filed
        if groups and groups[-1][:2] == (agency, period):
            groups[-1][2].append(path)
        else:
            groups.append((agency, period, [path]))
    return groups, +skipped


def _filed(paths: list[Path], ctx: CoordinatorContext) -> Iterator[tuple[str, str] | None]:
    """``file_partition`` of each path, in order (None: it left the inbox), two at a time: reading,
    the signature and the decryption release the GIL, so the machine's two cores share the work."""

    def one(path: Path) -> tuple[str, str] | None:
        try:
            return file_partition(path, ctx)
        except FileNotFoundError:
            return None

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="dvnet-file") as pool:
        yield from pool.map(one, paths)
