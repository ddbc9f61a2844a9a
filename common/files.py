"""Small filesystem helpers: atomic writes, so a crash leaves the old file or the new one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write(path: Path, *parts: bytes | memoryview, mode: int = 0o644, durable: bool = True) -> None:
    """Replace ``path`` with ``parts`` (bytes, or anything with the buffer protocol such as an
    Arrow buffer, written one after another) through a temporary file beside it, so a reader
    never sees half a file.

    ``durable``: fsync the file and its folder, so the new content survives a power cut too.
    Files that are regenerated at will (synthetic extracts) skip it: syncing a gigabyte costs
    seconds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            for part in parts:
                f.write(memoryview(part))
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def private_folder(path: Path) -> Path:
    """Create ``path`` (and missing parents) owner-only (0700); an existing folder is narrowed to 0700.

    Folders holding keys or data: a later chmod would leave a window in which others could list
    or open what is created inside."""
    path = Path(path)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path
