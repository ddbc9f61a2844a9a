"""Dagster runs executed in this process, on the network's own persistent Dagster instance.

``dvnet ingest`` runs the intake batch (which rebuilds the warehouse group in its last turn) here,
``dvnet publish`` materialises ``published_release`` with its checks, and ``dvnet demo`` does both, so what they
do shows in the UI with its metadata and check results, exactly as a run launched there would.
Each network's instance is ``<network>/coordinator/dagster``, made from the shipped
``dagster.yaml`` template (``dvnet.dagster_home``), found through the installed package whatever
the install.

Where the instance keeps its runs, event log and schedules is chosen by the environment:
``DVNET_DAGSTER_PG_URL`` set (a PostgreSQL URL) means PostgreSQL through ``dagster-postgres``,
unset means the embedded SQLite files in the instance folder. The definitions do not change.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from dvnet.common.yaml_text import load_yaml
from dvnet.assets import store_identity
from dvnet.assets.instance_storage import ensure_storage
from dvnet.assets.run_owner import fail_abandoned_runs, this_process
from dvnet.assets.warehouse.lib.lock import DEFAULT_WAIT
from dvnet.common.files import atomic_write, private_dir
from dvnet.common.network import NetworkPaths
from dvnet.contracts.errors import DvnetError

#: The instance template shipped with dvnet (telemetry off, one writing run at a time).
TEMPLATE_HOME = Path(str(files("dvnet.dagster_home")))
#: A run dvnet executes in its own process tells the user through the CLI: a refusal (WAREHOUSE_BUSY,
#: AUDIT_FAILED, a warehouse of another network or older than the audit log, ...) in one line, the
#: outcomes in its table. Dagster's console logger would print a step failure's stack trace on the
#: terminal first, where an engine's message could also quote a value (the instance's event log keeps
#: it for the UI).
SILENT_LOGS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
#: The network's instance, inside its coordinator folder.
INSTANCE_FOLDER = "dagster"
#: In a --dagster-home folder: the network folder it serves.
NETWORK_STAMP = "dvnet-network"


#: Set to a PostgreSQL URL (``postgresql+psycopg2://user:password@host:5432/db``), the instance's
#: storage moves there. The URL holds a password, so it stays in the environment (a 0600
#: environment file of the service, or the platform's secret store): the dagster.yaml dvnet writes
#: names the variable, never its value.
PG_URL_ENV = "DVNET_DAGSTER_PG_URL"
#: The driver is named because SQLAlchemy 2.1 reads a bare ``postgresql://`` as psycopg 3, and
#: dagster-postgres installs psycopg2: a bare URL would fail inside Dagster with a traceback.
PG_URL_SCHEME = "postgresql+psycopg2"
POSTGRES_STORAGE = {"postgres": {"postgres_url": {"env": PG_URL_ENV}}}
#: How many runs a PostgreSQL instance executes at once, read when dvnet writes its dagster.yaml.
#: SQLite keeps the template's one: its single file answers "database is locked" to overlapping runs.
MAX_RUNS_ENV = "DVNET_MAX_CONCURRENT_RUNS"
DEFAULT_MAX_RUNS = 4
#: A statement on the PostgreSQL instance that takes longer fails the command instead of hanging it.
PG_STATEMENT_TIMEOUT_MS = 120_000
#: Run-queue limits of the PostgreSQL instance. Intake runs of different agency × period partitions
#: overlap: they verify and decrypt in parallel and queue only for the warehouse lock to load. One
#: partition's runs go one at a time, in arrival order (a correction after the bundle it replaces).
#: Release runs, however launched (``dvnet publish``, the UI), share one pool of one slot (the
#: template's ``concurrency: pools``, ``RELEASE_POOL``): a second waits in
#: the queue, holding no worker, instead of waiting on the warehouse lock inside a run.
TAG_LIMITS = [
    {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1},
]
#: The concurrency pool of both release steps; its limit is the instance's ``default_limit``.
RELEASE_POOL = "dvnet_release"
POSTGRES_HEADER = (
    f"# Made by dvnet from its shipped dagster.yaml because {PG_URL_ENV} was set: runs, event log and\n"
    "# schedules live in PostgreSQL (dagster-postgres); the other blocks are the template's.\n"
)


def dagster_home_for(network: Path, option: Path | None, environ: Mapping[str, str]) -> Path:
    """The network's own instance folder, ``<network>/coordinator/dagster`` (or ``--dagster-home``,
    which is kept for that one network); its dagster.yaml made from the template with the storage
    the environment asks for, and refused if it keeps the other one. ``$DAGSTER_HOME`` is not read:
    a shell-wide variable is exactly what put every network in one instance."""
    network = Path(network).resolve()
    home = Path(option).resolve() if option else NetworkPaths(network).coordinator / INSTANCE_FOLDER
    wanted = "postgres" if environ.get(PG_URL_ENV) else "sqlite"
    if wanted == "postgres" and urlsplit(environ[PG_URL_ENV]).scheme != PG_URL_SCHEME:
        raise DvnetError(  # the URL itself is never printed: it holds the password
            "USAGE_DAGSTER_PG_URL_INVALID", f"{PG_URL_ENV} is not a {PG_URL_SCHEME}:// URL",
            hint=f"{PG_URL_ENV}={PG_URL_SCHEME}://USER:PASSWORD@HOST:5432/DATABASE (the driver dagster-postgres installs)",
        )
    if option:
        _claim(home, network)
    private_dir(home)  # Dagster's storage (runs, event logs, metadata) is created in it
    config = home / "dagster.yaml"
    if not config.exists():
        atomic_write(config, instance_yaml(wanted, environ).encode())  # a kill leaves none or all of it
    found = storage_kind(config)
    if found != wanted:
        # Never write some runs to one store and some to the other: the UI would show half the history.
        raise DvnetError(
            "USAGE_DAGSTER_STORAGE_MISMATCH",
            f"{config} keeps the instance in {found} but {PG_URL_ENV} is {'set' if wanted == 'postgres' else 'not set'}",
            hint=f"give a PostgreSQL instance its own folder (--dagster-home), or {'unset' if wanted == 'postgres' else 'set'} {PG_URL_ENV}",
        )
    if found == "sqlite":
        _current_sqlite_block(config)
        ensure_storage(home)  # whole before any run: a killed first start leaves no half-made store
    return home


#: The storage block of the dagster.yaml dvnet wrote until 2026-12-07 (Dagster's plain SQLite
#: storage). An instance whose file still holds it, as written, gets the template's current block:
#: the same files, its event log keeping its connections (``assets/sqlite_storage.py``). A block
#: someone changed is theirs and stays.
EARLIER_SQLITE_BLOCK = "\nstorage:\n  sqlite:\n    base_dir:\n      env: DAGSTER_HOME\n"


def _current_sqlite_block(config: Path) -> None:
    text = config.read_text(encoding="utf-8")
    if text.count(EARLIER_SQLITE_BLOCK) != 1:
        return
    template = (TEMPLATE_HOME / "dagster.yaml").read_text(encoding="utf-8")
    start = template.index("\nstorage:\n")
    block = template[start: template.index("\n\n", start) + 1]
    atomic_write(config, text.replace(EARLIER_SQLITE_BLOCK, block).encode())


def _claim(home: Path, network: Path) -> None:
    """An instance folder given with --dagster-home serves the network that first used it, only."""
    stamp = home / NETWORK_STAMP
    if stamp.is_file():
        owner = stamp.read_text(encoding="utf-8").strip()
        if owner != str(network):
            raise DvnetError(
                "USAGE_DAGSTER_HOME_OTHER_NETWORK", f"the Dagster instance in {home} belongs to the network in {owner}",
                hint="one instance per network: leave out --dagster-home (the network's own is <network>/coordinator/dagster), or give another folder",
            )
        return
    if home.is_dir() and any(p.name not in ("dagster.yaml", NETWORK_STAMP) for p in home.iterdir()):
        raise DvnetError(
            "USAGE_DAGSTER_HOME_OTHER_NETWORK", f"{home} already holds a Dagster instance not made for this network",
            hint="give --dagster-home a new or empty folder, or leave it out (the network's own is <network>/coordinator/dagster)",
        )
    private_dir(home)
    atomic_write(stamp, f"{network}\n".encode())


def instance_yaml(storage: str, environ: Mapping[str, str]) -> str:
    """The shipped dagster.yaml, its storage block swapped for PostgreSQL's when asked."""
    template = (TEMPLATE_HOME / "dagster.yaml").read_text(encoding="utf-8")
    if storage == "sqlite":
        return template
    config, limit = load_yaml(template), max_runs(environ)
    # The daemon launches queued runs in threads: a run's worker takes seconds to load the code, and
    # launched one after the other, short intake runs would never overlap.
    config["run_coordinator"]["config"] = {"dequeue_use_threads": True, "dequeue_num_workers": limit}
    config["concurrency"]["runs"] = {"max_concurrent_runs": limit, "tag_concurrency_limits": TAG_LIMITS}
    return POSTGRES_HEADER + yaml.safe_dump({**config, "storage": POSTGRES_STORAGE}, sort_keys=False)


