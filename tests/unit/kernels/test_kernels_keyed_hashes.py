"""kernels.keyed_hashes against its reference, ``hmac.new(key, prefix + m, sha256)``: the worker
process gives exactly Python's ``hmac``, in order (RFC 4231's vectors included), and a job that
fails or is abandoned neither hangs nor leaves a process behind."""

from __future__ import annotations

import gc
import os
import hashlib
import hmac

import pyarrow as pa
import pytest

from dvnet.kernels import keyed_hashes
from dvnet.kernels.keyed_hash_worker import ANSWER_BLOCK
from dvnet.kernels.keyed_hashes import KeyedHashJob, WorkerFailed

KEY = bytes(range(40, 72))
MESSAGES = ["", "a", "C-1001", "Zoë Ó'Néill|1990-04-02", "x" * 63, "y" * 64, "z" * 200, "C-1001"]


def _want(key: bytes, prefix: bytes, values: list[str], hex_chars: int) -> list[str]:
    return [hmac.new(key, prefix + v.encode(), hashlib.sha256).hexdigest()[:hex_chars] for v in values]


@pytest.mark.parametrize("in_worker", [True, False], ids=["worker process", "in this process"])
@pytest.mark.parametrize("hex_chars", [32, 64])
def test_digests_equal_hmac_of_prefix_and_message_in_order(in_worker, hex_chars):
    column = pa.chunked_array([pa.array(MESSAGES[:3], pa.large_string()), pa.array(MESSAGES[3:], pa.large_string())])
    job = KeyedHashJob(KEY, b"field\x00", column, hex_chars, worker_min_messages=1 if in_worker else 10**9)
    assert (job._process is not None) is in_worker
    assert job.result().to_pylist() == _want(KEY, b"field\x00", MESSAGES, hex_chars)


