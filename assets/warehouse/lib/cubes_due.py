"""Whether the indicator cubes still owe a rebuild that a stopped `dvnet ingest` did not finish.

`dvnet ingest`'s batch rebuilds the cubes in its last turn, after its loads have committed and
left the inbox. Killed in between (or while rebuilding, each family its own table), its loads are
done, the inbox is empty, and the next `dvnet ingest` had nothing to do: the cubes stayed behind
the contributions, some families newer than others, until some later bundle loaded. So the batch
marks the rebuild as owed (``<warehouse>.cubes-due``, an empty owner-only file beside the
warehouse) before a load commits (every intake path: the sensor's runs leave the cubes to a later
rebuild too), and the rebuild settles it once every family is rebuilt; a `dvnet ingest` that finds
it owed runs the rebuild even with an empty inbox. A file, not a table: the command
decides whether to start a run without opening the warehouse.
"""

from __future__ import annotations

import os
from pathlib import Path

from dvnet.common.files import atomic_write

SUFFIX = ".cubes-due"


def _marker(warehouse: Path) -> Path:
    return Path(warehouse).with_name(Path(warehouse).name + SUFFIX)


def owed(warehouse: Path) -> bool:
    """Whether a batch started loading into ``warehouse`` and its cube rebuild has not finished."""
    return _marker(warehouse).exists()


def owe(warehouse: Path) -> None:
    """Mark the rebuild owed (durably: it must outlive a kill right after the load), unless it is."""
    if not owed(warehouse):
        atomic_write(_marker(warehouse), b"")


def settle(warehouse: Path) -> None:
    """The cubes are rebuilt: nothing is owed."""
    try:
        os.unlink(_marker(warehouse))
    except FileNotFoundError:
        pass
