"""Small filesystem helpers: owner-only files and folders, and atomic writes.

Everything dvnet writes holds data or is about data (extracts, bundles, reports, receipts,
quarantine, the warehouse, releases' records, audit logs), so every file is created 0600 and every
folder 0700, whatever the process umask; the CLI also sets umask 077 at its entry for what other
libraries write (DuckDB, Parquet, CSV, Dagster's storage).

On open, data folders and files found readable by group or others are **fixed and reported, not
refused** (``check_private``). Key files are refused instead (``bundle.keys``): a key that others
could read must be replaced, since it would keep working for whoever copied it, while refusing to
open a data folder stops the network's work without undoing any exposure. The fix closes the
exposure at once, and the warning (and the audit line the caller writes) tells staff to check
who could have read it.
"""

from __future__ import annotations

import os
import stat
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TypeVar

T = TypeVar("T")

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


class FileModeWarning(UserWarning):
    """A data file or folder was readable by group or others; its mode was fixed."""


def private_dir(path: Path) -> Path:
    """Create ``path`` and any missing parent owner-only (``mkdir -p`` would give the parents the
    umask's mode); an existing folder is left as it is."""
    path = Path(path)
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            continue
        os.chmod(folder, PRIVATE_DIR)  # mkdir's mode is masked by the umask
    return Path(missing[0]) if missing else path


def make_private(root: Path) -> None:
    """Owner-only modes on ``root`` and, for a folder, everything under it (links are not followed):
    for files written by other libraries (DuckDB, pandas, pyarrow) with the umask's mode."""
    root = Path(root)
    if root.is_symlink() or not root.exists():
        return
    _chmod(root)
    if root.is_dir():
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                _chmod(Path(dirpath) / name)


def _chmod(path: Path) -> None:
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode):
        os.chmod(path, PRIVATE_DIR)
    elif stat.S_ISREG(st.st_mode):
        os.chmod(path, PRIVATE_FILE)


def check_private(*paths: Path) -> list[Path]:
    """Each existing path (a folder: with its direct entries) made owner-only if group or others
    could reach it; returns what was fixed, after a ``FileModeWarning`` for each."""
    fixed: list[Path] = []
    for top in map(Path, paths):
        if top.is_symlink() or not top.exists():
            continue
        entries = [top, *(top.iterdir() if top.is_dir() else ())]
        for path in entries:
            try:
                st = os.lstat(path)
                if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)) or not st.st_mode & 0o077:
                    continue
                _chmod(path)
            except FileNotFoundError:  # gone since the listing: another writer's temporary file, renamed or removed
                continue
            fixed.append(path)
            warnings.warn(
                FileModeWarning(f"{path} was readable by group or others (mode {stat.S_IMODE(st.st_mode):04o}); it is now owner-only"),
                stacklevel=2,
            )
    return fixed


def atomic_write(path: Path, *parts: bytes | memoryview, mode: int = PRIVATE_FILE, durable: bool = True) -> None:
    """Replace ``path`` with ``parts`` (bytes, or anything with the buffer protocol such as an
    Arrow buffer, written one after another): ``atomic_write_with``."""

    def write(f: BinaryIO) -> None:
        for part in parts:
            f.write(memoryview(part))

    atomic_write_with(path, write, mode=mode, durable=durable)


def atomic_write_with(path: Path, write: Callable[[BinaryIO], T], *, mode: int = PRIVATE_FILE, durable: bool = True) -> T:
    """Replace ``path`` with what ``write`` writes to the binary file it is given (returning what
    ``write`` returns), through a temporary file beside it, so a reader never sees half a file.
    The file is owner-only unless ``mode`` says otherwise (mkstemp creates it 0600 from the
    start), and a missing folder is created owner-only.

    ``durable``: fsync the file and its folder, so the new content survives a power cut too.
    Files that are regenerated at will (synthetic extracts) skip it: syncing a gigabyte costs
    seconds."""
    tmp, result = write_hidden(path, write, mode=mode, durable=durable)
    reveal(tmp, path, durable=durable)
    return result


#: The name ``write_hidden`` gives a file while it is not in place: ``.<name>.<random>.tmp``.
HIDDEN_SUFFIX = ".tmp"


def write_hidden(path: Path, write: Callable[[BinaryIO], T], *, mode: int = PRIVATE_FILE, durable: bool = True) -> tuple[Path, T]:
    """The first half of ``atomic_write_with``: what ``write`` writes, under a hidden temporary
    name beside ``path`` (removed if writing fails); that name, and what ``write`` returned.
    ``reveal`` puts it in place: a step that must happen in between (an audit line) goes there."""
    path = Path(path)
    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=HIDDEN_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            result = write(f)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, mode)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp), result


def hidden_name_of(tmp: Path) -> str:
    """The name a ``write_hidden`` file takes when revealed (``.<name>.<random>.tmp`` -> ``<name>``)."""
    return tmp.name[1:].rsplit(".", 2)[0]


def reveal(tmp: Path, path: Path, *, durable: bool = True) -> None:
    """Rename ``write_hidden``'s file to ``path`` (replacing what is there), durably."""
    os.replace(tmp, path)
    if durable:
        dir_fd = os.open(Path(path).parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def private_folder(path: Path) -> Path:
    """Create ``path`` (and missing parents) owner-only, and narrow it to 0700 if it exists.

    Folders holding keys: one found open is closed before anything is created inside. (Other
    folders use ``private_dir``, which leaves an existing folder as it is: it may be the user's.)"""
    private_dir(path)
    os.chmod(path, PRIVATE_DIR)
    return Path(path)
