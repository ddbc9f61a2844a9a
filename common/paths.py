"""Where a network's folders are (``NetworkPaths``): paths only, nothing read, nothing imported.

Its own module so that a command can name them at import time (``--help`` among them) without
loading the registry code, YAML and the key libraries; ``dvnet.common.network`` re-exports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class NetworkPaths:
    root: Path

    @property
    def coordinator(self) -> Path:
        return self.root / "coordinator"

    @property
    def registry(self) -> Path:
        return self.coordinator / "registry.yaml"

    @property
    def keys(self) -> Path:
        return self.coordinator / "keys"

    @property
    def inbox(self) -> Path:
        return self.coordinator / "inbox"

    @property
    def quarantine(self) -> Path:
        return self.coordinator / "quarantine"

    @property
    def archive(self) -> Path:
        """Bundles that were loaded (or were duplicates of a loaded one), kept as received."""
        return self.coordinator / "archive"

    @property
    def warehouse(self) -> Path:
        return self.coordinator / "warehouse" / "warehouse.duckdb"

    @property
    def releases(self) -> Path:
        return self.coordinator / "releases"

    @property
    def receipts(self) -> Path:
        return self.coordinator / "receipts"

    @property
    def audit_log(self) -> Path:
        return self.coordinator / "audit.log"

    @property
    def coordinator_public(self) -> Path:
        return self.coordinator / "coordinator-public.yaml"

    @property
    def agencies(self) -> Path:
        return self.root / "agencies"
