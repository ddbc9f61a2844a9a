"""Keyed hashes (HMAC-SHA256) of a column, off this interpreter's lock.

Reference: ``hmac.new(key, prefix + m, hashlib.sha256).hexdigest()[:hex_chars]`` per message
(tests/unit/kernels/test_kernels_keyed_hashes.py).

A record-mode contribution of a million episodes needs two million HMACs (episode and client
numbers). Python's own SHA-256 is the fastest on this machine for such short messages (about
1 µs an HMAC including Python's loop: ``keyed_hash_worker``), but it holds the interpreter lock,
so in a thread it stalls everything else. ``KeyedHashJob`` therefore hands a column to a worker
process (``kernels/keyed_hash_worker.py``, standard library only, started with ``python -I -S``
in a few milliseconds), whole or a block at a time as the caller reads it (``add``, ``close``),
and returns at once; the caller carries on (reading, validation, k-anonymity) on the other core
and collects the digests with ``hexes(start, stop)`` as they arrive (the worker answers in
order, a block at a time) or ``result()``. The first messages of a job are hashed here, by the
same function, until the job has been given ``WORKER_MIN_MESSAGES`` (counted over its blocks,
not per block: blocks of 16,384 records each stayed below and never started the worker).

Measured on this 2-core machine for 650,000 episode numbers: DuckDB's ``sha256`` (software, both
cores) 0.49 s wall and about 1 s of CPU; ``hashlib`` 0.57 s on one core. Key material reaches the
worker only through its private stdin pipe.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import subprocess
import sys
import threading
import weakref
from pathlib import Path

import numpy as np
import pyarrow as pa

from dvnet.kernels import keyed_hash_worker as worker

logger = logging.getLogger(__name__)

#: Below this many messages a worker process costs more than it saves (its start is ~10 ms).
WORKER_MIN_MESSAGES = 20_000
#: How much lower the workers' scheduling priority is than this process's. The contributor's own
#: work (k-anonymity, the unkeyed columns, the payload) is the longer path; with the workers at
#: equal priority three busy processes shared two cores evenly and that path waited. On 1M
#: rows, alternating runs: 2.81-2.99 s at equal priority, 2.65-2.88 s at +5, 2.75-2.85 s at +10.
WORKER_NICENESS = 10
_BLOCK = 64  # SHA-256 block size
_WORKER = Path(worker.__file__)


class WorkerFailed(RuntimeError):
    """The worker process stopped before it answered every message (it never sees a value to
    report; only its exit status is kept)."""

    def __init__(self, status: int | None) -> None:
        super().__init__(f"the keyed-hash worker stopped before it finished (exit status {status})")
        self.status = status


def hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """HMAC's inner and outer key pads (RFC 2104)."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\x00")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def _buffers(messages: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, memoryview]:
    """The messages' (n + 1) int64 offsets and their data bytes, without copying one array."""
    if isinstance(messages, pa.ChunkedArray):
        messages = messages.combine_chunks() if messages.num_chunks != 1 else messages.chunk(0)
    messages = messages.cast(pa.large_binary())
    if messages.null_count:
        raise ValueError("keyed hashes of missing values are not defined")
    _, offsets, data = messages.buffers()
    bounds = np.frombuffer(offsets, dtype=np.int64)[messages.offset : messages.offset + len(messages) + 1]
    start, end = (int(bounds[0]), int(bounds[-1])) if len(bounds) else (0, 0)
    payload = memoryview(data)[start:end] if data is not None else memoryview(b"")
    return np.ascontiguousarray(bounds - start), payload


def _hex_array(digests: bytes, n: int, hex_chars: int) -> pa.Array:
    """``n`` digests (of ``hex_chars / 2`` bytes each) as an Arrow text array of hex."""
    text = digests.hex()  # digests hold exactly hex_chars / 2 bytes each
    offsets = np.arange(0, hex_chars * (n + 1), hex_chars, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(text.encode("ascii")))


def _stop(process: subprocess.Popen, requests: queue.Queue) -> None:
    """Kill and reap the worker, and let its writing thread go (what was queued is dropped)."""
    if process.poll() is None:
        process.kill()
        process.wait()
    while True:
        try:
            requests.get_nowait()
        except queue.Empty:
            break
    requests.put_nowait(None)


