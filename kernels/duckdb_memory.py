"""DuckDB connections for the agency-side work, under the memory limit the machine's owner set.

``DVNET_MEMORY_LIMIT`` (for example ``2GB``, ``512MiB``) caps what DuckDB may use for distinct
values (``distinct.py``, millions of them) and the standard counts it makes (a contract that
derives a dimension by SQL; the others are counted by ``coded_counts.py``) on an office PC shared
with other programs; unset, DuckDB's own default holds
(80 % of the machine's memory). Beyond the limit DuckDB raises ``duckdb.OutOfMemoryException``,
which the command line reports as ``OUT_OF_MEMORY`` (``pipelines/cli.py``) like a ``MemoryError``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

MEMORY_LIMIT_ENV = "DVNET_MEMORY_LIMIT"
_SIZE = re.compile(r"[1-9][0-9]{0,6}(KB|MB|GB|TB|KiB|MiB|GiB|TiB)")


def memory_limit(environ: Mapping[str, str] = os.environ) -> str | None:
    """The limit set in ``environ``, or None; ValueError for a value DuckDB would not read as a size."""
    value = environ.get(MEMORY_LIMIT_ENV, "").strip()
    if not value:
        return None
    if not _SIZE.fullmatch(value):
        raise ValueError(f"{MEMORY_LIMIT_ENV} must be a whole number and a unit (KB, MB, GB, TB, KiB, MiB, GiB, TiB), for example 2GB")
    return value


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection under the owner's memory limit."""
    import duckdb  # here: the command line reads the limit above without loading DuckDB

    con = duckdb.connect()
    limit = memory_limit()
    if limit:
        con.execute(f"SET memory_limit = '{limit}'")  # validated above: digits and a unit only
    return con
