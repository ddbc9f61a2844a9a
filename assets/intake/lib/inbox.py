"""The coordinator's inbox, read without trusting anything in it.

An agency delivers a bundle by writing a hidden temporary name and renaming it to ``*.dvb``
(what ``contribute`` and ``atomic_write`` do). Every entry whose name ends in ``.dvb`` and does
not start with a dot is an **arrival**, whatever it turns out to be: a bundle file is verified and
loaded or quarantined; anything else (a symbolic link, a named pipe, a socket, a device, a
folder) is quarantined as ``INBOX_NOT_A_FILE`` without ever being opened, and a file the
operating system will not let us open as ``INBOX_UNREADABLE``. So nothing can sit in the inbox
forever, and nothing in it can stop the next run.

- A symbolic link is never followed (it could point anywhere on the machine); it is moved as a link.
- A FIFO is never opened: opening one for reading blocks until a writer comes, and even a
  non-blocking open would wake a waiting writer. Files are opened ``O_NONBLOCK | O_NOFOLLOW``
  and checked again on the open descriptor, so an entry swapped between the look and the open
  cannot block or lead us out of the inbox either.
- A file name is sender text. ``inbox_name`` gives the name to use in every message, log, reason
  file, receipt folder, DuckDB row and Dagster run config: the name itself when it is plain (ASCII
  letters, digits, ``space ._()+-``, at most 200 bytes), else a stand-in derived from its bytes
  (``renamed-<16 hex>.dvb``). A plain name with the suffixes quarantine adds (``.<hash>``,
  ``.reason.json``, a temporary prefix) stays within the 255-byte limit of file names, and is
  valid UTF-8 for DuckDB and JSON and free of terminal control and Rich markup characters.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from dvnet.contracts.errors import DvnetError

BUNDLE_SUFFIX = ".dvb"
NOT_A_FILE = "INBOX_NOT_A_FILE"
UNREADABLE = "INBOX_UNREADABLE"
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._()+-]{0,195}\.dvb")
_PLAIN_TEXT = re.compile(r"[A-Za-z0-9.][A-Za-z0-9 ._()+-]{0,199}")
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_KINDS = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


class InboxError(DvnetError):
    """An inbox entry that cannot be read as a bundle file (it is quarantined with this reason)."""


def is_arrival(name: bytes) -> bool:
    """Whether an inbox entry named ``name`` (raw bytes) is an arrival rather than a delivery in progress."""
    return name.endswith(BUNDLE_SUFFIX.encode()) and not name.startswith(b".")


def arrivals(inbox: Path) -> list[Path]:
    """Every arrival in ``inbox`` (any kind of entry), by name; nothing is opened or followed."""
    inbox = Path(inbox)
    if not inbox.is_dir():
        return []
    with os.scandir(os.fsencode(inbox)) as entries:
        names = sorted(e.name for e in entries if is_arrival(e.name))
    return [inbox / os.fsdecode(name) for name in names]


def not_arrivals(inbox: Path) -> list[tuple[str, str]]:
    """The inbox entries no run reads, as (safe name, why): a hidden name (a delivery in progress,
    or a leftover one) or a name not ending in ``.dvb``. Named so an operator can see them; a file
    name is not an extract value, and one that is not plain text is shown by a hash of its bytes."""
    inbox = Path(inbox)
    if not inbox.is_dir():
        return []
    with os.scandir(os.fsencode(inbox)) as entries:
        names = sorted(e.name for e in entries if not is_arrival(e.name))
    return [(_shown(name), _why_not_read(name)) for name in names]


def _why_not_read(name: bytes) -> str:
    if name.startswith(b"."):
        return "a hidden name: a delivery in progress, or one left unfinished"
    if name.lower().endswith(BUNDLE_SUFFIX.encode()):
        return f"the suffix must be lower case: rename it to end in {BUNDLE_SUFFIX}"
    return f"not a bundle: only *{BUNDLE_SUFFIX} files are read"


def _shown(raw: bytes) -> str:
    return _plain(raw, _PLAIN_TEXT) or f"(a name that is not plain text, sha256 {hashlib.sha256(raw).hexdigest()[:16]})"


def _plain(raw: bytes, pattern: re.Pattern) -> str | None:
    """``raw`` (a file name's bytes) as text when it is ASCII matching ``pattern``, else None."""
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return None
    return text if pattern.fullmatch(text) else None


def inbox_name(path: Path) -> str:
    """The name of an inbox entry as safe text: itself when plain, else a stand-in from its bytes."""
    raw = os.fsencode(Path(path).name)
    return _plain(raw, _PLAIN_NAME) or f"renamed-{hashlib.sha256(raw).hexdigest()[:16]}{BUNDLE_SUFFIX}"


def kind_of(mode: int) -> str | None:
    """None for a regular file; else what the entry is, in words."""
    if stat.S_ISREG(mode):
        return None
    return next((words for test, words in _KINDS if test(mode)), "not a regular file")


def is_regular(path: Path) -> bool:
    """A regular file (not followed if it is a link); False when it is gone."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


@dataclass(frozen=True)
class EntryBytes:
    """What was read of an inbox file: its size, its SHA-256, and its bytes when within the cap."""

    size: int
    sha256: str | None  # None over the cap when not asked to hash it
    blob: bytes | None  # None over the cap: hashed as a stream (if asked), never held whole


def _open_regular(path: Path) -> tuple[int, os.stat_result]:
    """A descriptor on ``path`` if it is a regular file; ``InboxError`` otherwise (the entry is
    looked at first, and a FIFO, device or link is never opened)."""
    kind = kind_of(os.lstat(path).st_mode)  # FileNotFoundError: gone, the caller's business
    if kind is not None:
        raise InboxError(NOT_A_FILE, f"the inbox entry is {kind}, not a bundle file; it was not opened")
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        raise
    except OSError as e:
        if e.errno == errno.ELOOP:  # replaced by a link since we looked
            raise InboxError(NOT_A_FILE, "the inbox entry is a symbolic link, not a bundle file; it was not followed") from None
        raise InboxError(UNREADABLE, f"the inbox file could not be opened ({e.strerror or 'operating system error'})") from None
    info = os.fstat(fd)
    kind = kind_of(info.st_mode)
    if kind is not None:  # swapped between the look and the open
        os.close(fd)
        raise InboxError(NOT_A_FILE, f"the inbox entry is {kind}, not a bundle file; it was not read")
    return fd, info


#: A file over the size cap is hashed (its receipt names its SHA-256) when it is at most this many
#: times the cap, or when its blocks on disk hold its whole length: a sparse file (a few bytes
#: written at a far offset, which SFTP allows) claims terabytes nobody sent, and hashing them
#: took the run hours, holding the warehouse writer while it waited for the hash.
HASHED_OVER_CAP = 16


def _worth_hashing(info: os.stat_result, max_bytes: int) -> bool:
    """Whether hashing an oversized file costs no more than what was really delivered."""
    return info.st_size <= HASHED_OVER_CAP * max_bytes or info.st_blocks * 512 >= info.st_size


def read_entry(path: Path, max_bytes: int, *, hash_oversize: bool = True) -> EntryBytes:
    """Read an inbox file safely: bytes up to ``max_bytes``; a larger file only hashed in blocks,
    and only as far as its size when it was opened (``sha256`` None: not hashed, without
    ``hash_oversize``, for a sparse file claiming far more than it holds, or one still growing).

    Raises ``InboxError`` for an entry that is not a regular file or cannot be opened, and
    ``FileNotFoundError`` when it is gone."""
    fd, info = _open_regular(Path(path))
    with os.fdopen(fd, "rb") as f:
        try:
            if info.st_size <= max_bytes:
                blob = f.read(max_bytes + 1)
                if len(blob) <= max_bytes:
                    return EntryBytes(len(blob), hashlib.sha256(blob).hexdigest(), blob)
                f.seek(0)  # grew past the cap while we read: hashed, never held
            size = max(info.st_size, max_bytes + 1)
            if not hash_oversize or not _worth_hashing(info, max_bytes):
                return EntryBytes(size, None, None)
            return EntryBytes(size, _digest(f, size), None)
        except OSError as e:
            raise InboxError(UNREADABLE, f"the inbox file could not be read ({e.strerror or 'operating system error'})") from None


def _digest(f, size: int) -> str | None:
    """The SHA-256 of a file of ``size`` bytes, read in blocks; None if it holds another length
    (still being written: not a delivery whose receipt could name it)."""
    digest, left = hashlib.sha256(), size
    while left > 0 and (block := f.read(min(left, 1 << 20))):
        digest.update(block)
        left -= len(block)
    return digest.hexdigest() if left == 0 and not f.read(1) else None


def read_head(path: Path, limit: int) -> bytes | None:
    """The first ``limit`` bytes of an inbox file, or None when it is not a readable regular file."""
    try:
        fd, _ = _open_regular(Path(path))
    except (InboxError, FileNotFoundError):
        return None
    with os.fdopen(fd, "rb") as f:
        try:
            return f.read(limit)
        except OSError:
            return None


def destination(folder: Path, name: str, tag: str | None) -> Path:
    """Where the inbox entry named ``name`` (its ``inbox_name``) goes in ``folder`` (quarantine or
    archive): that name when nothing there has it, else the name with ``tag`` (the file's hash)
    before the suffix, else with a random tag. Nothing already in the folder is ever taken: a rename
    onto a file replaces it (an earlier quarantine's copy lost) and onto a folder fails, and senders
    choose names, so an earlier arrival can hold exactly the name a later one would be given."""
    stem = name.removesuffix(BUNDLE_SUFFIX)
    for candidate in (name, *((f"{stem}.{tag[:12]}{BUNDLE_SUFFIX}",) if tag else ())):
        if not os.path.lexists(folder / candidate):
            return folder / candidate
    while os.path.lexists(dest := folder / f"{stem}.{secrets.token_hex(6)}{BUNDLE_SUFFIX}"):
        continue
    return dest


def move_out(path: Path, dest: Path) -> None:
    """Move an inbox entry to ``dest`` (quarantine or archive) without following or opening it.

    A rename moves a link, a FIFO or a folder as what it is. Across filesystems (an inbox mounted
    apart) a regular file is copied from a descriptor and removed; any other entry is renamed to a
    hidden name in the inbox instead (copying it would follow a link or open a FIFO), where it is
    no longer an arrival, and nothing is deleted."""
    try:
        os.rename(path, dest)
        return
    except OSError as e:
        if e.errno != errno.EXDEV:
            raise
    if not is_regular(path):
        os.rename(path, path.with_name(f".quarantined-{os.urandom(8).hex()}{BUNDLE_SUFFIX}"))
        return
    fd, _ = _open_regular(path)
    with os.fdopen(fd, "rb") as src, os.fdopen(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
        while chunk := src.read(1 << 20):
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    os.unlink(path)
