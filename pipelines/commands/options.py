"""Options and option types several commands share, declared once so they read and check the same
everywhere: each checks its value where click parses it, so a bad value is a one-line usage error
(exit 2) before the command does anything.

``--network`` is always an explicit option: no command falls back to a folder of its own choosing
(a coordinator with two networks must never act on the wrong one because a flag was left out).
"""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path

import click

from dvnet.contracts.errors import DvnetError, RegistryError
from dvnet.contracts.periods import Period

NETWORK_HELP = "The network folder (holds coordinator/registry.yaml), e.g. demo-network after `make demo`."


def _registered(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    from dvnet.common.network import NetworkPaths  # yaml and cryptography only once a command runs

    if value is not None and not NetworkPaths(value).registry.exists():
        if (Path(value) / "agency.yaml").exists():  # a steward's own folder: founding a network there is never the answer
            hint = ("this is an agency's folder; this command needs the network's folder, which the coordinator holds "
                    "(to try the contributor on synthetic data, ask the coordinator for synthetic extracts or run `make demo`)")
        else:
            hint = f"create one with `dvnet network init --network {value} --name ...`, or run `make demo`"
        raise RegistryError("REGISTRY_MISSING", f"{value} is not a network folder (no coordinator/registry.yaml)", hint=hint)
    return value


def network_option(*, new: bool = False, required: bool = True, help: str = NETWORK_HELP):
    """``--network PATH`` as ``network_dir``: an existing network folder, or with ``new`` one to create."""
    return click.option(
        "--network", "network_dir", required=required, metavar="FOLDER", help=help,
        type=click.Path(path_type=Path, file_okay=False, exists=not new), callback=None if new else _registered,
    )  # fmt: skip


def dagster_home_option():
    """``--dagster-home``: an instance folder other than the network's own (one network only)."""
    return click.option(
        "--dagster-home", type=click.Path(path_type=Path, file_okay=False),
        help="Dagster instance folder for this network only (default: the network's own, <network>/coordinator/dagster).",
    )  # fmt: skip


class FiniteFloatRange(click.FloatRange):
    """``click.FloatRange`` that also refuses NaN and infinities (a NaN passes every comparison)."""

    def convert(self, value, param, ctx):
        rv = super().convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return rv


class QuarterType(click.ParamType):
    """A calendar quarter, e.g. 2026-Q3 (the rule is ``contracts.periods.Period.parse``)."""

    name = "quarter"

    def convert(self, value, param, ctx):
        try:
            return str(Period.parse(value))
        except DvnetError as e:
            self.fail(e.message, param, ctx)


QUARTER = QuarterType()


class InputFileType(click.Path):
    """An existing regular file to read (a public file, a receipt, a log). A FIFO or a device
    would block the read, or never end it: refused here, before the command opens it."""

    def __init__(self) -> None:
        super().__init__(path_type=Path, dir_okay=False, exists=True)

    def convert(self, value, param, ctx):
        path = super().convert(value, param, ctx)
        if not stat.S_ISREG(os.stat(path).st_mode):
            self.fail(f"{click.format_filename(path)!r} is not a regular file", param, ctx)
        return path


INPUT_FILE = InputFileType()
