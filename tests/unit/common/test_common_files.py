"""atomic_write: the one way dvnet replaces a file (the old content or the new, never half), owner-only;
check_private: data folders and files found open to others are fixed and reported."""

from __future__ import annotations

import os
import stat
import time

import pyarrow as pa
import pytest

from dvnet.common.files import FileModeWarning, atomic_write, check_private, make_private, private_dir


@pytest.fixture
def open_umask():
    """The usual umask 022, under which a plain write would be readable by everyone."""
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.mark.parametrize("durable", [True, False])
def test_parts_are_written_in_order_and_replace_the_old_file(tmp_path, durable, open_umask):
    path = tmp_path / "deep" / "file.csv"
    atomic_write(path, b"old")
    atomic_write(path, b"a,b\n", pa.py_buffer(b"1,2\n"), memoryview(b"3,4\n"), durable=durable)
    assert path.read_bytes() == b"a,b\n1,2\n3,4\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700  # the folder it made too
    assert os.listdir(path.parent) == ["file.csv"]  # no temporary file left behind


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "receipt.json"
    atomic_write(path, b"old", mode=0o600)
    with pytest.raises(TypeError):
        atomic_write(path, b"new", object())  # not a buffer: fails halfway through
    assert path.read_bytes() == b"old"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == ["receipt.json"]


def test_private_dir_makes_every_missing_parent_owner_only(tmp_path, open_umask):
    private_dir(tmp_path / "a" / "b" / "c")
    for folder in (tmp_path / "a", tmp_path / "a" / "b", tmp_path / "a" / "b" / "c"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


def test_make_private_fixes_a_tree_written_by_other_libraries(tmp_path, open_umask):
    (tmp_path / "release" / "csv").mkdir(parents=True)
    (tmp_path / "release" / "csv" / "t.csv").write_text("x")
    os.symlink("/etc/hostname", tmp_path / "release" / "link")
    make_private(tmp_path / "release")
    assert stat.S_IMODE((tmp_path / "release" / "csv" / "t.csv").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "release" / "csv").stat().st_mode) == 0o700
    assert stat.S_IMODE(os.stat("/etc/hostname").st_mode) & 0o044  # a link's target is never touched


def test_check_private_fixes_and_warns_about_what_others_could_read(tmp_path, open_umask):
    folder = tmp_path / "coordinator"
    folder.mkdir(mode=0o755)
    (folder / "audit.log").write_text("x")
    (folder / "inbox").mkdir(mode=0o700)
    with pytest.warns(FileModeWarning) as caught:
        fixed = check_private(folder)
    assert sorted(fixed) == [folder, folder / "audit.log"] and sum(issubclass(w.category, FileModeWarning) for w in caught) == 2
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700 and stat.S_IMODE((folder / "audit.log").stat().st_mode) == 0o600
    assert check_private(folder) == []  # nothing left to fix


def test_check_private_survives_another_process_writing_in_the_folder(tmp_path):
    """Found by the full load suite (two `dvnet ingest` and the sensor's runs at once): a temporary
    file of another writer's ``atomic_write`` listed by ``iterdir`` and renamed away before its
    ``lstat`` crashed the check with FileNotFoundError. A writer thread here renames its temporary
    files into place as fast as it can while the check runs over the folder again and again."""
    import threading

    folder = tmp_path / "coordinator"
    private_dir(folder)
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            atomic_write(folder / "audit.log.head", str(i).encode(), durable=False)
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            check_private(folder)
    finally:
        stop.set()
        thread.join()
