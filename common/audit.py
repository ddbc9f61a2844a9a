"""Append-only, hash-chained audit logs (agency and coordinator alike).

A line is one JSON event: time, event name, and value-free details (counts, reason codes, ids).
Each line carries the SHA-256 of the previous line, so removing or editing a line breaks the
chain, which ``verify`` reports by line number.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
from pathlib import Path

from dvnet.common.files import PRIVATE_FILE, private_dir
from dvnet.contracts.errors import DvnetError

GENESIS = "0" * 64


def _last_hash(path: Path) -> str:
    """SHA-256 of the whole last line, scanning back from the end in blocks until its start."""
    size = path.stat().st_size if path.exists() else 0
    if size == 0:
        return GENESIS
    with path.open("rb") as f:
        block, end = 65536, size - 1  # skip the final newline
        tail = b""
        while True:
            start = max(0, end - block)
            f.seek(start)
            tail = f.read(end - start) + tail
            end = start
            if b"\n" in tail or start == 0:
                break
    return hashlib.sha256(tail.rsplit(b"\n", 1)[-1]).hexdigest()


def append(path: Path, event: str, now: dt.datetime | None = None, **details: object) -> dict:
    """Append one event; returns the record written."""
    path = Path(path)
    private_dir(path.parent)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), PRIVATE_FILE), "ab") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            record = {
                "at": (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"),
                "event": event,
                **details,
                "prev": _last_hash(path),
            }
            f.write(json.dumps(record, sort_keys=True, default=str).encode("utf-8") + b"\n")
            f.flush()
            os.fsync(f.fileno())
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
    return record


def read(path: Path) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def verify(path: Path) -> int:
    """Check the chain; returns the number of events, raises ``AUDIT_CHAIN_BROKEN`` naming the line."""
    prev = GENESIS
    lines = Path(path).read_bytes().splitlines() if Path(path).exists() else []
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except ValueError:
            raise DvnetError("AUDIT_CHAIN_BROKEN", f"{Path(path).name} line {number} is not a valid record") from None
        if not isinstance(record, dict) or record.get("prev") != prev:
            raise DvnetError("AUDIT_CHAIN_BROKEN", f"{Path(path).name} line {number} does not follow the line before it")
        prev = hashlib.sha256(line).hexdigest()
    return len(lines)
