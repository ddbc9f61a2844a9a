"""Where an agency's bundles go: the ``drop:`` section of its ``agency.yaml``.

Two kinds of drop, one shape::

    drop:
      inbox: /srv/coalition/coordinator/inbox                        # bundles are delivered here
      receipts: /srv/coalition/coordinator/receipts/harbour-house    # the coordinator's receipts for us
      sftp:                  # absent: inbox and receipts are folders this machine can reach (a share)
        host: drop.coalition.example.org
        port: 22
        user: harbour-house
        host_key: ssh-ed25519 AAAAC3Nza...   # the drop server's public host key, pinned
        identity_file: keys/drop_ed25519     # this agency's SSH key (relative to the agency folder)

The host key is pinned here and nowhere else: a server presenting any other key is refused, there
is no "accept on first use". Every error names the field by its path (``drop.sftp.port``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dvnet.common.yaml_text import load_yaml
from dvnet.common.files import atomic_write
from dvnet.common.network import AgencyConfig
from dvnet.contracts.errors import RegistryError
from dvnet.pipelines.delivery import folder
from dvnet.pipelines.delivery.defaults import DEFAULT_IDENTITY, SSH_PORT



@dataclass(frozen=True)
class SftpTarget:
    host: str
    port: int
    user: str
    host_key: str  # one OpenSSH public key line: "<type> <base64>"
    identity_file: Path


@dataclass(frozen=True)
class Drop:
    """The coordinator's drop as this agency reaches it; ``sftp`` None means a shared folder."""

    inbox: str
    receipts: str
    sftp: SftpTarget | None = None

    def describe(self, path: str | None = None) -> str:
        """Where ``path`` (default: the inbox) is, as the steward would write it."""
        path = self.inbox if path is None else path
        if self.sftp is None:
            return f"shared folder {path}"
        return f"sftp://{self.sftp.user}@{self.sftp.host}:{self.sftp.port}{'' if path.startswith('/') else '/'}{path}"

    def deliver(self, files: Sequence[Path], delivered: Callable[[Path], None]) -> None:
        """Put each file into the inbox atomically, calling ``delivered(file)`` after each."""
        if self.sftp is None:
            folder.deliver(self.inbox, files, delivered)
        else:
            from dvnet.pipelines.delivery import sftp  # asyncssh only when the drop is SFTP

            sftp.deliver(self.sftp, self.inbox, files, delivered)

    def fetch_receipts(self) -> list[tuple[str, bytes]]:
        """(name, bytes) of every receipt waiting in the drop's receipts folder."""
        if self.sftp is None:
            return folder.fetch_receipts(self.receipts)
        from dvnet.pipelines.delivery import sftp

        return sftp.fetch_receipts(self.sftp, self.receipts)


def _invalid(path: str, problem: str) -> RegistryError:
    return RegistryError("AGENCY_CONFIG_INVALID", f"agency.yaml: {path} {problem}", field=path,
                         hint="the coordinator tells you these values; see README, 'Sending to the coordinator'")


def _text(section: dict, key: str, path: str) -> str:
    value = section.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _invalid(f"{path}.{key}", "is required (a non-empty text)")
    if any(ch < " " or "\x7f" <= ch <= "\x9f" for ch in value):  # printed on the agency's terminal
        raise _invalid(f"{path}.{key}", "must be one line of text without control characters")
    return value.strip()


def _only(section: Any, path: str, known: tuple[str, ...]) -> dict:
    if not isinstance(section, dict):
        raise _invalid(path, "must be a mapping")
    unknown = sorted(set(section) - set(known))
    if unknown:
        raise _invalid(f"{path}.{unknown[0]}", "is not a known field")
    return section


def drop_of(agency: AgencyConfig) -> Drop:
    """The agency's drop, validated; ``DROP_NOT_CONFIGURED`` when agency.yaml has none."""
    if not agency.drop:
        raise RegistryError(
            "DROP_NOT_CONFIGURED", f"{agency.folder / 'agency.yaml'} has no drop: section, so dvnet does not know where to send",
            hint="add the drop the coordinator gave you (README, 'Sending to the coordinator')",
        )
    d = _only(agency.drop, "drop", ("inbox", "receipts", "sftp"))
    inbox, receipts = _text(d, "inbox", "drop"), _text(d, "receipts", "drop")
    if "sftp" not in d:
        return Drop(inbox=str(_local(agency, inbox)), receipts=str(_local(agency, receipts)))
    s = _only(d["sftp"], "drop.sftp", ("host", "port", "user", "host_key", "identity_file"))
    port = s.get("port", SSH_PORT)
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise _invalid("drop.sftp.port", "must be a port number from 1 to 65535")
    host_key = _text(s, "host_key", "drop.sftp")
    if len(host_key.split()) < 2:
        raise _invalid("drop.sftp.host_key", "must be one OpenSSH public key line, e.g. 'ssh-ed25519 AAAA...'")
    identity = Path(s.get("identity_file") or DEFAULT_IDENTITY)
    target = SftpTarget(
        host=_text(s, "host", "drop.sftp"), port=port, user=_text(s, "user", "drop.sftp"), host_key=host_key,
        identity_file=identity if identity.is_absolute() else agency.folder / identity,
    )
    return Drop(inbox=inbox, receipts=receipts, sftp=target)


def _local(agency: AgencyConfig, text: str) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() else (agency.folder / path)


def save_drop(agency: AgencyConfig, section: dict[str, Any]) -> Drop:
    """Validate ``section`` as the agency's drop and write it into agency.yaml, other keys untouched."""
    import yaml

    drop = drop_of(replace(agency, drop=section))
    path = agency.folder / "agency.yaml"
    data = load_yaml(path.read_text(encoding="utf-8")) or {}
    data["drop"] = section
    atomic_write(path, yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode("utf-8"), mode=0o600)
    return drop
