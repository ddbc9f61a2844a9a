"""Benchmark (issue 17): three warehouses for more than one writer, under the same concurrent load.

    (a) ``duckdb-file``: today's warehouse, one DuckDB file; writers queue on an exclusive lock
        (``fcntl.flock``, as ``assets/warehouse/lib/lock.py``) and load one at a time.
    (b) ``ducklake``: DuckLake, its catalog in PostgreSQL and its data as Parquet files; every
        writer attaches the lake and commits on its own (DuckLake's optimistic concurrency,
        retried on conflict).
    (c) ``postgres``: the staged rows in a PostgreSQL table (``COPY``), DuckDB reading them
        through its ``postgres`` extension for the aggregates.

Workload (``--shapes WxBxR``): W writer processes at once, each loading B bundles of R
staged rows (one transaction per bundle: the rows and a ledger row, as ``load_verified`` does),
then the cube-like aggregate (counts by agency, period and four code columns) read back. Every
option must end with exactly writers x bundles ledger rows and all their rows, or it fails.

DuckLake's extension and DuckDB's ``postgres`` extension come from PyPI packages built per DuckDB
version (``duckdb-extension-ducklake``, ``duckdb-extension-postgres-scanner``; 1.5.5 is the newest
there, dvnet runs DuckDB 2.x), so (b) and (c) run in an interpreter with that DuckDB:

    python3 -m venv /tmp/dl && /tmp/dl/bin/pip install duckdb==1.5.5 duckdb-extension-ducklake==1.5.5 \\
        duckdb-extension-postgres-scanner==1.5.5 psycopg2-binary pandas pyarrow
    /tmp/dl/bin/python benchmarks/warehouse_options.py --shapes 4x5x50000 8x10x2000

The PostgreSQL server is a throw-away one from Debian's ``postgresql`` (as the tests start it),
with ``fsync`` on. Writes ``results/warehouse_options.json``.
"""

from __future__ import annotations

import argparse
import fcntl
import importlib
import json
import multiprocessing as mp
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from run_info import machine, results_path, run_id  # noqa: E402

CODES = {"service": 12, "housing": 6, "risk": 4, "region": 30}
AGGREGATE = "SELECT agency_id, period, service, housing, risk, region, count(*) AS n FROM {t} GROUP BY ALL"
OPTIONS = ("duckdb-file", "ducklake", "postgres")


def bundle_frame(writer: int, bundle: int, rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(writer * 1000 + bundle)
    frame = pd.DataFrame({c: pd.Series(rng.integers(0, k, rows)).map(lambda v, c=c: f"{c}-{v}") for c, k in CODES.items()})
    frame.insert(0, "period", f"2026-Q{bundle % 4 + 1}")
    frame.insert(0, "agency_id", f"agency-{writer:03d}")
    frame.insert(0, "bundle_id", f"b-{writer:03d}-{bundle:03d}")
    frame["age"] = rng.integers(0, 90, rows)
    frame["episodes"] = rng.integers(1, 5, rows)
    return frame


# --- the three warehouses: setup (once), load (one bundle, one transaction), aggregate ----------


def _ext(name: str) -> str:
    """The extension file a ``duckdb-extension-<name>`` package ships (its binary is DuckDB-signed:
    it loads with unsigned extensions refused)."""
    module = importlib.import_module(f"duckdb_extension_{name}")
    return str(next(Path(module.__file__).parent.rglob("*.duckdb_extension")))


def _pg_libpq(dsn: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in dsn.items())


class DuckDBFile:
    def __init__(self, work: Path, dsn: dict):
        self.db, self.lock = work / "warehouse.duckdb", work / "warehouse.duckdb.lock"

    def setup(self) -> None:
        import duckdb

        with duckdb.connect(str(self.db)) as con:
            con.register("f", bundle_frame(0, 0, 1))
            con.execute("CREATE TABLE staged AS SELECT * FROM f LIMIT 0")
            con.execute("CREATE TABLE ledger (bundle_id VARCHAR PRIMARY KEY, rows BIGINT)")

    def load(self, frame: pd.DataFrame) -> int:
        import duckdb

        with self.lock.open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)  # the queue: one writer at a time
            with duckdb.connect(str(self.db)) as con:
                con.register("f", frame)
                con.execute("BEGIN")
                con.execute("INSERT INTO staged SELECT * FROM f")
                con.execute("INSERT INTO ledger VALUES (?, ?)", [frame["bundle_id"].iat[0], len(frame)])
                con.execute("COMMIT")
        return 0

    def read(self, sql: str):
        import duckdb

        with duckdb.connect(str(self.db), read_only=True) as con:
            return con.execute(sql.format(t="staged")).fetchall(), con.execute("SELECT count(*), sum(rows) FROM ledger").fetchone()


