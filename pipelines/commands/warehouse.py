"""`dvnet warehouse`: the coordinator's warehouse; `move-to-postgres` takes an embedded network into
the scaled profile (its intake tables in the PostgreSQL database ``DVNET_WAREHOUSE_PG_URL`` names)."""

from __future__ import annotations

import os
from pathlib import Path

import click
from rich.table import Table

from dvnet.pipelines.cli import EXIT_OK
from dvnet.pipelines.commands.acting import acting_as
from dvnet.pipelines.commands.options import network_option
from dvnet.pipelines.commands.waiting import holding_warehouse, wait_option
from dvnet.pipelines.console import make_console
from dvnet.pipelines.progress import progress


@click.group("warehouse")
def warehouse() -> None:
    """The coordinator's warehouse: move an embedded network's intake tables into PostgreSQL."""


@warehouse.command("move-to-postgres")
@network_option()
@wait_option()
@acting_as("warehouse.move")
@click.pass_context
def move_to_postgres(ctx: click.Context, actor, network_dir: Path, wait: float) -> int:
    """Copy the warehouse file's intake tables (ledger, quarantine log, counts, staged rows) into the
    PostgreSQL database DVNET_WAREHOUSE_PG_URL names, then make the file its copy (the scaled profile).

    One PostgreSQL transaction; the file is marked only after it commits, and both sides are then
    compared table by table. Run it again after a crash: it completes what was committed. A
    database already holding other bundles is refused (WAREHOUSE_TARGET_NOT_EMPTY). Keep
    DVNET_WAREHOUSE_PG_URL set for every command of the network from now on. Exit 0 moved (or
    already moved), 2 on configuration errors.
    """
    import duckdb

    from dvnet.assets.warehouse.lib import schema
    from dvnet.assets.warehouse.lib.move import move_to_postgres as move
    from dvnet.assets.warehouse.lib.postgres import WAREHOUSE_PG_URL_ENV, PgConnection, configured_url
    from dvnet.common.files import make_private, private_dir
    from dvnet.common.paths import NetworkPaths
    from dvnet.contracts.errors import DvnetError

    environ = (ctx.obj or {}).get("environ", os.environ)
    url = configured_url(environ)
    if url is None:
        raise DvnetError("USAGE_WAREHOUSE_PG_URL_MISSING", f"{WAREHOUSE_PG_URL_ENV} is not set: there is no PostgreSQL warehouse to move into",
                         hint=f"{WAREHOUSE_PG_URL_ENV}=postgresql://USER:PASSWORD@HOST:5432/DATABASE (a new database for this network)")  # fmt: skip
    console = make_console()
    path = NetworkPaths(network_dir.resolve()).warehouse
    private_dir(path.parent)
    with holding_warehouse(network_dir, wait):
        con = duckdb.connect(str(path))
        make_private(path)
        pg = PgConnection(url)
        try:
            schema.ensure_schema(con)
            schema.ensure_schema(pg)
            total = con.execute("SELECT (SELECT count(*) FROM ledger) + (SELECT count(*) FROM quarantine_log)").fetchall()[0][0]
            with progress(console, "moving the intake tables", unit="rows") as tracker:
                rows = move(con, pg, path, tick=tracker.advance)
        finally:
            pg.close()
            con.close()
    t = Table(title="The intake tables, now in PostgreSQL (the file is their copy)", title_justify="left")
    t.add_column("table")
    t.add_column("rows", justify="right")
    for table, n in rows.items():
        t.add_row(table, f"{n:,}")
    console.print(t)
    console.print(f"{total:,} bundle and quarantine records moved. From now on run every command of this network with "
                  f"{WAREHOUSE_PG_URL_ENV} set; without it the file refuses to open (WAREHOUSE_PROFILE_MISMATCH).")  # fmt: skip
    return EXIT_OK