@pytest.mark.parametrize("in_worker", [True, False], ids=["worker process", "in this process"])
@pytest.mark.parametrize(
    "key, message, want",
    [
        (b"Jefe", b"what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),  # RFC 4231 case 2
        (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First",  # case 6: a key longer than a block
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    ],
)
def test_rfc4231_vectors(key, message, want, in_worker):
    job = KeyedHashJob(key, b"", pa.array([message], pa.large_binary()), 64, worker_min_messages=1 if in_worker else 10**9)
    assert job.result().to_pylist() == [want]


def test_a_key_longer_than_a_block_is_hashed_first_as_hmac_does():
    key = b"\xaa" * 131
    job = KeyedHashJob(key, b"", pa.array(MESSAGES), 64, worker_min_messages=1)
    assert job.result().to_pylist() == _want(key, b"", MESSAGES, 64)


def test_a_sliced_array_hashes_only_its_own_rows():
    values = pa.array([f"EP-{i}" for i in range(100)], pa.large_string()).slice(37, 20)
    job = KeyedHashJob(KEY, b"", values, 32, worker_min_messages=1)
    assert job.result().to_pylist() == _want(KEY, b"", [f"EP-{i}" for i in range(37, 57)], 32)


def test_the_key_is_not_on_the_worker_command_line():
    job = KeyedHashJob(KEY, b"p", pa.array(MESSAGES), 32, worker_min_messages=1)
    command = " ".join(map(str, job._process.args))
    job.result()
    assert KEY.hex() not in command and "-I" in command


def test_a_worker_that_dies_is_a_typed_error_not_a_hang():
    job = KeyedHashJob(KEY, b"", pa.array(MESSAGES * 1000), 32, worker_min_messages=1)
    job._process.kill()
    with pytest.raises(WorkerFailed, match="stopped before it finished") as failure:
        job.result()
    assert failure.value.status == -9


def test_an_abandoned_job_stops_its_worker():
    job = KeyedHashJob(KEY, b"", pa.array(MESSAGES * 10_000), 32, worker_min_messages=1)
    process = job._process
    del job
    gc.collect()
    assert process.wait(timeout=10) is not None


def test_missing_values_and_odd_lengths_are_refused():
    with pytest.raises(ValueError, match="missing"):
        KeyedHashJob(KEY, b"", pa.array(["a", None]), 32)
    with pytest.raises(ValueError, match="even"):
        KeyedHashJob(KEY, b"", pa.array(["a"]), 31)


def test_the_first_digests_can_be_taken_before_the_rest_and_all_agree():
    values = [f"EP-{i:06d}" for i in range(2 * ANSWER_BLOCK + 123)]
    job = KeyedHashJob(KEY, b"e\x00", pa.array(values, pa.large_string()), 32, worker_min_messages=1)
    want = _want(KEY, b"e\x00", values, 32)
    first = job.hexes(0, 10).to_pylist()
    across = job.hexes(ANSWER_BLOCK - 5, ANSWER_BLOCK + 5).to_pylist()
    assert first == want[:10] and across == want[ANSWER_BLOCK - 5 : ANSWER_BLOCK + 5]
    assert job.result().to_pylist() == want
    assert job._process.returncode == 0


def test_without_a_worker_process_the_hashing_happens_here(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("no processes here")

    monkeypatch.setattr(keyed_hashes.subprocess, "Popen", refuse)
    job = KeyedHashJob(KEY, b"p", pa.array(MESSAGES), 32, worker_min_messages=1)
    assert job._process is None
    assert job.result().to_pylist() == _want(KEY, b"p", MESSAGES, 32)



def test_a_worker_yields_the_cores_to_the_contributor():
    """The workers run at a lower priority than the process that started them, so the
    contributor's own (longer) path is not slowed by its hashing."""
    job = KeyedHashJob(KEY, b"", pa.array(MESSAGES * 10_000), 32, worker_min_messages=1)
    niceness, own = os.getpriority(os.PRIO_PROCESS, job._process.pid), os.getpriority(os.PRIO_PROCESS, 0)
    job.result()
    assert niceness > own or own == 19
    assert niceness == min(19, own + keyed_hashes.WORKER_NICENESS)


def test_where_priorities_cannot_be_set_the_hashing_still_happens(monkeypatch):
    """Windows has no os.setpriority: the workers then keep the contributor's priority."""
    monkeypatch.delattr(os, "setpriority")
    job = KeyedHashJob(KEY, b"p", pa.array(MESSAGES), 32, worker_min_messages=1)
    assert job.result().to_pylist() == _want(KEY, b"p", MESSAGES, 32)


def test_once_the_worker_has_the_messages_the_job_no_longer_holds_them():
    """A contribution keeps its jobs until the payload is written; the messages (the agency's
    record keys) are the worker's once sent, so the job must not keep its copy of them that long."""
    pool = pa.system_memory_pool()
    values = [f"EP-{i:07d}" for i in range(200_000)]
    messages = pa.array(values, pa.string(), memory_pool=pool)
    before = pool.bytes_allocated()
    job = KeyedHashJob(KEY, b"e\x00", messages, 32, worker_min_messages=1)
    del messages
    job._writer.join(timeout=30)  # everything handed to the worker
    assert pool.bytes_allocated() < before - 200_000 * 10  # the messages' bytes are gone...
    assert job.result().to_pylist() == _want(KEY, b"e\x00", values, 32)  # ...and the digests are theirs


def test_blocks_each_below_the_minimum_start_the_worker_once_they_add_up_to_it():
    """A contribution read in small blocks still hashes in the worker: the minimum is counted over
    the job's messages so far, not per block (blocks of 16,384 records never reached 20,000 and
    hashed a million rows in the contributor's own interpreter, 4 s more)."""
    job = KeyedHashJob(KEY, b"b\x00", None, 32, more=True, worker_min_messages=20)
    blocks = [MESSAGES * 2] * 3  # 16 messages a block
    job.add(pa.array(blocks[0], pa.large_string()))
    assert job._process is None  # 16 so far: hashed here
    job.add(pa.array(blocks[1], pa.large_string()))
    assert job._process is not None  # 32 so far: the worker takes this block and the rest
    job.add(pa.array(blocks[2], pa.large_string()))
    job.close()
    assert job.result().to_pylist() == _want(KEY, b"b\x00", [m for block in blocks for m in block], 32)