class DuckLake:
    RETRIES = 20

    def __init__(self, work: Path, dsn: dict):
        self.data, self.dsn = work / "lake", dsn

    def _connect(self):
        import duckdb

        con = duckdb.connect()
        con.execute(f"LOAD '{_ext('postgres_scanner')}'")
        con.execute(f"LOAD '{_ext('ducklake')}'")
        con.execute(f"ATTACH 'ducklake:postgres:{_pg_libpq(self.dsn)}' AS lake (DATA_PATH '{self.data}/')")
        return con

    def setup(self) -> None:
        self.data.mkdir()
        with self._connect() as con:
            con.register("f", bundle_frame(0, 0, 1))
            con.execute("CREATE TABLE lake.staged AS SELECT * FROM f LIMIT 0")
            con.execute("CREATE TABLE lake.ledger (bundle_id VARCHAR, rows BIGINT)")  # DuckLake has no primary keys

    def load(self, frame: pd.DataFrame) -> int:
        import duckdb

        with self._connect() as con:
            con.register("f", frame)
            for attempt in range(self.RETRIES):
                try:
                    con.execute("BEGIN")
                    con.execute("INSERT INTO lake.staged SELECT * FROM f")
                    con.execute("INSERT INTO lake.ledger VALUES (?, ?)", [frame["bundle_id"].iat[0], len(frame)])
                    con.execute("COMMIT")
                    return attempt
                except duckdb.Error:  # a conflicting commit: the transaction is gone or to be rolled back
                    try:
                        con.execute("ROLLBACK")
                    except duckdb.Error:
                        pass
                    time.sleep(0.05 * (attempt + 1))
        raise RuntimeError("DuckLake commit kept conflicting")

    def read(self, sql: str):
        with self._connect() as con:
            return con.execute(sql.format(t="lake.staged")).fetchall(), con.execute("SELECT count(*), sum(rows) FROM lake.ledger").fetchone()


class Postgres:
    def __init__(self, work: Path, dsn: dict):
        self.dsn = dsn

    def _pg(self):
        import psycopg2

        return psycopg2.connect(**self.dsn)

    def setup(self) -> None:
        cols = ", ".join(f"{c} TEXT" for c in ("bundle_id", "agency_id", "period", *CODES)) + ", age BIGINT, episodes BIGINT"
        with self._pg() as con, con.cursor() as cur:
            cur.execute(f"CREATE TABLE staged ({cols})")
            cur.execute("CREATE TABLE ledger (bundle_id TEXT PRIMARY KEY, rows BIGINT)")

    def load(self, frame: pd.DataFrame) -> int:
        import io

        buf = io.StringIO()
        frame.to_csv(buf, index=False, header=False)
        buf.seek(0)
        with self._pg() as con, con.cursor() as cur:  # one transaction: committed on leaving
            cur.copy_expert("COPY staged FROM STDIN WITH (FORMAT csv)", buf)
            cur.execute("INSERT INTO ledger VALUES (%s, %s)", (frame["bundle_id"].iat[0], len(frame)))
        return 0

    def read(self, sql: str):
        import duckdb

        with duckdb.connect() as con:
            con.execute(f"LOAD '{_ext('postgres_scanner')}'")
            con.execute(f"ATTACH '{_pg_libpq(self.dsn)}' AS pg (TYPE postgres, READ_ONLY)")
            return con.execute(sql.format(t="pg.staged")).fetchall(), con.execute("SELECT count(*), sum(rows) FROM pg.ledger").fetchone()


