"""Append-only, hash-chained audit logs (one per side: the coordinator's, each agency's, the custodian's).

A line is one entry, canonical JSON: its number ``n``, time, **actor** (a person id, or
``coordinator:<id>`` / ``agency:<id>`` for the software acting for that party), action, the ids of
the objects it touched, outcome, reason code and value-free details (counts, codes) — never a value
from an extract. Each entry carries the SHA-256 of the line before it, and an entry made by
someone with a key is signed by them (Ed25519 over the entry without its signature, so the link
to the previous entry is signed too).

The chain alone cannot notice its own tail being cut, or a whole file rewritten with fresh links.
So the head (number and hash of the newest entry) is **anchored** outside the log: in
``<log>.head``, rewritten after every append and signed by the side's own key, in every receipt
the coordinator signs, and in every release manifest. ``verify`` checks the chain, the
signatures, and that every anchor still points at an entry with the anchored hash.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import fcntl
import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from dvnet.bundle.keys import key_id
from dvnet.common.faults import AFTER_AUDIT, maybe_crash
from dvnet.common.files import PRIVATE_FILE, atomic_write, private_dir
from dvnet.contracts.errors import DvnetError

GENESIS = "0" * 64
ENTRY_LABEL = b"dvnet-audit-entry/1\x00"
HEAD_FORMAT = "dvnet-audit-head/1"
HEAD_LABEL = b"dvnet-audit-head/1\x00"
#: Outcome of an entry that granted a person's request: it must carry that person's signature.
GRANTED = "granted"
REFUSED = "refused"


class Signer(Protocol):
    """Someone who signs the entries they make: ``actor`` is the id written in the entry."""

    @property
    def actor(self) -> str: ...

    @property
    def key(self) -> ed25519.Ed25519PrivateKey: ...


@dataclass(frozen=True)
class KeySigner:
    """A party signing with a key it holds (the coordinator's or an agency's software)."""

    actor: str
    key: ed25519.Ed25519PrivateKey


@dataclass(frozen=True)
class Head:
    """The newest entry of a log: its number and the SHA-256 of its line (0 and GENESIS when empty)."""

    entries: int
    sha256: str

    def to_dict(self) -> dict:
        return {"entries": self.entries, "sha256": self.sha256}


@dataclass(frozen=True)
class Anchor:
    """A head recorded somewhere the log's keeper cannot quietly change (a receipt, a manifest).
    ``signed``: its signature was checked (a receipt, the head file), so it is the keeper's word;
    an unsigned one (a release manifest) that disagrees with an intact log may be the one edited."""

    source: str
    entries: int
    sha256: str
    signed: bool = True


@dataclass(frozen=True)
class Verified:
    entries: int
    signatures: int  # entry signatures checked
    anchors: int  # anchors checked (the head file included)
    head_signed: bool  # the head file's signature was checked against a known key


class AuditError(DvnetError):
    """A log that fails verification; ``entry`` is the number of the first bad entry (for
    ``ANCHOR_MISMATCH``: the entry the log and an unsigned anchor disagree about)."""


#: An unsigned anchor (a release manifest) disagrees with a log whose chain, signatures and signed
#: anchors all verify: either that file or the log was changed, and the log alone cannot say which.
ANCHOR_MISMATCH = "AUDIT_ANCHOR_MISMATCH"
NOT_A_LOG = "AUDIT_NOT_A_LOG"


def _lines(path: Path) -> list[bytes]:
    """The log's lines (an empty line is not one): line k is entry k in an intact log."""
    return [line for line in path.read_bytes().split(b"\n") if line] if path.exists() else []


def entry_of(line: bytes) -> dict | None:
    """The entry a line holds, or None when it is not one: a JSON object with a whole-number ``n``,
    an ISO 8601 time ``at`` and, when present, ``objects`` a mapping. The one test of an entry's
    form, for ``verify`` and every reader."""
    try:
        record = json.loads(line)
        if not isinstance(record, dict) or not isinstance(record.get("n"), int) or isinstance(record["n"], bool):
            return None
        dt.datetime.fromisoformat(record["at"])
    except (ValueError, KeyError, TypeError):
        return None
    return record if isinstance(record.get("objects", {}), dict) else None


def _canonical(record: Mapping) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")


def _sign(key: ed25519.Ed25519PrivateKey, label: bytes, body: bytes) -> dict:
    return {"key_id": key_id(key.public_key()), "ed25519": base64.b64encode(key.sign(label + body)).decode("ascii")}


