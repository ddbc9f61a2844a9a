"""Keyed hashes (HMAC-SHA256) of a whole column, off this interpreter's lock.

Reference: ``hmac.new(key, prefix + m, hashlib.sha256).hexdigest()[:hex_chars]`` per message
(tests/unit/kernels/test_kernels_keyed_hashes.py).

A record-mode contribution of a million episodes needs a million and a half HMACs. Python's
``hashlib`` is the fastest SHA-256 on this machine (OpenSSL with the CPU's SHA extensions: about
0.9 µs per HMAC including Python's loop), but it holds the interpreter lock for short messages, so
in a thread it stalls everything else. ``KeyedHashJob`` therefore hands a large column to a worker
process (``kernels/keyed_hash_worker.py``, standard library only, started with ``python -I -S``
in a few milliseconds) and returns at once; the caller carries on (k-anonymity, generalisation)
on the other core and collects the digests with ``hexes(start, stop)`` as they arrive (the worker
answers in order, a block at a time) or ``result()``. A small column (below
``WORKER_MIN_MESSAGES``) is hashed here, by the same function.

Measured on this 2-core machine for 650,000 episode numbers: DuckDB's ``sha256`` (software, both
cores) 0.49 s wall and about 1 s of CPU; ``hashlib`` 0.57 s on one core. Key material reaches the
worker only through its private stdin pipe.
"""

from __future__ import annotations

import hashlib
import logging
import os
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


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()


class _Inbox:
    """The digests received so far from a worker. The threads that feed and drain the worker
    hold this and the pipes, never the job, so an abandoned job is still garbage-collected (and
    its worker stopped)."""

    def __init__(self) -> None:
        self.digests = bytearray()
        self.arrived = threading.Condition()
        self.eof = False
        self.write_failed = False


def _send(stdin, chunks: list, inbox: _Inbox) -> None:
    try:
        for chunk in chunks:
            stdin.write(chunk)
    except (BrokenPipeError, OSError):
        inbox.write_failed = True
    finally:
        try:
            stdin.close()
        except OSError:
            inbox.write_failed = True


def _receive(stdout, inbox: _Inbox) -> None:
    try:
        while more := stdout.read1(1 << 20):
            with inbox.arrived:
                inbox.digests += more
                inbox.arrived.notify_all()
    except (OSError, ValueError):
        pass
    finally:
        with inbox.arrived:
            inbox.eof = True
            inbox.arrived.notify_all()


class KeyedHashJob:
    """HMAC-SHA256(key, prefix ‖ m), as ``hex_chars`` hex characters, for every ``m`` in
    ``messages`` (text or binary, no nulls), started at construction. The worker answers in
    order, a block at a time, so ``hexes(start, stop)`` returns as soon as those are done and a
    caller can use the first digests while the last are still being computed.

    A job that is never collected is stopped when it is garbage-collected."""

    def __init__(self, key: bytes, prefix: bytes, messages: pa.Array | pa.ChunkedArray, hex_chars: int, *,
                 worker_min_messages: int | None = None) -> None:
        if hex_chars not in range(2, 65, 2):
            raise ValueError("hex_chars must be even, 2..64")
        self._hex_chars, self._digest_bytes = hex_chars, hex_chars // 2
        inner, outer = hmac_pads(key)
        self._inner, self._outer = inner + prefix, outer
        self._offsets, self._data = _buffers(messages)
        self._n = len(self._offsets) - 1
        self._inbox = _Inbox()
        self._finished = False
        self._process: subprocess.Popen | None = None
        if self._n >= (WORKER_MIN_MESSAGES if worker_min_messages is None else worker_min_messages):
            self._start_worker()

    def __len__(self) -> int:
        return self._n

    def _start_worker(self) -> None:
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-I", "-S", str(_WORKER)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,  # it has no values to tell; its exit status is checked
            )
        except OSError:  # no process can be started here (limits, a sandbox): hash in this one
            logger.info("keyed hashes: no worker process could be started; hashing in this process")
            return
        if hasattr(os, "setpriority"):  # Unix; elsewhere the workers keep the contributor's priority
            try:
                os.setpriority(os.PRIO_PROCESS, self._process.pid, os.getpriority(os.PRIO_PROCESS, 0) + WORKER_NICENESS)
            except OSError:  # it has already finished, or this system does not allow it: no matter
                pass
        self._finalizer = weakref.finalize(self, _stop, self._process)
        header = worker.HEADER.pack(self._n, self._digest_bytes, len(self._inner))
        request = [header, self._inner, self._outer, memoryview(self._offsets).cast("B"), self._data]
        # The messages are the worker's from here on: only the writing thread holds them, until
        # they are written (12-25 bytes a message for the rest of the contribution otherwise).
        self._offsets, self._data = None, None
        self._writer = threading.Thread(target=_send, args=(self._process.stdin, request, self._inbox), name="dvnet-keyed-hash-send", daemon=True)
        # The answer is drained as it comes: a full pipe would stop the worker until collected.
        self._reader = threading.Thread(target=_receive, args=(self._process.stdout, self._inbox), name="dvnet-keyed-hash-receive", daemon=True)
        self._writer.start()
        self._reader.start()

    def cancel(self) -> None:
        """Stop the worker if it is still running; collecting afterwards raises ``WorkerFailed``."""
        if self._process is not None and not self._finished:
            self._finalizer()  # kills and reaps the worker, once

    def _collect(self, count: int) -> None:
        """Have at least the first ``count`` digests (all of them: the worker is finished and checked)."""
        inbox = self._inbox
        if self._process is None:
            if not self._finished:
                inbox.digests = bytearray(worker.hmac_digests(self._inner, self._outer, self._offsets.tolist(), self._data, self._digest_bytes))
                self._offsets, self._data = None, None
                self._finished = True
            return
        need = count * self._digest_bytes
        with inbox.arrived:
            inbox.arrived.wait_for(lambda: len(inbox.digests) >= need or inbox.eof)
            short = len(inbox.digests) < need
        if short or count == self._n:
            self._finish()

    def _finish(self) -> None:
        if self._finished:
            return
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
            digests = bytes(self._inbox.digests[start * size : stop * size])
        return _hex_array(digests, stop - start, self._hex_chars)

    def result(self) -> pa.Array:
        """All the hex digests, in the order of the messages (waits for the worker)."""
        return self.hexes()
