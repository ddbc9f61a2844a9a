"""The `dvnet` command line: a pure ``main(argv, environ) -> exit code``.

User errors print one clear line and a hint, never a traceback; bugs still raise. Subcommands
live one per module in ``pipelines.commands`` and are imported lazily, so the agency-side
commands never import Dagster.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import os
import sys
import warnings
from collections.abc import Mapping, Sequence

import click

from dvnet.common.files import FileModeWarning
from dvnet.contracts.errors import AccessError, ContractError, DvnetError, RegistryError
from dvnet.kernels.duckdb_memory import MEMORY_LIMIT_ENV, memory_limit

EXIT_OK = 0
EXIT_REFUSED = 1  # the input was checked and refused (rejected rows, failed audit, quarantined bundle)
EXIT_USAGE = 2  # wrong options, unknown contract, invalid registry or configuration

# command name -> (module, attribute, one-line help). Imported only when the command runs.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "network": ("dvnet.pipelines.commands.network", "network", "The coordinator's registry: found a network, register agencies and people, suspend."),
    "agency": ("dvnet.pipelines.commands.agency", "agency", "An agency's own folder and keys (run on the agency's machine)."),
    "custodian": ("dvnet.pipelines.commands.custodian", "custodian", "Make the network linkage key and seal it to Tier 4 agencies."),
    "person": ("dvnet.pipelines.commands.person", "person", "Make a person's signing key and public person file."),
    "dsa": ("dvnet.pipelines.commands.dsa", "dsa", "Data-sharing agreements: add, show, list, amend, revoke, close (versioned, signed)."),
    "extract": ("dvnet.pipelines.commands.extract", "extract", "A DSA's research extract: make it sealed to each named researcher, or open yours."),
    "decision": ("dvnet.pipelines.commands.decision", "decision", "An organisation's decision log: add a signed decision, list those due for review."),
    "contracts": ("dvnet.pipelines.commands.contracts", "contracts", "List the data contracts and write the data dictionary."),
    "directory": ("dvnet.pipelines.commands.directory", "directory", "Export the Tier 1 professional directory (HTML, CSV, JSON)."),
    "synth": ("dvnet.pipelines.commands.synth", "synth", "Generate seeded synthetic extracts for a network's agencies."),
    "contribute": ("dvnet.pipelines.commands.contribute", "contribute", "Validate, de-identify and seal an agency extract."),
    "mapping": ("dvnet.pipelines.commands.mapping", "mapping", "Map your system's column names and codes onto a contract: make the file, check it."),
    "drop": ("dvnet.pipelines.commands.drop", "drop", "Set or show where the agency's bundles go (shared folder or SFTP, host key pinned)."),
    "send": ("dvnet.pipelines.commands.send", "send", "Deliver the agency's sealed bundles to the coordinator's drop (folder or SFTP)."),
    "receipts": ("dvnet.pipelines.commands.receipts", "receipts", "Fetch and verify the coordinator's receipts; show what became of each bundle."),
    "receipt": ("dvnet.pipelines.commands.receipt", "receipt", "Verify a coordinator's signed receipt for a bundle."),
    "ingest": ("dvnet.pipelines.commands.ingest", "ingest", "Verify, quarantine or load the bundles in the coordinator inbox."),
    "publish": ("dvnet.pipelines.commands.publish", "publish", "Request a disclosure-controlled release (two reviewers must approve it)."),
    "review": ("dvnet.pipelines.commands.review", "review", "Release requests: list, show, approve or reject (two-person output check)."),
    "release": ("dvnet.pipelines.commands.release", "release", "Publish an approved release request, or withdraw a published release."),
    "query": ("dvnet.pipelines.commands.query", "query", "Run read-only SQL against published releases."),
    "ui": ("dvnet.pipelines.commands.ui", "ui", "Start the Dagster UI on 127.0.0.1 for the coordinator."),
    "warehouse": ("dvnet.pipelines.commands.warehouse", "warehouse", "The coordinator's warehouse: move an embedded network's intake tables into PostgreSQL."),
    "audit": ("dvnet.pipelines.commands.audit", "audit", "Verify an audit log against its anchors; show its entries."),
    "demo": ("dvnet.pipelines.commands.demo", "demo", "Run a whole simulated network: agencies -> coordinator -> release."),
}


#: Commands that run at the coordinator, on the `central` extra (Dagster, the LP solvers, charts).
CENTRAL_COMMANDS = ("ingest", "publish", "review", "release", "ui", "demo", "warehouse")
#: The modules only the `central` extra installs; a missing one means the agency-side install.
CENTRAL_MODULES = ("dagster", "dagster_webserver", "dagster_duckdb", "scipy", "highspy", "matplotlib", "psycopg2")


#: Set by ``run``: this process is the command's own and ends with it (not a host calling ``main``).
_OWN_PROCESS = False


def imports_settled() -> None:
    """A command calls this once its heavy imports are done. In its own process (``run``), their
    objects (pandas', DuckDB's, Dagster's and the rest: hundreds of thousands, alive until exit) are moved
    out of the cyclic collector's sight (``gc.freeze``), so its full passes during the work and
    the last one at exit no longer walk them; what the command creates afterwards is collected as
    usual. A host calling ``main`` in its own process (a test, a notebook) is left alone: the
    freeze would keep whatever garbage it holds at that moment. Called by ``dvnet contribute`` and
    ``dvnet ingest``; measured on both (docs/architecture.md)."""
    if _OWN_PROCESS:
        gc.freeze()


def central_missing(name: str) -> DvnetError:
    return DvnetError(
        "USAGE_CENTRAL_NOT_INSTALLED",
        f"`dvnet {name}` runs at the coordinator and needs the coordinator's install; this one is the agency-side install",
        hint="install the central extra: pip install '.[central]' from the dvnet folder (or pip install 'dvnet-<version>.whl[central]')",
    )


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        if name in CENTRAL_COMMANDS and any(importlib.util.find_spec(m) is None for m in CENTRAL_MODULES):
            raise central_missing(name)
        module, attr, _ = COMMANDS[name]
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Help text from the table, so `dvnet --help` does not import every command.
        with formatter.section("Commands"):
            formatter.write_dl([(name, help_) for name, (_, _, help_) in COMMANDS.items()])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="dvnet")
def cli() -> None:
    """dvnet: federated data contribution and aggregation for a coordinated DV response network.

    Agencies run `contribute` on their own machine; the coordinator runs `ingest`, `publish` and `ui`;
    evaluators run `query` against published releases. `demo` runs a whole simulated network.
    """


#: Reasons about configuration or the command line, not about the input checked: exit 2 like a
#: usage error (besides ContractError, RegistryError and every USAGE_ reason).
CONFIGURATION_REASONS = frozenset(
    {"KEY_INVALID", "KEY_FILE_INSECURE", "KEY_EXISTS", "UNKNOWN_PROFILE", "INVALID_PROFILE", "RELEASE_UNKNOWN", "REQUEST_UNKNOWN", "QUERY_FAILED",
     "QUERY_TIME_LIMIT", "QUERY_TOO_LARGE",  # a query past its bounds: refused like one that fails
     "WRAP_INVALID", "WRAP_NOT_FOR_AGENCY", "WRAP_WRONG_CUSTODIAN",  # a wrapped key file given on the command line
     "MAPPING_INVALID",  # the agency's mapping file (its configuration for a contract), checked before the extract is read
     "WAREHOUSE_BUSY",  # another command holds the warehouse: nothing was checked, run it again later
     "WAREHOUSE_UNREADABLE",  # the warehouse file could not be opened (damaged, another program's): nothing was changed
     "WAREHOUSE_UNREACHABLE", "WAREHOUSE_PROFILE_MISMATCH", "WAREHOUSE_TARGET_NOT_EMPTY", "WAREHOUSE_OTHER_DATABASE",  # the scaled profile's PostgreSQL warehouse (DVNET_WAREHOUSE_PG_URL)
     "DAGSTER_UNREACHABLE", "DAGSTER_OTHER_DATABASE",  # the scaled profile's PostgreSQL Dagster instance (DVNET_DAGSTER_PG_URL)
     "DISK_FULL", "DISK_READ_ONLY",  # the machine, not the input: nothing was checked or kept half-written
     "WAREHOUSE_BEHIND_AUDIT_LOG"}  # a warehouse restored without its audit log: nothing loaded until they match
)  # fmt: skip
#: Owner-only files and folders for everything a command creates (data, reports, logs, keys);
#: the writers also ask for owner-only modes themselves (``common.files``), this covers the rest
#: (DuckDB, Parquet and CSV writers, Dagster's storage) and the processes a command starts.
UMASK = 0o077


def _usage_reason(e: click.ClickException) -> str:
    if isinstance(e, click.MissingParameter):
        return "USAGE_OPTION_MISSING"
    if isinstance(e, click.BadParameter):
        return "USAGE_OPTION_INVALID"
    if isinstance(e, click.NoSuchOption):
        return "USAGE_OPTION_UNKNOWN"
    return "USAGE_INVALID"


def _usage_line(e: click.ClickException) -> None:
    """A click usage error as the one ``error: REASON: message`` line every dvnet error has, and a hint."""
    message = " ".join(e.format_message().split())
    click.echo(f"error: {_usage_reason(e)}: {message}", err=True)
    ctx = getattr(e, "ctx", None)
    click.echo(f"hint: see `{ctx.command_path if ctx else 'dvnet'} --help`", err=True)


def _show_warning(message, category, filename, lineno, file=None, line=None, *, _default=warnings.showwarning) -> None:
    """A fixed file mode is one plain line for the user; other warnings as Python shows them."""
    if issubclass(category, FileModeWarning):
        click.echo(f"warning: FILE_MODE_FIXED: {message}", err=True)
    else:
        _default(message, category, filename, lineno, file, line)


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run the CLI and return its exit code (0 ok, 1 input refused, 2 usage or configuration)."""
    environ = os.environ if environ is None else environ
    os.umask(UMASK)
    warnings.showwarning = _show_warning
    try:
        memory_limit(environ)  # a bad setting is a usage error before any work, not an error halfway
    except ValueError as e:
        return _user_error(DvnetError("USAGE_MEMORY_LIMIT_INVALID", str(e), hint=f"unset {MEMORY_LIMIT_ENV} to use DuckDB's default (80 % of memory)"))
    try:
        result = cli.main(args=list(argv) if argv is not None else None, prog_name="dvnet", standalone_mode=False, obj={"environ": environ})
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.ClickException as e:
        _usage_line(e)
        return EXIT_USAGE
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return EXIT_USAGE
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] not in CENTRAL_MODULES:
            raise  # a bug, not the agency-side install
        return _user_error(central_missing(_command(argv)))
    except DvnetError as e:
        return _user_error(e)
    except Exception as e:
        if _out_of_memory(e):
            return _user_error(out_of_memory(argv))
        from dvnet.common.disk_errors import disk_error

        if (disk := disk_error(e, _command(argv))) is None:
            raise  # a bug: its traceback is for the developers
        return _user_error(disk)
    return result if isinstance(result, int) else EXIT_OK


