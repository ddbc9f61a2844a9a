"""atomic_write: the one way dvnet replaces a file (the old content or the new, never half)."""

from __future__ import annotations

import os
import stat

import pyarrow as pa
import pytest

from dvnet.common.files import atomic_write


@pytest.mark.parametrize("durable", [True, False])
def test_parts_are_written_in_order_and_replace_the_old_file(tmp_path, durable):
    path = tmp_path / "deep" / "file.csv"
    atomic_write(path, b"old")
    atomic_write(path, b"a,b\n", pa.py_buffer(b"1,2\n"), memoryview(b"3,4\n"), durable=durable)
    assert path.read_bytes() == b"a,b\n1,2\n3,4\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert os.listdir(path.parent) == ["file.csv"]  # no temporary file left behind


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "receipt.json"
    atomic_write(path, b"old", mode=0o600)
    with pytest.raises(TypeError):
        atomic_write(path, b"new", object())  # not a buffer: fails halfway through
    assert path.read_bytes() == b"old"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == ["receipt.json"]
