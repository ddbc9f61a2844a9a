"""Which PostgreSQL warehouse is this network's (``assets/store_identity.py``, the rule).

PostgreSQL keeps the id in ``warehouse_identity`` (one row, in the warehouse schema); the network
in ``<warehouse file>.postgres-id`` beside the file (back it up and move it with the file).
"""

from __future__ import annotations

from pathlib import Path

from dvnet.assets import store_identity
from dvnet.assets.warehouse.lib.postgres import WAREHOUSE_PG_URL_ENV, PgConnection, WarehouseConfigError

IDENTITY_TABLE = "warehouse_identity"
STAMP_SUFFIX = ".postgres-id"


def stamp_path(warehouse: Path) -> Path:
    """The network's side of the identity, beside the warehouse file."""
    return Path(warehouse).with_name(Path(warehouse).name + STAMP_SUFFIX)


def bind(pg: PgConnection, warehouse: Path) -> None:
    """Refuse a PostgreSQL warehouse that is not this network's (``WAREHOUSE_OTHER_DATABASE``); claim a new one."""
    with pg.serial("identity"):  # two first commands claiming: one waits, then finds the claim
        pg.execute(f"CREATE TABLE IF NOT EXISTS {IDENTITY_TABLE} (id TEXT NOT NULL)")
        rows = pg.execute(f"SELECT id FROM {IDENTITY_TABLE}").fetchall()
        store_identity.bind(stamp_path(warehouse), rows[0][0] if rows else None,
                            put=lambda ours: pg.execute(f"INSERT INTO {IDENTITY_TABLE} VALUES (?)", [ours]),
                            refuse=_refuse, what="the PostgreSQL warehouse")  # fmt: skip


def _refuse(message: str) -> None:
    raise WarehouseConfigError("WAREHOUSE_OTHER_DATABASE", f"{message}: nothing was read or written there",
                               hint=f"set {WAREHOUSE_PG_URL_ENV} to this network's own database (and keep {STAMP_SUFFIX} with the warehouse file)")
