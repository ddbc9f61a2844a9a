"""Text put into SQL: the one way a value that is not a parameter (a path in ATTACH, a table
comment, a lock key) becomes an SQL string literal. Never interpolate a value between quotes by
hand: a quote in it would end the literal, and what follows would run as SQL (a release folder
named ``x'; COPY ... TO '...'`` wrote a file from ``dvnet query`` before its sandbox was set)."""

from __future__ import annotations

from pathlib import Path


def sql_string(text: Path | str) -> str:
    """``text`` as an SQL string literal (quotes doubled, as DuckDB and PostgreSQL read them)."""
    value = str(text)
    if "\x00" in value:
        raise ValueError("an SQL string cannot hold a NUL character")
    return "'" + value.replace("'", "''") + "'"
