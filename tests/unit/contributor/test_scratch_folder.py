"""Where a contribution's scratch files go: the temporary folder, or the agency's own folder on
disk where the temporary folder is held in memory (anonymize.scratch.memory_backed)."""

from __future__ import annotations

import os
import stat

from dvnet.anonymize import scratch
from dvnet.anonymize.scratch import SpillingBuffer
from dvnet.pipelines.contributor.run import scratch_folder


def test_where_the_temporary_folder_is_held_in_memory_scratch_goes_to_disk(monkeypatch, tmp_path):
    on_disk = tmp_path / "agency" / "scratch"
    monkeypatch.setattr(scratch, "memory_backed", lambda path, mountinfo=None: False)
    assert scratch_folder(on_disk) is None and not on_disk.exists()
    monkeypatch.setattr(scratch, "memory_backed", lambda path, mountinfo=None: True)
    assert scratch_folder(on_disk) == str(on_disk)
    assert stat.S_IMODE(os.stat(on_disk).st_mode) == 0o700
    buffer = SpillingBuffer("dvnet-test-", memory=0, parent=str(on_disk))
    buffer.extend(b"q" * 100)
    assert buffer.spilled and os.path.dirname(buffer._folder.path) == str(on_disk)
    buffer.close()
    assert os.listdir(on_disk) == []


def test_where_no_folder_can_be_made_on_disk_the_temporary_folder_serves(monkeypatch, tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_bytes(b"")
    monkeypatch.setattr(scratch, "memory_backed", lambda path, mountinfo=None: True)
    assert scratch_folder(blocked / "scratch") is None
