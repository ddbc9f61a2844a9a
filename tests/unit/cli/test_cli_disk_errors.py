"""A full or read-only disk under a command is one line with its reason and exit 2, never a
traceback, however deep the error was wrapped (Dagster's SQLite storage under SQLAlchemy under a
step error: what `dvnet ingest` on a full disk raised, seen on a 200 MB tmpfs)."""

from __future__ import annotations

import errno
import sqlite3

import pytest

from dvnet.common import files
from dvnet.pipelines.cli import EXIT_USAGE, main
from dvnet.common.disk_errors import disk_error


def _wrapped(cause: BaseException) -> BaseException:
    """``cause`` two wrappers down, as SQLAlchemy and Dagster chain them."""
    try:
        try:
            raise cause
        except BaseException as e:
            raise RuntimeError("(sqlalchemy) commit failed") from e
    except RuntimeError as e:
        try:
            raise Exception("Error occurred while executing op") from e
        except Exception as outer:
            return outer


@pytest.mark.parametrize(("cause", "reason"), [
    (sqlite3.OperationalError("database or disk is full"), "DISK_FULL"),
    (OSError(errno.ENOSPC, "No space left on device"), "DISK_FULL"),
    (OSError(errno.EDQUOT, "Disk quota exceeded"), "DISK_FULL"),
    (OSError(errno.EROFS, "Read-only file system"), "DISK_READ_ONLY"),
    (sqlite3.OperationalError("attempt to write a readonly database"), "DISK_READ_ONLY"),
])  # fmt: skip
def test_a_full_or_read_only_disk_is_found_under_its_wrappers(cause, reason):
    found = disk_error(_wrapped(cause), "ingest")
    assert found is not None and found.reason == reason and "ingest" in found.message


def test_any_other_error_stays_a_bug():
    assert disk_error(_wrapped(ValueError("a bug")), "ingest") is None
    assert disk_error(OSError(errno.EACCES, "Permission denied"), "ingest") is None


def test_a_command_whose_write_finds_the_disk_full_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    def full(path, write, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(files, "atomic_write_with", full)
    code = main(["person", "init", str(tmp_path / "ana"), "--id", "ana", "--name", "Ana", "--org", "coalition"], {})
    err = capsys.readouterr().err
    assert code == EXIT_USAGE, err
    assert err.startswith("error: DISK_FULL: ") and "Traceback" not in err