KINDS = {"duckdb-file": DuckDBFile, "ducklake": DuckLake, "postgres": Postgres}


def _writer(kind: str, work: str, dsn: dict, writer: int, bundles: int, rows: int, start, out) -> None:
    store = KINDS[kind](Path(work), dsn)
    frames = [bundle_frame(writer, b, rows) for b in range(bundles)]  # made before the clock starts
    start.wait()
    for frame in frames:
        t0 = time.perf_counter()
        retries = store.load(frame)
        out.put((time.perf_counter() - t0, retries))


def run_option(kind: str, work: Path, dsn: dict, writers: int, bundles: int, rows: int) -> dict:
    store = KINDS[kind](work, dsn)
    store.setup()
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(kind, str(work), dsn, w, bundles, rows, start, out)) for w in range(writers)]
    for p in procs:
        p.start()
    time.sleep(3)  # every writer has imported and made its frames
    t0 = time.perf_counter()
    start.set()
    loads = [out.get(timeout=1800) for _ in range(writers * bundles)]
    wall = time.perf_counter() - t0
    for p in procs:
        p.join()
    assert all(p.exitcode == 0 for p in procs), f"{kind}: a writer failed"
    t1 = time.perf_counter()
    cells, (ledger_rows, loaded) = store.read(AGGREGATE)
    read = time.perf_counter() - t1
    assert ledger_rows == writers * bundles and loaded == writers * bundles * rows, f"{kind}: {ledger_rows} ledger rows, {loaded} rows"
    assert sum(c[-1] for c in cells) == writers * bundles * rows
    latency = sorted(s for s, _ in loads)
    return {"option": kind, "writers": writers, "bundles": writers * bundles, "rows": writers * bundles * rows, "load_wall_s": round(wall, 2),
            "rows_per_s": round(writers * bundles * rows / wall), "load_p50_s": round(latency[len(latency) // 2], 3), "load_max_s": round(latency[-1], 3),
            "retries": int(sum(r for _, r in loads)), "aggregate_s": round(read, 3), "aggregate_cells": len(cells)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shapes", nargs="+", default=["4x5x50000", "8x10x2000"],
                    help="WRITERSxBUNDLESxROWS: writers at once, bundles per writer, staged rows per bundle (default: large bundles, then many small ones)")
    ap.add_argument("--options", nargs="+", choices=OPTIONS, default=list(OPTIONS))
    args = ap.parse_args(argv)
    import duckdb
    from fixtures_postgres import _bindir, _start, _stop

    results = []
    folder = Path(tempfile.mkdtemp(prefix="dvnet-wh-"))
    folder.chmod(0o755)  # PostgreSQL runs as nobody when we are root
    server = _start(folder, _bindir(), fsync=True)
    shapes = [tuple(int(v) for v in shape.split("x")) for shape in args.shapes]
    try:
        for i, ((writers, bundles, rows), kind) in enumerate((shape, kind) for shape in shapes for kind in args.options):
            db = f"bench_{i}"
            server.create_database(db)
            dsn = {"host": "127.0.0.1", "port": server.port, "user": "dvnet", "password": server.password, "dbname": db}
            work = Path(tempfile.mkdtemp(prefix=f"dvnet-{kind}-"))
            try:
                print(f"{kind}: {writers} writers x {bundles} bundles x {rows:,} rows ...", flush=True)
                r = run_option(kind, work, dsn, writers, bundles, rows)
            except (ImportError, StopIteration) as e:
                r = {"option": kind, "not_measured": f"{type(e).__name__}: {e} (see this file's doc for the interpreter it needs)"}
            finally:
                shutil.rmtree(work, ignore_errors=True)
            print(json.dumps(r), flush=True)
            results.append(r)
    finally:
        _stop(server)
        shutil.rmtree(folder, ignore_errors=True)
    path = results_path("warehouse_options")
    path.write_text(json.dumps({"run": run_id(), "machine": machine(), "duckdb": duckdb.__version__, "results": results}, indent=2) + "\n")
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