def max_runs(environ: Mapping[str, str]) -> int:
    """``DVNET_MAX_CONCURRENT_RUNS`` (default 4), a whole number from 1."""
    value = environ.get(MAX_RUNS_ENV, "").strip() or str(DEFAULT_MAX_RUNS)
    if not value.isdigit() or int(value) < 1:
        raise DvnetError("USAGE_MAX_CONCURRENT_RUNS_INVALID", f"{MAX_RUNS_ENV} is not a whole number from 1",
                         hint=f"{MAX_RUNS_ENV}={DEFAULT_MAX_RUNS} (runs executing at once on a PostgreSQL instance)")
    return int(value)


def storage_kind(config: Path) -> str:
    """"postgres" when the instance's storage block is dagster-postgres's, else "sqlite" (Dagster's default)."""
    storage = (load_yaml(config.read_text(encoding="utf-8")) or {}).get("storage") or {}
    return "postgres" if "postgres" in storage else "sqlite"


_opened: dict[Path, object] = {}  # instances open in this process, by home


@contextmanager
def dagster_instance(home: Path) -> Iterator[object]:
    """The persistent instance in ``home`` (its dagster.yaml resolves paths from DAGSTER_HOME), the
    runs an ended dvnet process left in progress first marked failed (``run_owner``). Inside
    another block of the same home the instance already open is handed out again (opening one
    costs about half a second here: a command that runs two jobs opens it once around both)."""
    from dagster import DagsterInstance

    key = Path(home).resolve()
    if key in _opened:
        yield _opened[key]
        return
    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        with _reached(home):  # the opening only: a failure inside a run stays the run's
            opened = DagsterInstance.get()
        with opened as instance:
            if storage_kind(home / "dagster.yaml") == "postgres":
                # dagster-postgres opens a new connection for every statement unless told this
                # process is long-lived, as the webserver tells it; a dvnet command runs many
                # runs in one process (20 small-bundle runs: 2,760 connections, 8 ms each here).
                instance.optimize_for_webserver(statement_timeout=PG_STATEMENT_TIMEOUT_MS, pool_recycle=3600, max_overflow=4)
                _bind_database(instance, home)
            fail_abandoned_runs(instance)
            _ensure_pool(instance)
            _opened[key] = instance
            try:
                yield instance
            finally:
                del _opened[key]
    finally:
        if previous is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = previous


