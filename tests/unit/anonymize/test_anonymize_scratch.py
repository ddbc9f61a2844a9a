"""anonymize.scratch: what a contribution keeps on disk is private, encrypted, readable back at
any range exactly as written, and gone once let go; and the keyed digests that wait there for
the payload are the ones that would have waited in memory."""

from __future__ import annotations

import gc
import os
import stat
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from full_disk import FullDisk

from dvnet.anonymize import scratch
from dvnet.anonymize.scratch import ScratchFolder, SpillingBuffer
from dvnet.kernels.keyed_hashes import KeyedHashJob

KEY = bytes(range(32))


def _pieces(seed: int = 3) -> list[bytes]:
    rng = np.random.default_rng(seed)
    sizes = [0, 1, 63, 64, 65, 1000, 4097, 20_000, 7]  # across ChaCha20's 64-byte blocks
    return [rng.integers(0, 256, size=n, dtype=np.uint8).tobytes() for n in sizes]


def test_any_range_reads_back_what_was_appended():
    folder = ScratchFolder("dvnet-test-")
    f = folder.file()
    pieces = _pieces()
    for piece in pieces:
        f.append(piece)
    whole = b"".join(pieces)
    assert f.size == len(whole) and f.read() == whole
    rng = np.random.default_rng(4)
    for start, stop in [(0, 1), (63, 65), (64, 128), (5, len(whole)), (len(whole) - 3, len(whole) + 10), (10, 10)]:
        assert f.read(start, stop) == whole[start:stop]
    for _ in range(200):
        start, stop = sorted(int(x) for x in rng.integers(0, len(whole) + 1, size=2))
        assert f.read(start, stop) == whole[start:stop]
    folder.close()


def test_files_are_private_encrypted_apart_and_deleted():
    folder = ScratchFolder("dvnet-test-")
    a, b = folder.file(), folder.file()
    secret = b"C0562590" * 64
    a.append(secret)
    b.append(secret)
    assert stat.S_IMODE(os.stat(folder.path).st_mode) == 0o700
    names = sorted(os.listdir(folder.path))
    assert len(names) == 2 and all(stat.S_IMODE(os.stat(os.path.join(folder.path, n)).st_mode) == 0o600 for n in names)
    on_disk = [Path(folder.path, n).read_bytes() for n in names]
    assert all(len(d) == len(secret) and b"C0562590" not in d for d in on_disk)
    assert on_disk[0] != on_disk[1]  # each file its own keystream
    path = folder.path
    folder.close()
    assert not os.path.exists(path)


def test_a_folder_let_go_deletes_its_files():
    folder = ScratchFolder("dvnet-test-")
    folder.file().append(b"x" * 100)
    path = folder.path
    del folder
    gc.collect()
    assert not os.path.exists(path)


@pytest.mark.parametrize("memory", [0, 5_000, 1 << 30], ids=["spilled at once", "spilled later", "in memory"])
def test_a_spilling_buffer_reads_back_the_same_in_memory_or_on_disk(memory):
    buffer = SpillingBuffer("dvnet-test-", memory=memory)
    pieces = _pieces(5)
    for piece in pieces:
        buffer.extend(piece)
    whole = b"".join(pieces)
    assert buffer.spilled == (memory < 1 << 30)
    assert len(buffer) == len(whole)
    for start, stop in [(0, len(whole)), (100, 5_000), (4_990, 5_010), (len(whole) - 1, len(whole))]:
        assert buffer.read(start, stop) == whole[start:stop]
    path = buffer._folder.path if buffer.spilled else None
    buffer.close()
    assert path is None or not os.path.exists(path)


