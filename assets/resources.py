"""Resources of the central Dagster project: the network folder and its DuckDB warehouse.

Configuration is read when a run (or sensor tick) uses a resource, never at import: the network
folder comes from the resource's ``root``, else the ``DVNET_NETWORK`` environment variable; with
neither, a run stops with ``NETWORK_NOT_SET`` rather than guess a folder. ``dvnet ui`` and
``dvnet ingest`` always pass an absolute path.

The warehouse resource *is* dagster-duckdb's ``DuckDBResource`` (assets may annotate it as such),
pointed at ``<network>/coordinator/warehouse/warehouse.duckdb``. DuckDB allows one writing
process per file, so every connection it hands out is taken under the warehouse lock
(``assets/warehouse/lib/lock.py``): a sensor-launched run, a run launched in the UI and
``dvnet ingest`` in a terminal wait for each other (up to ``lock_wait_seconds``, then
``WAREHOUSE_BUSY``) instead of failing on DuckDB's own lock.

The scaled profile (``DVNET_WAREHOUSE_PG_URL``) keeps the intake's tables in PostgreSQL: intake
runs write through ``writer()`` there, side by side, without the lock; ``get_connection()`` still
hands out the file, brought up to PostgreSQL's state first (``assets/warehouse/lib/analytic_copy.py``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path

import duckdb
from dagster import ConfigurableResource, EnvVar
from dagster_duckdb import DuckDBResource
from pydantic import Field

from dvnet.assets.intake.lib.ingest import CoordinatorContext
from dvnet.assets.warehouse.lib import schema
from dvnet.assets.warehouse.lib.lock import DEFAULT_WAIT, others_waiting, stderr_notice, warehouse_lock
from dvnet.assets.warehouse.lib.postgres import PgConnection, configured_url
from dvnet.common.files import make_private, private_dir
from dvnet.common.network import NetworkPaths
from dvnet.contracts.errors import RegistryError

NETWORK_ENV = "DVNET_NETWORK"
#: DuckDB's default memory limit is 80 % of RAM, kept as cache; 2 GB bounds the coordinator's
#: footprint (larger sorts and joins spill to a temporary folder beside the database).
WAREHOUSE_CONFIG = {"custom_user_agent": "dvnet", "memory_limit": "2GB"}


class NetworkResource(ConfigurableResource):
    """The network folder: registry, coordinator keys, inbox, quarantine, receipts, audit log."""

    root: str = Field(
        default="",
        description=f"Network folder. Empty: the {NETWORK_ENV} environment variable at run time.",
    )

    @property
    def root_path(self) -> Path:
        root = self.root or EnvVar(NETWORK_ENV).get_value()
        if not root:
            raise RegistryError("NETWORK_NOT_SET", f"no network folder: set the resource's root or {NETWORK_ENV}",
                                hint="start the UI with `dvnet ui --network FOLDER`")
        return Path(root)

    @property
    def paths(self) -> NetworkPaths:
        return NetworkPaths(self.root_path)

    def coordinator_context(self) -> CoordinatorContext:
        """Registry and coordinator keys, read now (a registry edit applies to the next run)."""
        return CoordinatorContext.load(self.root_path)


class WarehouseResource(DuckDBResource):
    """dagster-duckdb's resource on the network's warehouse file, one writing process at a time."""

    database: str = Field(
        default="",
        description="DuckDB database path. Empty: <network>/coordinator/warehouse/warehouse.duckdb.",
    )
    network: NetworkResource = Field(description="The network the warehouse belongs to.")
    lock_wait_seconds: float = Field(default=DEFAULT_WAIT, description="How long a run waits for another writer before failing with WAREHOUSE_BUSY.")

    @property
    def path(self) -> Path:
        return Path(self.database) if self.database else self.network.paths.warehouse

    @contextmanager
    def locked(self) -> Iterator[Path]:
        """The warehouse lock, held for the block (for code that opens the file itself); its path."""
        with warehouse_lock(self.path, wait=self.lock_wait_seconds, notice=stderr_notice(self.lock_wait_seconds)):
            yield self.path

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection, held under the writer lock and always closed.

        (dagster-duckdb's own ``get_connection`` skips ``close()`` when the body raises, which
        would keep DuckDB's file lock until garbage collection.)
        """
        path = self.path
        private_dir(path.parent)
        with self.locked():
            con = schema.connect(path, config={**WAREHOUSE_CONFIG, **self.connection_config})
            make_private(path)  # DuckDB creates the file with the umask's mode
            try:
                yield con
            finally:
                con.close()

    @contextmanager
    def writer(self) -> Iterator[duckdb.DuckDBPyConnection | PgConnection]:
        """Where intake writes: PostgreSQL in the scaled profile (``DVNET_WAREHOUSE_PG_URL``; no
        lock, runs write side by side), else the warehouse file as ``get_connection``."""
        url = configured_url()
        if url is None:
            with self.get_connection() as con:
                yield con
            return
        con = schema.open_postgres(url, self.path)
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def writer_turns(self) -> Iterator[Callable[[], AbstractContextManager]]:
        """``writer()`` for a series of writes (a batch's groups): ``turn()`` gives each one the
        connection, which is kept, lock and all, from one turn to the next while no other process
        waits for the warehouse. When one does, the connection is closed and the lock let go
        between turns (the lock's give-way pause lets the waiter in), and the next turn opens
        anew. A turn that raises closes the connection (a caller that stops reading a generator
        mid-turn ends the turn normally). Closed at the end of the block."""
        held: list[tuple[ExitStack, duckdb.DuckDBPyConnection | PgConnection]] = []  # the open writer, if any
        waiting = (lambda: False) if configured_url() else (lambda: others_waiting(self.path))  # PostgreSQL: no lock

        def let_go() -> None:
            if held:
                held.pop()[0].close()

        @contextmanager
        def turn() -> Iterator[duckdb.DuckDBPyConnection | PgConnection]:
            if held and waiting():
                let_go()
            if not held:
                with ExitStack() as stack:  # a failure to open leaves nothing open
                    con = stack.enter_context(self.writer())
                    held.append((stack.pop_all(), con))  # kept open past this block: ``let_go`` closes it
            try:
                yield held[0][1]
            except GeneratorExit:  # the body was a generator its caller stopped reading: the turn ends as any other
                raise
            except BaseException:
                let_go()
                raise

        try:
            yield turn
        finally:
            let_go()


def build_resources(network_root: str | os.PathLike | None = None, release_steps=None, lock_wait: float = DEFAULT_WAIT,
                    intake_progress=None) -> dict[str, object]:  # fmt: skip
    """The resource dict of the central Definitions; ``network_root`` None defers to the env var;
    ``lock_wait``: how long a run waits for the warehouse (``--wait``); ``intake_progress`` is told
    how many bundles each group of an ``intake_batch`` run processed (``dvnet ingest``'s progress)."""
    network = NetworkResource(root=str(Path(network_root).resolve()) if network_root else "")
    warehouse = WarehouseResource(network=network, lock_wait_seconds=lock_wait)
    return {"network": network, "warehouse": warehouse, "release_steps": release_steps or no_steps, "intake_progress": intake_progress or no_progress}


def no_steps(name: str) -> None:
    """The release builder's progress callback where nobody watches (the UI, the sensor);
    ``dvnet publish`` passes its progress line instead (``assets/runs.py: run_release_step``)."""


def no_progress(bundles: int) -> None:
    """The batch intake's progress callback where nobody watches (the UI)."""
