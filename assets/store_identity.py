"""Which PostgreSQL database is this network's: one random id kept on both sides.

A URL cannot tell this network's database from another's (a typo, an environment file copied
from another network, Dagster's database given as the warehouse's), and both stores the scaled
profile keeps in PostgreSQL go wrong silently on the wrong one: the warehouse copy is emptied to
match it and new bundles load where this network never looks again; the Dagster instance shows
one network's runs, partitions and agencies in the other's UI. So the network keeps a stamp file
(its id and, once the database holds it, the word ``claimed``) and the database the same id.

The network writes its id first, then the database's, then marks it claimed, so a crash at any
point leaves a state the next command completes. Refused, before anything is read or written
there: a database holding another id; a claimed id the database has never seen (an empty or
other database); a database claimed by a network without the stamp. A database without an id is
claimed (one used before the id existed).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

from dvnet.common.files import atomic_write

CLAIMED = "claimed"


def bind(stamp: Path, theirs: str | None, put: Callable[[str], None], refuse: Callable[[str], None], what: str) -> None:
    """Check the database's id ``theirs`` against the network's ``stamp`` (``what`` names the
    database in a refusal); claim a database without one (``put``). ``refuse`` raises."""
    ours, claimed = _read(stamp)
    if ours is None and theirs is not None:
        refuse(f"{what} belongs to another network (this one has no {stamp.name})")
    if ours is not None and theirs is not None and ours != theirs:
        refuse(f"{what} is not the one {stamp.name} names")
    if theirs is None and claimed:
        refuse(f"{what} holds no identity, but this network's ({stamp.name}) was claimed in another database")
    if ours is None:
        ours = secrets.token_hex(16)
        atomic_write(stamp, f"{ours}\n".encode())
    if theirs is None:
        put(ours)
    if not claimed:
        atomic_write(stamp, f"{ours}\n{CLAIMED}\n".encode())


def _read(stamp: Path) -> tuple[str | None, bool]:
    if not stamp.is_file():
        return None, False
    words = stamp.read_text(encoding="utf-8").split()
    return (words[0] if words else None), CLAIMED in words[1:]