#: The network's side of its PostgreSQL instance's identity, in the instance folder; the database
#: keeps the same id as a cursor value of its run storage (``store_identity``).
PG_ID_STAMP = "dvnet-postgres-id"
PG_ID_KEY = "dvnet/network-id"


def _bind_database(instance, home: Path) -> None:
    """Refuse a PostgreSQL database that is another network's instance (DVNET_DAGSTER_PG_URL copied
    from its environment file): its runs, partitions and agencies would show in this UI."""
    storage = instance.run_storage

    def refuse(message: str) -> None:
        raise DvnetError("DAGSTER_OTHER_DATABASE", f"{message}: no run was started",
                         hint=f"one PostgreSQL database per network: set {PG_URL_ENV} to this network's own (and keep {PG_ID_STAMP} in {home})")

    store_identity.bind(home / PG_ID_STAMP, storage.get_cursor_values({PG_ID_KEY}).get(PG_ID_KEY),
                        put=lambda ours: storage.set_cursor_values({PG_ID_KEY: ours}), refuse=refuse,
                        what="the Dagster instance's PostgreSQL database")  # fmt: skip


@contextmanager
def _reached(home: Path) -> Iterator[None]:
    """Opening a PostgreSQL instance whose server cannot be reached (down, wrong host, port, user,
    password or database) is a configuration error told in one line (exit 2), not Dagster's
    traceback; the message names the variable, never the URL (it holds the password). Only the
    opening is covered: a failure inside a run is the run's, in its event log."""
    if storage_kind(home / "dagster.yaml") != "postgres":
        yield
        return
    from dagster_postgres.utils import DagsterPostgresException
    from sqlalchemy.exc import OperationalError

    try:
        yield
    except (DagsterPostgresException, OperationalError) as e:
        raise DvnetError("DAGSTER_UNREACHABLE", f"cannot connect to the Dagster instance's PostgreSQL server ({type(e).__name__})",
                         hint=f"check {PG_URL_ENV} (user, password, host, port, database) and that the server is running") from None  # fmt: skip


def _ensure_pool(instance) -> None:
    """The release pool's limit set in the instance before any run asks for it: the daemon reads
    the configured pools once per pass, before it sets a new pool to the default, so in the pass
    that first meets the pool every queued release run would start at once."""
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits and RELEASE_POOL not in storage.get_concurrency_keys():
        storage.initialize_concurrency_limit_to_default(RELEASE_POOL)


