"""A drop that is a folder this machine can reach (a network share, a mounted USB stick).

Delivery is atomic on the coordinator's side: each bundle is written under a hidden temporary
name in the inbox (``.<name>.part``; the coordinator's ingest only takes ``*.dvb``), flushed to
disk, then renamed to its final name, so ingest never sees half a bundle. Renaming over a file
of the same name replaces it: re-sending the same bundle leaves one copy, never two.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable, Sequence
from pathlib import Path

from dvnet.bundle.receipt import MAX_RECEIPT_SIZE
from dvnet.pipelines.delivery.errors import DROP_READ_FAILED, DROP_UNREACHABLE, DROP_WRITE_FAILED, DeliveryError

RECEIPT_SUFFIX = ".receipt.json"


def temporary_name(name: str) -> str:
    """The name a bundle has in the inbox while it is still being written."""
    return f".{name}.part"


def _folder(text: str, what: str) -> Path:
    folder = Path(text)
    if not folder.is_dir():
        raise DeliveryError(DROP_UNREACHABLE, f"the drop's {what} folder {folder} is not a folder this machine can reach",
                            hint="is the share mounted? Ask the coordinator for the right path")
    return folder


def deliver(inbox: str, files: Sequence[Path], delivered: Callable[[Path], None]) -> None:
    """Copy each file into ``inbox`` atomically; ``delivered(file)`` after each one is in place."""
    folder = _folder(inbox, "inbox")
    for path in files:
        tmp = folder / temporary_name(path.name)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out, path.open("rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, folder / path.name)
            _sync_folder(folder)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise DeliveryError(DROP_WRITE_FAILED, f"could not write {path.name} into {folder}: {e.strerror or type(e).__name__}") from None
        delivered(path)


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fetch_receipts(receipts: str) -> list[tuple[str, bytes]]:
    """(name, bytes) of every receipt file in the folder: regular files only, never followed
    through a link, read up to one byte past the size cap (the verifier refuses anything larger)."""
    folder = _folder(receipts, "receipts")
    found = []
    try:
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if entry.name.endswith(RECEIPT_SUFFIX) and stat.S_ISREG(entry.stat(follow_symlinks=False).st_mode):
                fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
                with os.fdopen(fd, "rb") as f:
                    found.append((entry.name, f.read(MAX_RECEIPT_SIZE + 1)))
    except OSError as e:
        raise DeliveryError(DROP_READ_FAILED, f"could not read the receipts in {folder}: {e.strerror or type(e).__name__}") from None
    return found
