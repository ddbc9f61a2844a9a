"""The coordinator's internal record of a release: why each cell is suppressed, and what it cost.

Kept outside the release folder (``coordinator/releases-internal/<release-id>.json``, owner-only),
because everything in a release folder is published and a reason tells an attacker a range (a
"primary" cell lies in 1..t-1), and the totals of the suppressed true values are a statistic of
exactly the values suppression hides. The reasons also sit in the release ledger (warehouse).
"""

from __future__ import annotations

import json
from pathlib import Path

from dvnet.anonymize.disclosure import ProtectedRelease
from dvnet.common.files import atomic_write, private_dir

INTERNAL_FOLDER = "releases-internal"


def internal_record_path(coordinator: Path, release_id: str) -> Path:
    return Path(coordinator) / INTERNAL_FOLDER / f"{release_id}.json"


def write_internal_record(coordinator: Path, release_id: str, stats: dict, protected: ProtectedRelease) -> Path:
    """Write the record: the coordinator's stats (per reason, information loss), the audit's
    figures, and per table each row's reason, true count and sole contributing agency (if one
    alone contributes), in the published table's row order."""
    path = internal_record_path(coordinator, release_id)
    private_dir(path.parent)
    record = {
        "release_id": release_id,
        "stats": stats,
        "audit": protected.audit.to_dict(),
        "reasons": {name: [str(r) for r in reasons] for name, reasons in protected.reasons.items()},
        # The true counts then: a later release of the period is audited against the difference.
        "truth": {t.name: [int(v) for v in t.frame["value"]] for t in protected.sources},
        # The one agency behind each row where one alone contributes: it knows that count later too.
        "owners": protected.owners,
    }
    atomic_write(path, json.dumps(record, indent=1, default=str).encode())
    return path


def read_record(coordinator: Path, release_id: str) -> dict | None:
    """The internal record of a release, or ``None`` when there is none."""
    path = internal_record_path(coordinator, release_id)
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def suppression_line(stats: dict) -> str:
    """The record's cells, published and suppressed, the suppressed per reason: the reasons add up to
    them, one per cell (``earlier``: kept suppressed because an earlier release of the period
    suppressed it, for itself or for others). The coordinator's words: never in a release file."""
    suppressed = stats["cells"] - stats["published"]
    return (f"cells {stats['cells']:,}  published {stats['published']:,}  suppressed {suppressed:,}: primary {stats['primary']:,}, "
            f"dominance {stats['dominance']:,}, complementary {stats['complementary']:,}, earlier {stats['earlier']:,}  ({stats['method']})")


def read_reasons(coordinator: Path, release_id: str) -> dict[str, list[str]] | None:
    """Per table, each row's reason, or ``None`` when there is no internal record of the release."""
    record = read_record(coordinator, release_id)
    return None if record is None else record["reasons"]