def test_where_no_temporary_folder_can_be_made_the_bytes_stay_in_memory(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("no room")

    monkeypatch.setattr(scratch.tempfile, "mkdtemp", refuse)
    buffer = SpillingBuffer("dvnet-test-", memory=0)
    for piece in _pieces():
        buffer.extend(piece)
    assert not buffer.spilled
    assert buffer.read(0, len(buffer)) == b"".join(_pieces())


@pytest.mark.parametrize("in_worker", [True, False], ids=["worker", "in-process"])
def test_keyed_digests_kept_on_disk_are_those_kept_in_memory(in_worker):
    messages = pa.array([f"EP{i:07d}" for i in range(30_000)], pa.large_string())
    minimum = 1 if in_worker else 10**9

    def hexes(digests):
        job = KeyedHashJob(KEY, b"episode_id\x00", None, 32, worker_min_messages=minimum, more=True, digests=digests)
        for start in range(0, len(messages), 7_001):
            job.add(messages.slice(start, 7_001))
        job.close()
        parts = [job.hexes(start, min(start + 4_096, len(messages))) for start in range(0, len(messages), 4_096)]
        return pa.concat_arrays(parts).to_pylist()

    on_disk = SpillingBuffer("dvnet-test-", memory=1_000)
    assert hexes(on_disk) == hexes(None)
    assert on_disk.spilled and len(on_disk) == 16 * len(messages)


def test_an_append_the_disk_refuses_writes_nothing_and_the_file_goes_on(monkeypatch):
    folder = ScratchFolder("dvnet-test-")
    f = folder.file()
    f.append(b"a" * 100)
    monkeypatch.setattr(scratch, "_pwrite", FullDisk(30))
    with pytest.raises(OSError):
        f.append(b"b" * 1000)
    assert f.size == 100 and os.path.getsize(os.path.join(folder.path, "000")) == 100
    monkeypatch.setattr(scratch, "_pwrite", os.pwrite)
    f.append(b"c" * 77)
    assert f.read() == b"a" * 100 + b"c" * 77
    folder.close()


@pytest.mark.parametrize("room", [0, 50, 5_000])
def test_when_the_disk_fills_up_the_bytes_come_back_to_memory(monkeypatch, room):
    import glob
    import tempfile

    monkeypatch.setattr(scratch, "_pwrite", FullDisk(room))
    buffer = SpillingBuffer("dvnet-test-full-", memory=10)
    pieces = _pieces(6)
    for piece in pieces:
        buffer.extend(piece)
    whole = b"".join(pieces)
    assert not buffer.spilled and buffer._folder is None
    assert not glob.glob(os.path.join(tempfile.gettempdir(), "dvnet-test-full-*"))  # its folder went
    assert len(buffer) == len(whole) and buffer.read(0, len(whole)) == whole


@pytest.mark.parametrize("memory", [0, 1 << 30], ids=["on disk", "in memory"])
def test_a_closed_buffer_can_be_neither_read_nor_added_to(memory):
    """Its file's descriptor may already belong to another file: a late read must fail, never
    return that file's bytes."""
    buffer = SpillingBuffer("dvnet-test-", memory=memory)
    buffer.extend(b"x" * 100)
    buffer.close()
    with pytest.raises(ValueError):
        buffer.read(0, 10)
    with pytest.raises(ValueError):
        buffer.extend(b"y")


def test_a_closed_file_fails_instead_of_reading_another(tmp_path):
    folder = ScratchFolder("dvnet-test-")
    f = folder.file()
    f.append(b"z" * 100)
    number = f._fd
    f.close()
    other = os.open(tmp_path / "other", os.O_CREAT | os.O_RDWR, 0o600)  # the lowest free number: the closed one
    try:
        os.write(other, b"w" * 100)
        assert other == number
        with pytest.raises(OSError):
            f.read(0, 10)
        with pytest.raises(OSError):
            f.append(b"v")
        assert os.pread(other, 200, 0) == b"w" * 100
    finally:
        os.close(other)
        folder.close()


MOUNTINFO = "\n".join([
    "22 1 252:0 / / rw,relatime shared:1 - ext4 /dev/vda rw",
    "25 23 0:23 / /tmp/disk rw shared:4 - xfs /dev/vdc rw",  # listed before its parent: the longest match decides
    "23 22 0:21 / /tmp rw,nosuid,nodev shared:2 - tmpfs tmpfs rw,size=1g",
    "24 22 0:22 / /home/steward/my\\040files rw shared:3 - tmpfs tmpfs rw",  # a space, escaped
    "26 22 0:24 / /dev/shm rw shared:5 - ramfs ramfs rw",
])


@pytest.mark.parametrize("path, held_in_memory", [
    ("/tmp", True), ("/tmp/x/y", True), ("/tmpfoo", False), ("/tmp/disk/z", False),
    ("/home/steward/my files/t", True), ("/var/tmp", False), ("/dev/shm/a", True),
])
def test_a_temporary_folder_held_in_memory_is_recognised(path, held_in_memory):
    assert scratch.memory_backed(path, MOUNTINFO) is held_in_memory
