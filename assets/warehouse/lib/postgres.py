"""The scaled profile's warehouse: the intake's tables in PostgreSQL, written by many runs at once.

``DVNET_WAREHOUSE_PG_URL`` set (a ``postgresql://`` URL; never printed) moves the tables every
intake run writes (``INTAKE_TABLES``: ledger, live contributions, quarantine log, journal,
contribution counts, staged rows) into the schema ``dvnet`` of that database. Intake runs then
load in parallel, each in its own transaction, serialised only per agency (``writes.serial`` on ``agency:<id>``: the
replay ledger's sequence order is per agency) and per live key (``live_contributions``' primary
key, as in DuckDB). Cubes, releases and extracts still read DuckDB: ``analytic_copy.py`` brings the
intake tables into the warehouse file, bundle by bundle, before they read.

``PgConnection`` answers the calls ingest and the intake checks make on a DuckDB connection
(``execute`` with ``?`` parameters, ``fetchone``/``fetchall``, ``description``, ``sql(...)
.to_arrow_table()``), so their SQL is written once, in the subset both engines read
(``list_contains(?::VARCHAR[], x)``, ``count(*) FILTER (WHERE ...)``): DuckDB's ``list_contains``
is made in PostgreSQL as ``x = ANY(list)`` (``LIST_CONTAINS``), which DuckDB evaluates about
ten times slower than its own function. Bulk rows move by ``COPY`` in CSV,
typed on both sides (``ARROW_TO_PG``, ``PG_TO_DUCKDB``); a type not listed is refused, never
guessed.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.csv as pacsv

from dvnet.common.sql_text import sql_string
from dvnet.contracts.errors import DvnetError

WAREHOUSE_PG_URL_ENV = "DVNET_WAREHOUSE_PG_URL"
#: The schema the warehouse's tables live in (the database may be shared with Dagster's instance).
SCHEMA = "dvnet"
#: Accepted URL schemes; the second is the form ``DVNET_DAGSTER_PG_URL`` takes (SQLAlchemy's).
SCHEMES = ("postgresql", "postgres", "postgresql+psycopg2")
#: Advisory-lock namespace (first key) of dvnet's locks, so they never meet another application's.
_LOCK_SPACE = 0x64766E  # "dvn"

#: Arrow type -> PostgreSQL column type, for staged tables made from a bundle's rows.
ARROW_TO_PG = {
    pa.string(): "VARCHAR", pa.large_string(): "VARCHAR", pa.bool_(): "BOOLEAN", pa.int64(): "BIGINT",
    pa.int32(): "INTEGER", pa.int16(): "SMALLINT", pa.int8(): "SMALLINT", pa.float64(): "DOUBLE PRECISION",
    pa.date32(): "DATE",
}  # fmt: skip
#: PostgreSQL type OID -> the DuckDB type its CSV text is read as.
PG_TO_DUCKDB = {
    16: "BOOLEAN", 20: "BIGINT", 21: "SMALLINT", 23: "INTEGER", 25: "VARCHAR", 701: "DOUBLE", 1043: "VARCHAR",
    1082: "DATE", 1114: "TIMESTAMP", 1184: "TIMESTAMPTZ",
}  # fmt: skip


#: DuckDB's ``list_contains(list, x)`` in PostgreSQL: the same truth values (NULL for a NULL ``x``),
#: and inlined by the planner as ``x = ANY(list)``, so an index on ``x`` still serves it.
LIST_CONTAINS = (
    f"CREATE FUNCTION {SCHEMA}.list_contains(list anycompatiblearray, x anycompatible) RETURNS boolean "
    "LANGUAGE sql IMMUTABLE PARALLEL SAFE AS 'SELECT x = ANY(list)'"
)


class WarehouseConfigError(DvnetError):
    """The scaled profile's configuration is wrong (a usage error: exit 2)."""


def configured_url(environ: Mapping[str, str] | None = None) -> str | None:
    """The warehouse's PostgreSQL URL in libpq's form, or None for the embedded DuckDB file."""
    url = (os.environ if environ is None else environ).get(WAREHOUSE_PG_URL_ENV, "")
    if not url:
        return None
    scheme = urlsplit(url).scheme
    if scheme not in SCHEMES:
        raise WarehouseConfigError(
            "USAGE_WAREHOUSE_PG_URL_INVALID", f"{WAREHOUSE_PG_URL_ENV} is not a postgresql:// URL",
            hint=f"{WAREHOUSE_PG_URL_ENV}=postgresql://USER:PASSWORD@HOST:5432/DATABASE",
        )  # fmt: skip
    return "postgresql" + url[len(scheme) :]


def _lock_key(text: str) -> str:
    return f"hashtext({sql_string(text)})"


class _Result:
    def __init__(self, con: PgConnection, sql: str, params):
        self._con, self._sql, self._params = con, sql, params

    def to_arrow_table(self) -> pa.Table:
        return self._con.query_arrow(self._sql, self._params)


