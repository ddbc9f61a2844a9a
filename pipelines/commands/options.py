"""Options several commands share, declared once so they read and check the same everywhere.

``--network`` is always an explicit option: no command falls back to a folder of its own choosing
(a coordinator with two networks must never act on the wrong one because a flag was left out).
"""

from __future__ import annotations

from pathlib import Path

import click

from dvnet.common.network import NetworkPaths
from dvnet.contracts.errors import RegistryError

NETWORK_HELP = "The network folder (holds coordinator/registry.yaml), e.g. demo-network after `make demo`."


def _registered(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    if value is not None and not NetworkPaths(value).registry.exists():
        raise RegistryError("REGISTRY_MISSING", f"{value} is not a network folder (no coordinator/registry.yaml)",
                            hint=f"create one with `dvnet network init --network {value} --name ...`, or run `make demo`")
    return value


def network_option(*, new: bool = False, required: bool = True, help: str = NETWORK_HELP):
    """``--network PATH`` as ``network_dir``: an existing network folder, or with ``new`` one to create."""
    return click.option(
        "--network", "network_dir", required=required, metavar="FOLDER", help=help,
        type=click.Path(path_type=Path, file_okay=False, exists=not new), callback=None if new else _registered,
    )  # fmt: skip
