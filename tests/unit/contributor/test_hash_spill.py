"""HashStore: the key hashes of a long extract go to disk past a size, and the repeated ones
found there are exactly those found in memory; what is on disk is private, unreadable without
this process's key, and gone once the store is done."""

from __future__ import annotations

import gc
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from full_disk import FullDisk

from dvnet.anonymize import scratch
from dvnet.kernels.value_hashes import repeated_hashes
from dvnet.pipelines.contributor import hash_spill
from dvnet.pipelines.contributor.hash_spill import HashStore


def _blocks(seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    blocks = [rng.integers(0, 2**64, size=n, dtype=np.uint64) for n in (0, 1, 500, 3_000, 20_000)]
    blocks[2][:3] = [0, 2**64 - 1, 2**63]  # the ends of the range and a partition's boundary
    blocks.append(np.array([0, 2**64 - 1, blocks[4][17], blocks[4][17], blocks[3][5]], dtype=np.uint64))  # repeats across blocks and within one
    return blocks


@pytest.mark.parametrize("memory", [0, 10_000, 1 << 30], ids=["spilled at once", "spilled later", "in memory"])
def test_the_repeated_hashes_are_the_same_on_disk_as_in_memory(monkeypatch, memory):
    monkeypatch.setattr(HashStore, "MEMORY", memory)
    store = HashStore()
    for block in _blocks():
        store.add(block.copy())
    assert store.spilled == (memory < 1 << 30)
    got = store.repeated()
    want = repeated_hashes([b.copy() for b in _blocks()])
    assert np.array_equal(got, want) and len(want) == 4


def test_what_is_on_disk_is_private_encrypted_and_deleted(monkeypatch):
    monkeypatch.setattr(HashStore, "MEMORY", 0)
    blocks = _blocks(2)
    store = HashStore()
    for block in blocks:
        store.add(block.copy())
    folder = store._spill.folder
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    names = sorted(os.listdir(folder))
    assert len(names) == hash_spill.PARTITIONS
    on_disk = b"".join(Path(folder, n).read_bytes() for n in names)
    assert len(on_disk) == sum(b.nbytes for b in blocks)
    assert all(stat.S_IMODE(os.stat(os.path.join(folder, n)).st_mode) == 0o600 for n in names)
    for h in blocks[4][:50]:  # no hash is written as it is
        assert h.tobytes() not in on_disk
    store.repeated()
    assert not os.path.exists(folder)


def test_a_store_let_go_unread_deletes_its_files(monkeypatch):
    monkeypatch.setattr(HashStore, "MEMORY", 0)
    store = HashStore()
    store.add(_blocks()[4])
    folder = store._spill.folder
    del store
    gc.collect()
    assert not os.path.exists(folder)


def test_where_no_temporary_folder_can_be_made_the_hashes_stay_in_memory(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("no room")

    monkeypatch.setattr(HashStore, "MEMORY", 0)
    monkeypatch.setattr(scratch.tempfile, "mkdtemp", refuse)
    store = HashStore()
    for block in _blocks():
        store.add(block.copy())
    assert not store.spilled
    assert np.array_equal(store.repeated(), repeated_hashes([b.copy() for b in _blocks()]))


@pytest.mark.parametrize("memory", [0, 20_000], ids=["spilled at once", "spilled after four blocks"])
@pytest.mark.parametrize("room", [0, 3_000, 60_000], ids=["full at once", "full soon", "full late"])
def test_when_the_disk_fills_up_the_hashes_come_back_to_memory(monkeypatch, room, memory):
    written = {"bytes": 0}

    def pwrite(fd, data, offset):
        if written["bytes"] + len(data) > room:
            raise OSError(28, "No space left on device")
        written["bytes"] += len(data)
        return os.pwrite(fd, data, offset)

    monkeypatch.setattr(HashStore, "MEMORY", memory)
    monkeypatch.setattr(scratch, "_pwrite", FullDisk(room))
    folders = []
    real = scratch.ScratchFolder.__init__
    monkeypatch.setattr(scratch.ScratchFolder, "__init__", lambda self, prefix, parent=None: real(self, prefix, parent) or folders.append(self.path))
    store = HashStore()
    for block in _blocks():
        store.add(block.copy())
    assert not store.spilled and len(folders) == 1  # it went to disk, and came back
    assert not any(os.path.exists(f) for f in folders)
    assert np.array_equal(store.repeated(), repeated_hashes([b.copy() for b in _blocks()]))