@dataclass(frozen=True)
class IntakeRun:
    """What a ``dvnet ingest`` run recorded: each bundle's outcome, and each check of the
    ``warehouse`` group it rebuilt (none when nothing loaded) by name, passed or not."""

    outcomes: list[dict]
    cube_checks: dict[str, bool]

    @property
    def cubes_rebuilt(self) -> bool | None:
        """None when nothing loaded (no rebuild), else whether every cube family rebuilt and reconciled."""
        return all(self.cube_checks.values()) if self.cube_checks else None


def run_intake(network: Path, home: Path, progress: Callable[[int], None] | None = None, lock_wait: float = DEFAULT_WAIT) -> IntakeRun:
    """Execute ``intake_batch`` over every pending bundle, one run: the per-bundle outcomes and the
    cube checks Dagster recorded.

    The run takes the warehouse writer in turns, one per agency × period group (waiting up to
    ``lock_wait`` seconds each; kept between groups while nobody waits), so a sensor-launched run
    or a publish waits for one group's loads, never for the batch. A ``WAREHOUSE_BUSY`` stops the batch: the groups before it are loaded and recorded, its
    bundles and the rest stay in the inbox. When anything loaded, the run's last turn rebuilds the
    ``warehouse`` group (the indicator cubes), as it does with an empty inbox when a rebuild is still
    owed (``cubes_due``). ``progress`` is told each group's bundle count."""
    from dvnet.assets.definitions import build_definitions
    from dvnet.assets.intake.assets import INTAKE
    from dvnet.assets.intake.batch import INTAKE_BATCH_JOB, LOAD_BATCH
    from dvnet.assets.intake.lib.ingest import pending_files
    from dvnet.assets.warehouse.lib import cubes_due
    from dvnet.assets.warehouse.assets import CUBE_FAMILIES, reconcile_check_name
    from dvnet.common.network import NetworkPaths

    paths = NetworkPaths(network)
    if not pending_files(paths.inbox) and not cubes_due.owed(paths.warehouse):
        return IntakeRun([], {})
    job = build_definitions(network, lock_wait=lock_wait, intake_progress=progress).resolve_job_def(INTAKE_BATCH_JOB)
    with dagster_instance(home) as instance:
        result = job.execute_in_process(run_config=SILENT_LOGS, instance=instance, tags={"dvnet/launched_by": "dvnet ingest", **this_process()})
    outcomes = [b for mat in result.asset_materializations_for_node(LOAD_BATCH) if mat.asset_key == INTAKE for b in mat.metadata["bundles"].value]
    cube_checks = {reconcile_check_name(f) for f in CUBE_FAMILIES}
    return IntakeRun(outcomes, {e.check_name: e.passed for e in result.get_asset_check_evaluations() if e.check_name in cube_checks})


def run_release_step(network: Path, home: Path, asset: str, config: dict, launched_by: str,
                     step: Callable[[str], None] = lambda name: None) -> tuple[str, dict[str, bool]]:
    """Materialise one asset of the ``releases`` group (``release_request`` or ``published_release``)
    and run its checks in-process with ``config``; the release id and each check's result. A refusal
    raises the error the step raised (AUDIT_FAILED, NOTHING_TO_PUBLISH, REVIEW_INCOMPLETE, ...)."""
    from dagster import AssetKey, AssetSelection, Definitions, define_asset_job

    from dvnet.assets.definitions import build_definitions

    name = f"{asset}_job"
    defs = Definitions.merge(build_definitions(network, release_steps=step),
                             Definitions(jobs=[define_asset_job(name, selection=AssetSelection.assets(asset))]))  # fmt: skip
    run_config = {"ops": {asset: {"config": config}}, **SILENT_LOGS}
    with dagster_instance(home) as instance:
        result = defs.resolve_job_def(name).execute_in_process(instance=instance, run_config=run_config, tags={"dvnet/launched_by": launched_by, **this_process()})
    (mat,) = [m for m in result.asset_materializations_for_node(asset) if m.asset_key == AssetKey(asset)]
    return mat.metadata["release_id"].value, {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def latest_check_results(network: Path, home: Path) -> dict[str, tuple[bool | None, str | None]]:
    """``<asset>:<check>`` -> (passed, severity) of every asset check's latest evaluation on the
    instance; (None, None) for a check never evaluated."""
    from dvnet.assets.definitions import build_definitions

    keys = [key for check in build_definitions(network).asset_checks or [] for key in check.check_keys]
    with dagster_instance(home) as instance:
        latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(keys)
    out: dict[str, tuple[bool | None, str | None]] = {}
    for key in keys:
        evaluation = latest[key].evaluation if key in latest else None
        name = f"{key.asset_key.to_user_string()}:{key.name}"
        out[name] = (evaluation.passed, evaluation.severity.value) if evaluation is not None else (None, None)
    return out