def _signature_ok(sig: object, label: bytes, body: bytes, public: ed25519.Ed25519PublicKey) -> bool:
    try:
        public.verify(base64.b64decode(str(sig["ed25519"]).encode("ascii"), validate=True), label + body)  # type: ignore[index]
    except (InvalidSignature, binascii.Error, UnicodeEncodeError, KeyError, TypeError):
        return False
    return True


def head_path(path: Path) -> Path:
    return Path(path).with_name(Path(path).name + ".head")


def _last_line(f, size: int) -> bytes:
    """The whole last line, scanning back from the end in blocks until its start."""
    block, end, tail = 65536, size - 1, b""  # skip the final newline
    while True:
        start = max(0, end - block)
        f.seek(start)
        tail = f.read(end - start) + tail
        end = start
        if b"\n" in tail or start == 0:
            return tail.rsplit(b"\n", 1)[-1]


def _tail_head(f, size: int) -> Head:
    if size == 0:
        return Head(0, GENESIS)
    line = _last_line(f, size)
    try:
        number = int(json.loads(line)["n"])
    except (ValueError, KeyError, TypeError):
        # A mangled last line: keep counting lines, so the next entry's number is still its line.
        f.seek(0)
        number = sum(1 for _ in f)
    return Head(number, hashlib.sha256(line).hexdigest())


def _lines_backwards(f, size: int) -> Iterator[bytes]:
    """The log's lines, newest first, read back from the end in blocks."""
    block, end, partial = 65536, size, b""
    while end > 0:
        start = max(0, end - block)
        f.seek(start)
        parts = (f.read(end - start) + partial).split(b"\n")
        end, partial = start, parts[0]  # the first part may continue in the block before
        yield from (line for line in reversed(parts[1:]) if line)
    if partial:
        yield partial


def _entry_once(f, size: int, once: str, since: dt.datetime | None) -> Head | None:
    """The head at the entry recording event ``once``, if the log holds one; the search stops at
    the first entry dated before ``since`` (an event is logged after it happens)."""
    for line in _lines_backwards(f, size):
        try:
            record = json.loads(line)
            if since is not None and dt.datetime.fromisoformat(record["at"]) < since:
                return None
            if record.get("once") == once:
                return Head(int(record["n"]), hashlib.sha256(line).hexdigest())
        except (ValueError, KeyError, TypeError, AttributeError):
            continue  # a mangled line is for ``verify`` to name
    return None


def head(path: Path) -> Head:
    """The log's current head, read from the log itself."""
    path = Path(path)
    if not path.exists():
        return Head(0, GENESIS)
    with path.open("rb") as f:
        return _tail_head(f, path.stat().st_size)


def last_of(path: Path, action: str) -> dict | None:
    """The log's last entry recording ``action``, read from the end (a mangled line is skipped:
    ``verify`` names it); None when there is none."""
    path = Path(path)
    if not path.exists():
        return None
    with path.open("rb") as f:
        for line in _lines_backwards(f, path.stat().st_size):
            record = entry_of(line)
            if record is not None and record.get("action") == action:
                return record
    return None