def _out_of_memory(e: BaseException) -> bool:
    """Python's MemoryError, or DuckDB's (only if DuckDB is loaded: never imported for this)."""
    duckdb = sys.modules.get("duckdb")
    return isinstance(e, MemoryError) or (duckdb is not None and isinstance(e, duckdb.OutOfMemoryException))


def _command(argv: Sequence[str] | None) -> str:
    """The command's name as typed (for a message)."""
    return next((a for a in argv or sys.argv[1:] if not a.startswith("-")), "...")


def out_of_memory(argv: Sequence[str] | None) -> DvnetError:
    command = _command(argv)
    return DvnetError(
        "OUT_OF_MEMORY",
        f"this machine ran out of memory during `dvnet {command}`; nothing it was writing was kept (files are written whole or not at all)",
        hint=f"close other programs or run it on a machine with more memory; {MEMORY_LIMIT_ENV}, if set, is the limit DuckDB was held to",
    )


def _user_error(e: DvnetError) -> int:
    """Print a user error as one line (and a hint); its exit code."""
    click.echo(f"error: {e.reason}: {' '.join(e.message.split())}", err=True)
    if e.hint:
        click.echo(f"hint: {e.hint}", err=True)
    usage = isinstance(e, (AccessError, ContractError, RegistryError)) or e.reason.startswith("USAGE") or e.reason in CONFIGURATION_REASONS
    return EXIT_USAGE if usage else EXIT_REFUSED


def run() -> None:
    """Console-script entry point. Once the command has returned, everything still alive is moved
    out of the cyclic collector's sight (``gc.freeze``): an interpreter's exit ends with full
    collections that walk every live object (Dagster's, DuckDB's, pandas' and the command's own),
    for nothing, since a command closes what it writes itself and leaves nothing to a collector.
    `dvnet ingest` of 50 bundles spent 0.83-0.85 s between its last atexit handler and the end of
    its process, 0.07 s frozen (docs/architecture.md)."""
    global _OWN_PROCESS
    _OWN_PROCESS = True
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    run()
