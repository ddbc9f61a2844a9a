"""Typed errors shared by every part of dvnet.

Every failure a user can cause carries a stable upper-snake ``reason`` code that tests and
scripts rely on, and a message that names files, columns, rules, counts and row numbers but
never a value taken from an extract.
"""

from __future__ import annotations


class DvnetError(Exception):
    """A failure caused by input or configuration, reported to the user without a traceback."""

    def __init__(self, reason: str, message: str, *, hint: str | None = None, **context: object):
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
        self.hint = hint
        self.context = context

    def to_dict(self) -> dict[str, object]:
        """A JSON-safe description (reason, message, context) for reports and quarantine files."""
        return {"reason": self.reason, "message": self.message, **{k: v for k, v in self.context.items()}}


class ContractError(DvnetError):
    """An unknown contract or version, or a contract definition that breaks the rules."""


class RegistryError(DvnetError):
    """A network registry file that cannot be read or does not validate."""


class ExtractError(DvnetError):
    """An agency extract that cannot be read safely (pre-scan) or fails the contract."""


class AccessError(DvnetError):
    """A person the network's policy does not allow to do what they asked (unknown, suspended,
    wrong key or role). Refused before anything changes, and audited."""
