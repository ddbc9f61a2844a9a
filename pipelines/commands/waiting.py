"""`--wait SECONDS` for every command that opens the coordinator's warehouse, and the lock it bounds.

    @wait_option()
    def publish(..., wait: float): ...
        with holding_warehouse(network_dir, wait): ...

The command holds the warehouse lock (``assets/warehouse/lib/lock.py``) for all its work, so a
second writer (another ingest, a publish, ``dsa close``, a run launched in the UI) waits for it,
saying so on stderr at once and every few seconds (on a terminal and piped alike), and gives up
after ``--wait`` seconds with ``WAREHOUSE_BUSY`` (exit 2).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from dvnet.common.paths import NetworkPaths
from dvnet.pipelines.commands.options import FiniteFloatRange

DEFAULT_WAIT = 600.0  # the lock module's default, repeated here so --help does not import it


def wait_option():
    return click.option(
        "--wait", type=FiniteFloatRange(min=0, max=86400), default=DEFAULT_WAIT, show_default=True, metavar="SECONDS",
        help="How long to wait for another command using the warehouse before giving up (WAREHOUSE_BUSY, exit 2).",
    )  # fmt: skip


@contextmanager
def holding_warehouse(network: Path, wait: float, *, existing: bool = False) -> Iterator[None]:
    """The network's warehouse lock, held for the block; waiting is told on stderr. ``existing``:
    only when the warehouse exists (a command that only reads or deletes what is there then
    writes nothing at all, not even the lock file, when it refuses)."""
    from dvnet.assets.warehouse.lib import schema
    from dvnet.assets.warehouse.lib.lock import stderr_notice, warehouse_lock

    warehouse = NetworkPaths(Path(network)).warehouse
    if existing and not schema.exists(warehouse):
        yield
        return
    with warehouse_lock(warehouse, wait=wait, notice=stderr_notice(wait)):
        yield
