"""Which PostgreSQL warehouse is this network's: an identity both sides keep.

In the scaled profile the warehouse file is a copy that every opening brings up to PostgreSQL's
state, deleting what PostgreSQL does not hold. ``DVNET_WAREHOUSE_PG_URL`` naming another database
(a typo, an environment file copied from another network, Dagster's database) would empty the
copy, rebuild the cubes from nothing and load new bundles where this network will never look
again; another network's database would pour its bundles into this network's releases. The URL
cannot tell, so the two sides carry one random id:

- PostgreSQL: the row of ``warehouse_identity`` in the warehouse schema, written once by the
  network that first used the database;
- the network: ``<warehouse file>.postgres-id`` beside the file (back it up and move it with the
  file), its id and, once PostgreSQL holds it, the word ``claimed``.

The network writes its id first, then PostgreSQL's row, then marks it claimed, so a crash at any
point leaves a state the next command completes. A database holding another id, a claimed id the
database has never seen (an empty or other database), or a database claimed by a network without
this file is ``WAREHOUSE_OTHER_DATABASE``, before anything is read or written there.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from dvnet.assets.warehouse.lib.postgres import WAREHOUSE_PG_URL_ENV, PgConnection, WarehouseConfigError
from dvnet.common.files import atomic_write

IDENTITY_TABLE = "warehouse_identity"
STAMP_SUFFIX = ".postgres-id"
CLAIMED = "claimed"


def stamp_path(warehouse: Path) -> Path:
    """The network's side of the identity, beside the warehouse file."""
    return Path(warehouse).with_name(Path(warehouse).name + STAMP_SUFFIX)


def bind(pg: PgConnection, warehouse: Path) -> None:
    """Refuse a PostgreSQL warehouse that is not this network's; claim a new one."""
    stamp = stamp_path(warehouse)
    with pg.serial("identity"):  # two first commands claiming: one waits, then finds the claim
        pg.execute(f"CREATE TABLE IF NOT EXISTS {IDENTITY_TABLE} (id TEXT NOT NULL)")
        rows = pg.execute(f"SELECT id FROM {IDENTITY_TABLE}").fetchall()
        theirs = rows[0][0] if rows else None
        ours, claimed = _read(stamp)
        if ours is None and theirs is not None:
            _refuse(f"the PostgreSQL warehouse belongs to another network (this one has no {stamp.name})",
                    f"give {WAREHOUSE_PG_URL_ENV} this network's own database, or restore {stamp} with the warehouse file")
        if ours is not None and theirs is not None and ours != theirs:
            _refuse(f"the PostgreSQL warehouse is not the one {stamp.name} names", f"set {WAREHOUSE_PG_URL_ENV} to this network's database")
        if theirs is None and claimed:
            _refuse(f"the PostgreSQL warehouse holds no identity, but this network's warehouse ({stamp.name}) was claimed in another database",
                    f"set {WAREHOUSE_PG_URL_ENV} to this network's database (an empty one would empty the warehouse copy)")
        if ours is None:
            ours = secrets.token_hex(16)
            atomic_write(stamp, f"{ours}\n".encode())
        if theirs is None:
            pg.execute(f"INSERT INTO {IDENTITY_TABLE} VALUES (?)", [ours])
        if not claimed:
            atomic_write(stamp, f"{ours}\n{CLAIMED}\n".encode())


def _read(stamp: Path) -> tuple[str | None, bool]:
    if not stamp.is_file():
        return None, False
    lines = stamp.read_text(encoding="utf-8").split()
    return (lines[0] if lines else None), CLAIMED in lines[1:]


def _refuse(message: str, hint: str) -> None:
    raise WarehouseConfigError("WAREHOUSE_OTHER_DATABASE", f"{message}: nothing was read or written there", hint=hint)