class DigestBuffer(bytearray):
    """Where a job keeps its digests unless it is given another place: in memory. Any object
    with ``extend``, ``len``, ``read(start, stop)`` and ``close`` will do (the contributor's
    moves to an encrypted file past a few megabytes: ``anonymize.scratch.SpillingBuffer``)."""

    def read(self, start: int, stop: int) -> bytes:
        return bytes(self[start:stop])

    def close(self) -> None:
        self.clear()


class _Inbox:
    """The digests received so far from a worker. The threads that feed and drain the worker
    hold this and the pipes, never the job, so an abandoned job is still garbage-collected (and
    its worker stopped)."""

    def __init__(self, digests) -> None:
        self.digests = digests
        self.arrived = threading.Condition()
        self.eof = False
        self.write_failed = False


def _send(stdin, requests: queue.Queue, inbox: _Inbox) -> None:
    """Write each request (a list of byte chunks) as it is queued, until ``None``; then close the
    pipe. A broken pipe (the worker died) is noted and the rest of the queue taken unwritten, so
    a caller waiting to queue more is never stuck."""
    broken = False
    while (chunks := requests.get()) is not None:
        if not broken:
            try:
                for chunk in chunks:
                    stdin.write(chunk)
            except (BrokenPipeError, OSError, ValueError):
                broken = inbox.write_failed = True
        del chunks  # the messages are the worker's now
    try:
        stdin.close()
    except OSError:
        inbox.write_failed = True


def _receive(stdout, inbox: _Inbox) -> None:
    try:
        while more := stdout.read1(1 << 20):
            with inbox.arrived:
                inbox.digests.extend(more)
                inbox.arrived.notify_all()
    except (OSError, ValueError):
        pass
    finally:
        with inbox.arrived:
            inbox.eof = True
            inbox.arrived.notify_all()