def append(
    path: Path,
    action: str,
    *,
    actor: str | Signer,
    objects: Mapping[str, object] | None = None,
    outcome: str = "done",
    reason: str | None = None,
    now: dt.datetime | None = None,
    head_key: ed25519.Ed25519PrivateKey | None = None,
    once: str | None = None,
    once_since: dt.datetime | None = None,
    **details: object,
) -> Head:
    """Append one entry (signed when ``actor`` is a ``Signer``) and rewrite the head file, signed
    with ``head_key`` (the side's own key) when given. Returns the new head: the anchor a receipt
    or manifest made now should carry.

    ``once`` names the event an entry records, for steps a crash can make a process repeat: when the
    log already holds an entry with the same ``once`` (searched back to ``once_since``, or to the
    start), nothing is appended and that entry's head is returned. The check and the append are under
    the log's lock, so two processes cannot both write it."""
    path = Path(path)
    private_dir(path.parent)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), PRIVATE_FILE), "ab") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            with path.open("rb") as r:
                size = os.fstat(f.fileno()).st_size
                before = _tail_head(r, size)
                logged = _entry_once(r, size, once, once_since) if once is not None else None
            if logged is not None:
                return logged
            record = {
                "n": before.entries + 1,
                "at": (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"),
                "actor": actor if isinstance(actor, str) else actor.actor,
                "action": action,
                "objects": {k: v for k, v in (objects or {}).items() if v is not None},
                "outcome": outcome,
                "reason": reason,
                "details": details,
                "prev": before.sha256,
                **({"once": once} if once is not None else {}),
            }
            if not isinstance(actor, str):
                record["sig"] = _sign(actor.key, ENTRY_LABEL, _canonical(record))
            line = _canonical(record)
            f.write(line + b"\n")
            f.flush()
            os.fsync(f.fileno())
            new_head = Head(record["n"], hashlib.sha256(line).hexdigest())
            _write_head(path, new_head, head_key)
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
    maybe_crash(AFTER_AUDIT + action)
    return new_head


def _write_head(path: Path, now_head: Head, key: ed25519.Ed25519PrivateKey | None) -> None:
    body = {"format": HEAD_FORMAT, "log": path.name, **now_head.to_dict()}
    doc = {**body, "sig": _sign(key, HEAD_LABEL, _canonical(body))} if key is not None else body
    # Written after the entry: a crash between the two leaves the head one entry behind, which
    # verifies; a head ahead of its log is what a cut tail looks like.
    atomic_write(head_path(path), _canonical(doc) + b"\n")


def read(path: Path) -> list[dict]:
    """The log's entries in order; a line that is not an entry is skipped (``verify`` names it)."""
    return scan(path)[0]


def scan(path: Path) -> tuple[list[dict], list[int]]:
    """The log's entries in order, and the numbers of its lines that are not entries (damaged)."""
    entries, damaged = [], []
    for number, line in enumerate(_lines(Path(path)), start=1):
        record = entry_of(line)
        if record is None:
            damaged.append(number)
        else:
            entries.append(record)
    return entries, damaged


def scan_log(path: Path) -> tuple[list[dict], list[int]]:
    """``scan``, refusing a file none of whose lines is an entry: that is not an audit log, and
    must not read as an empty one (an empty file is an empty log)."""
    entries, damaged = scan(path)
    if damaged and not entries:
        raise AuditError(NOT_A_LOG, f"{Path(path).name} is not an audit log: none of its {len(damaged)} lines is an entry", entry=1,
                         hint="give the log itself (audit.log), not its head file or another file")  # fmt: skip
    return entries, damaged


def _fail(reason: str, entry: int, message: str) -> AuditError:
    return AuditError(reason, message, entry=entry)


def _check_entry(name: str, number: int, line: bytes, prev: str, keys: Mapping[str, tuple[str, ed25519.Ed25519PublicKey]] | None) -> bool:
    """Check one line; returns whether a signature was verified. Raises naming the first bad entry."""
    record = entry_of(line)
    if record is None:
        raise _fail("AUDIT_CHAIN_BROKEN", number, f"{name} line {number} is not a valid entry")
    if record["n"] != number:
        missing = record["n"] > number
        raise _fail("AUDIT_CHAIN_BROKEN", number, f"{name} line {number} holds entry {record['n']}: "
                    + (f"entry {number} is missing" if missing else "entries are out of order"))  # fmt: skip
    if record.get("prev") != prev:
        raise _fail("AUDIT_CHAIN_BROKEN", number - 1 if number > 1 else 1,
                    f"{name} line {number} does not follow the line before it: entry {max(number - 1, 1)} was changed or its link edited")  # fmt: skip
    if keys is None:
        return False
    sig = record.get("sig")
    if sig is None:
        if record.get("outcome") == GRANTED:
            raise _fail("AUDIT_SIGNATURE_INVALID", number, f"{name} entry {number} grants a request but is not signed by its actor")
        return False
    owner = keys.get(sig.get("key_id")) if isinstance(sig, dict) else None
    if owner is None or owner[0] != record.get("actor"):
        raise _fail("AUDIT_SIGNATURE_INVALID", number, f"{name} entry {number} is signed by a key that is not its actor's")
    body = _canonical({k: v for k, v in record.items() if k != "sig"})
    if not _signature_ok(sig, ENTRY_LABEL, body, owner[1]):
        raise _fail("AUDIT_SIGNATURE_INVALID", number, f"{name} entry {number}'s signature does not verify: the entry was changed")
    return True


def _head_anchor(path: Path, head_keys: Mapping[str, ed25519.Ed25519PublicKey] | None) -> tuple[Anchor | None, bool]:
    """The head file as an anchor, its signature checked against ``head_keys`` when given."""
    hp = head_path(path)
    if not hp.exists():
        return None, False
    name = hp.name
    try:
        doc = json.loads(hp.read_bytes())
        body = {k: doc[k] for k in ("format", "log", "entries", "sha256")}
        if body["format"] != HEAD_FORMAT or not isinstance(body["entries"], int):
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise _fail("AUDIT_HEAD_INVALID", 0, f"{name} is not a valid head file") from None
    checked = False
    if head_keys is not None:
        sig = doc.get("sig")
        public = head_keys.get(sig.get("key_id")) if isinstance(sig, dict) else None
        if public is None or not _signature_ok(sig, HEAD_LABEL, _canonical(body), public):
            raise _fail("AUDIT_HEAD_INVALID", 0, f"{name} is not signed by the log keeper's key: the head was rewritten")
        checked = True
    return Anchor(name, body["entries"], body["sha256"], signed=checked), checked


def verify(
    path: Path,
    *,
    keys: Mapping[str, tuple[str, ed25519.Ed25519PublicKey]] | None = None,
    head_keys: Mapping[str, ed25519.Ed25519PublicKey] | None = None,
    anchors: Iterable[Anchor] = (),
) -> Verified:
    """Check the chain, entry signatures (``keys``: key id -> (actor, public key); every signed
    entry's key must belong to its actor, and every granted request must be signed), the head file
    (signed by one of ``head_keys`` when given) and every anchor. Raises ``AuditError`` naming the
    first bad entry; a log shorter than an anchor is ``AUDIT_TRUNCATED``, an anchored entry with
    another hash ``AUDIT_REWRITTEN``."""
    path = Path(path)
    name = path.name
    lines = _lines(path)
    prev, hashes, signatures = GENESIS, [], 0
    for number, line in enumerate(lines, start=1):
        signatures += _check_entry(name, number, line, prev, keys)
        prev = hashlib.sha256(line).hexdigest()
        hashes.append(prev)
    head_anchor, head_signed = _head_anchor(path, head_keys)
    if head_anchor is None and lines:
        raise _fail("AUDIT_HEAD_MISSING", len(lines), f"{name} has {len(lines)} entries but no head file ({head_path(path).name})")
    every = sorted([*anchors, *([head_anchor] if head_anchor else [])], key=lambda a: a.entries)
    disagreeing = [a for a in every if a.entries > len(lines) or (a.entries > 0 and hashes[a.entries - 1] != a.sha256)]
    # A signed anchor that disagrees is the keeper's word against the log: the log was cut or
    # rewritten. An unsigned one (a manifest) that disagrees while every signed one agrees may be
    # the file that was edited: both are named, the log is not blamed.
    for anchor in sorted(disagreeing, key=lambda a: not a.signed):
        if not anchor.signed:
            # Signed anchors at or after this entry that agree hold this entry's hash through the chain.
            vouching = [a for a in every if a.signed and a not in disagreeing and a.entries >= anchor.entries]
            by = f" and {vouching[-1].source} (entry {vouching[-1].entries}){f' and {len(vouching) - 1} other signed anchors agree' if len(vouching) > 1 else ' agrees'} with it" if vouching else ""
            raise _fail(ANCHOR_MISMATCH, min(anchor.entries, len(lines) + 1),
                        f"{name} and {anchor.source} disagree about entry {anchor.entries} "
                        + ("(the log ends before it)" if anchor.entries > len(lines) else "(another hash)")
                        + f": the log's chain{f' and {signatures} signatures verify' if signatures else ' verifies'}{by}; "
                        "either that file was edited, or the log by someone holding its keeper's key")  # fmt: skip
        good = max((a.entries for a in every if a.entries < anchor.entries and a not in disagreeing), default=0)
        if anchor.entries > len(lines):
            raise _fail("AUDIT_TRUNCATED", len(lines) + 1,
                        f"{name} ends at entry {len(lines)} but {anchor.source} anchors entry {anchor.entries}: entries {len(lines) + 1}–{anchor.entries} were removed")  # fmt: skip
        raise _fail("AUDIT_REWRITTEN", good + 1,
                    f"{name} entry {anchor.entries} is not the one {anchor.source} anchored: entries {good + 1}–{anchor.entries} were rewritten")  # fmt: skip
    return Verified(len(lines), signatures, len(every), head_signed)
