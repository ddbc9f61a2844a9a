"""`--as PERSON` and `--key FILE` for every command that changes the network's state or hands out data.

    @acting_as("publish")
    def publish(actor, network_dir, ...): ...

authorises the person for the action (``dvnet.common.authority.authorise``: registered, active,
their key, a role the policy table allows; audited either way) before the command body runs,
passes the granted ``actor`` in, and records a granted action that then fails.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import click

from dvnet.contracts.errors import DvnetError

AS_HELP = "Run as this person (their id in the registry); the command is signed with their key and audited."
KEY_HELP = "The person's signing key (default: ~/.config/dvnet/people/<id>/signing.key if present, else $DVNET_KEY)."


def acting_as(action: str, *, network: str = "network_dir", agency: str | None = None):
    """Decorate a click command: adds ``--as`` and ``--key``; the command receives ``actor``.
    ``network`` names the command's parameter holding the network folder (``--network``, see
    options.py); ``agency`` the one naming the agency the action is for, when a role acting for one
    agency may be granted it."""

    def decorate(command):
        @click.option("--as", "person_id", required=True, metavar="PERSON", help=AS_HELP)
        @click.option("--key", "key_option", type=click.Path(path_type=Path, dir_okay=False), help=KEY_HELP)
        @click.pass_context
        @functools.wraps(command)
        def run(ctx: click.Context, person_id: str, key_option: Path | None, **kwargs):
            from dvnet.common.authority import authorise, failed, person_key_path

            environ = (ctx.obj or {}).get("environ", os.environ)
            key = person_key_path(person_id, key_option, environ)
            actor = authorise(Path(kwargs[network]), person_id, key, action, agency=kwargs[agency] if agency else None)
            try:
                return ctx.invoke(command, actor=actor, **kwargs)
            except DvnetError as e:
                failed(actor, e)
                raise

        return run

    return decorate