class KeyedHashJob:
    """HMAC-SHA256(key, prefix ‖ m), as ``hex_chars`` hex characters, for every ``m`` in the
    messages (text or binary, no nulls), given at construction and then a block at a time
    (``add``) until ``close``: each is started as it is given. The worker answers in order, a
    block at a time, so ``hexes(start, stop)`` returns as soon as those are done and a caller can
    use the first digests while the last are still being computed (or given).

    Small blocks are hashed here, at once, until one of at least ``worker_min_messages`` starts
    the worker; from then every block goes to it (its answers follow, so the order holds). A
    job that is never collected is stopped when it is garbage-collected. ``digests``: where the
    digests are kept until taken (default ``DigestBuffer``, in memory)."""

    #: Blocks queued for the worker before ``add`` waits for it (their messages are held until
    #: written: a worker that falls behind slows the caller instead of holding the extract).
    QUEUED = 4

    def __init__(self, key: bytes, prefix: bytes, messages: pa.Array | pa.ChunkedArray | None, hex_chars: int, *,
                 worker_min_messages: int | None = None, more: bool = False, digests=None) -> None:
        if hex_chars not in range(2, 65, 2):
            raise ValueError("hex_chars must be even, 2..64")
        self._hex_chars, self._digest_bytes = hex_chars, hex_chars // 2
        inner, outer = hmac_pads(key)
        self._inner, self._outer = inner + prefix, outer
        self._min = WORKER_MIN_MESSAGES if worker_min_messages is None else worker_min_messages
        self._n = 0
        self._inbox = _Inbox(DigestBuffer() if digests is None else digests)
        self._closed = self._finished = False
        self._process: subprocess.Popen | None = None
        if messages is not None:
            self.add(messages)
        if not more:
            self.close()

    def __len__(self) -> int:
        return self._n

    def add(self, messages: pa.Array | pa.ChunkedArray) -> None:
        """Start hashing the next block of messages (their digests follow the earlier ones)."""
        if self._closed:
            raise ValueError("this job was closed: no more messages")
        offsets, data = _buffers(messages)
        n = len(offsets) - 1
        if n == 0:
            return
        if self._process is None and self._n + n >= self._min:
            self._start_worker()
        self._n += n
        if self._process is None:  # small, or no process can be started here: hashed now, in order
            self._inbox.digests.extend(worker.hmac_digests(self._inner, self._outer, offsets.tolist(), data, self._digest_bytes))
            return
        # The messages are the worker's from here on: only the queue and the writing thread hold
        # them, until they are written.
        self._requests.put([worker.REQUEST.pack(n), memoryview(offsets).cast("B"), data])

    def close(self) -> None:
        """No more messages: the worker finishes what it was given and exits."""
        if not self._closed:
            self._closed = True
            if self._process is not None:
                self._requests.put(None)

    def _start_worker(self) -> None:
        try:
            process = subprocess.Popen(
                [sys.executable, "-I", "-S", str(_WORKER)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,  # it has no values to tell; its exit status is checked
            )
        except OSError:  # no process can be started here (limits, a sandbox): hash in this one
            logger.info("keyed hashes: no worker process could be started; hashing in this process")
            self._min = float("inf")
            return
        self._process = process
        if hasattr(os, "setpriority"):  # Unix; elsewhere the workers keep the contributor's priority
            try:
                os.setpriority(os.PRIO_PROCESS, process.pid, os.getpriority(os.PRIO_PROCESS, 0) + WORKER_NICENESS)
            except OSError:  # it has already finished, or this system does not allow it: no matter
                pass
        self._requests: queue.Queue = queue.Queue(self.QUEUED)
        self._finalizer = weakref.finalize(self, _stop, process, self._requests)
        self._requests.put([worker.HEADER.pack(self._digest_bytes, len(self._inner)), self._inner, self._outer])
        self._writer = threading.Thread(target=_send, args=(process.stdin, self._requests, self._inbox), name="dvnet-keyed-hash-send", daemon=True)
        # The answer is drained as it comes: a full pipe would stop the worker until collected.
        self._reader = threading.Thread(target=_receive, args=(process.stdout, self._inbox), name="dvnet-keyed-hash-receive", daemon=True)
        self._writer.start()
        self._reader.start()

    def cancel(self) -> None:
        """Stop the worker if it is still running; collecting afterwards raises ``WorkerFailed``."""
        self._closed = True
        if self._process is not None and not self._finished:
            self._finalizer()  # kills and reaps the worker, and lets its writing thread go, once

    def release(self) -> None:
        """Let go of the digests once every one was taken (their scratch file, if any, is deleted)."""
        self._collect(self._n)
        self._inbox.digests.close()

    def _collect(self, count: int) -> None:
        """Have at least the first ``count`` digests (all of them, once closed: the worker is
        finished and checked)."""
        if count > self._n:
            raise ValueError("more digests asked for than messages given")
        inbox = self._inbox
        if self._process is None:
            self._finished = self._closed
            return
        need = count * self._digest_bytes
        with inbox.arrived:
            inbox.arrived.wait_for(lambda: len(inbox.digests) >= need or inbox.eof)
            short = len(inbox.digests) < need
        if short or (self._closed and count == self._n):
            self._finish()

    def _finish(self) -> None:
        if self._finished:
            return
        self.close()
        self._reader.join()
        self._process.stdout.close()
        self._writer.join()
        status = self._process.wait()
        self._finalizer.detach()
        self._finished = True
        if status != 0 or self._inbox.write_failed or len(self._inbox.digests) != self._n * self._digest_bytes:
            raise WorkerFailed(status)

    def hexes(self, start: int = 0, stop: int | None = None) -> pa.Array:
        """The hex digests of messages ``start`` to ``stop`` (default: to the end), in order;
        waits only for those."""
        stop = self._n if stop is None else stop
        self._collect(stop)
        size = self._digest_bytes
        with self._inbox.arrived:  # a copy under the lock: the receiving thread may be growing the buffer
            digests = self._inbox.digests.read(start * size, stop * size)
        return _hex_array(digests, stop - start, self._hex_chars)

    def result(self) -> pa.Array:
        """All the hex digests, in the order of the messages (waits for the worker)."""
        return self.hexes()