class PgConnection:
    """One PostgreSQL session on the warehouse schema, in autocommit mode: a transaction is the
    caller's ``BEGIN TRANSACTION`` ... ``COMMIT``, as on DuckDB."""

    def __init__(self, url: str):
        import psycopg2

        try:
            self._raw = psycopg2.connect(url, application_name="dvnet", options=f"-c search_path={SCHEMA} -c TimeZone=UTC")
        except psycopg2.OperationalError as e:  # the message can name the host and user, never the password
            raise WarehouseConfigError("WAREHOUSE_UNREACHABLE", f"cannot connect to the warehouse's PostgreSQL server ({type(e).__name__})",
                                       hint=f"check {WAREHOUSE_PG_URL_ENV} and that the server is running") from None  # fmt: skip
        self._raw.autocommit = True
        self._cur = self._raw.cursor()
        with self.serial("schema"):  # two first runs making the schema: one waits
            self._cur.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
            self._cur.execute("SELECT to_regprocedure(%s)", [f"{SCHEMA}.list_contains(anycompatiblearray, anycompatible)"])
            if self._cur.fetchone()[0] is None:
                self._cur.execute(LIST_CONTAINS)

    # --- the DuckDB-connection calls ingest and the checks make ----------------------------------

    def execute(self, sql: str, params=None) -> PgConnection:
        if params is None:
            self._cur.execute(sql)
        else:
            self._cur.execute(_placeholders(sql), list(params))
        return self

    def fetchone(self):
        return self._cur.fetchone()

    def fetchall(self):
        return self._cur.fetchall()

    @property
    def description(self):
        return self._cur.description

    def sql(self, sql: str, params=None) -> _Result:
        return _Result(self, sql, params)

    def close(self) -> None:
        self._raw.close()

    # --- bulk rows ---------------------------------------------------------------------------------

    def append(self, table: str, keys: dict[str, str], rows: pa.Table) -> None:
        """``rows`` with the constant ``keys`` columns in front, into ``table`` by column name
        (made from their types, with an index on ``bundle_id``, if it does not exist yet)."""
        full = rows
        for i, (name, value) in enumerate(keys.items()):
            full = full.add_column(i, name, pa.array([value] * rows.num_rows, pa.string()))
        self._cur.execute("SELECT pg_advisory_xact_lock(%s, " + _lock_key(table) + ")", [_LOCK_SPACE])  # its first two writers
        columns = ", ".join(f"{_q(f.name)} {_pg_type(f.type)}" for f in full.schema)
        self._cur.execute(f"CREATE TABLE IF NOT EXISTS {_q(table)} ({columns})")
        self._cur.execute(f"CREATE INDEX IF NOT EXISTS {_q(table + '_bundle')} ON {_q(table)} (bundle_id)")
        if not full.num_rows:
            return
        buffer = io.BytesIO()
        pacsv.write_csv(full, buffer, pacsv.WriteOptions(include_header=False, quoting_style="all_valid"))
        buffer.seek(0)
        with _value_free(f"rows into {table}"):
            self._cur.copy_expert(f"COPY {_q(table)} ({', '.join(map(_q, full.column_names))}) FROM STDIN WITH (FORMAT csv)", buffer)

    def query_arrow(self, sql: str, params=None) -> pa.Table:
        """A query's rows as Arrow, typed by the columns' PostgreSQL types (``COPY`` out, CSV in)."""
        import duckdb

        query = self._cur.mogrify(_placeholders(sql), list(params)).decode() if params is not None else sql
        self._cur.execute(f"SELECT * FROM ({query}) q LIMIT 0")
        types = {d.name: _duckdb_type(d.type_code) for d in self._cur.description}
        buffer = io.BytesIO()
        with _value_free("rows out of PostgreSQL"):
            self._cur.copy_expert(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER true)", buffer)
        buffer.seek(0)
        con = duckdb.connect()
        try:
            with _value_free("rows read into DuckDB"):
                return con.read_csv(buffer, header=True, columns=types, allow_quoted_nulls=False, auto_detect=False, quotechar='"', escapechar='"').to_arrow_table()
        finally:
            con.close()

    @contextmanager
    def serial(self, name: str) -> Iterator[None]:
        """A session advisory lock on ``name``, held for the block: another session asking for the
        same name waits; the server releases it if this session dies."""
        self._cur.execute("SELECT pg_advisory_lock(%s, " + _lock_key(name) + ")", [_LOCK_SPACE])
        try:
            yield
        finally:
            self._cur.execute("SELECT pg_advisory_unlock(%s, " + _lock_key(name) + ")", [_LOCK_SPACE])


@contextmanager
def _value_free(what: str) -> Iterator[None]:
    """A failed bulk copy as ``WAREHOUSE_COPY_FAILED``, named by the error's type only: PostgreSQL's
    and DuckDB's messages quote the CSV line or the value that failed, and those are rows."""
    import duckdb
    import psycopg2

    try:
        yield
    except (psycopg2.Error, duckdb.Error) as e:
        raise DvnetError("WAREHOUSE_COPY_FAILED", f"copying {what} failed ({type(e).__name__}; the database's message is withheld: it quotes rows)") from None


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _placeholders(sql: str) -> str:
    """DuckDB's ``?`` parameters as psycopg2's ``%s`` (a literal ``%`` doubled). dvnet's SQL has
    no ``?`` inside a string literal."""
    return sql.replace("%", "%%").replace("?", "%s")


def _pg_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMPTZ" if arrow_type.tz else "TIMESTAMP"
    try:
        return ARROW_TO_PG[arrow_type]
    except KeyError:
        raise DvnetError("WAREHOUSE_TYPE_UNSUPPORTED", f"no PostgreSQL column type for Arrow type {arrow_type}") from None


def _duckdb_type(oid: int) -> str:
    try:
        return PG_TO_DUCKDB[oid]
    except KeyError:
        raise DvnetError("WAREHOUSE_TYPE_UNSUPPORTED", f"no DuckDB type for PostgreSQL type oid {oid}") from None


def is_unique_violation(error: BaseException) -> bool:
    """A primary key or unique constraint refused a row, on either engine."""
    import duckdb

    if isinstance(error, duckdb.ConstraintException):
        return True
    try:
        from psycopg2 import errors
    except ImportError:  # the contributor's install: no PostgreSQL driver, so no PostgreSQL error either
        return False
    return isinstance(error, errors.UniqueViolation)
