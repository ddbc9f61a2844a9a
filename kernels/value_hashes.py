"""64-bit hashes of values, for finding the ones an extract holds twice without keeping them.

``text_hashes`` hashes each value of an Arrow text array with numpy over its buffers, in time
and memory proportional to its bytes whatever the values' lengths: a polynomial over the
bytes, ``sum((b_i + 1) * P**i) mod 2**64``, taken for every value at once from prefix sums of the
whole data buffer (each value's span divided by ``P**start``: ``P`` is odd, so it has an inverse
modulo 2**64), then mixed with the value's byte length and put through splitmix64's finaliser.
Its reference is ``text_hash``, the same function for one value in plain Python
(``tests/unit/kernels/test_kernels_value_hashes.py``).

A hash is a test of possible equality only: equal values always hash alike, so values whose
hashes are all distinct are distinct; two values that hash alike must be compared before
anyone is told they are the same (``HashSet`` says "may hold", never "holds").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

_MASK = (1 << 64) - 1
#: The polynomial's base (odd, so invertible modulo 2**64) and its inverse.
P = 0x9E3779B97F4A7C15
P_INVERSE = pow(P, -1, 1 << 64)
#: Mixes the byte length in (a value and the same value followed by more bytes differ).
LENGTH_MIX = 0xC2B2AE3D27D4EB4F


def text_hash(value: str) -> int:
    """The plain reference: ``text_hashes`` of one value, as a Python int."""
    h = 0
    power = 1
    data = value.encode("utf-8")
    for b in data:
        h = (h + (b + 1) * power) & _MASK
        power = (power * P) & _MASK
    return _finalise_int(h ^ ((len(data) * LENGTH_MIX) & _MASK))


def _finalise_int(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def text_hashes(text: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """One uint64 per value of ``text`` (string or large_string), equal to ``text_hash`` of it;
    a null's entry is unspecified (callers mask nulls out)."""
    chunks = text.chunks if isinstance(text, pa.ChunkedArray) else [text]
    parts = [_chunk_hashes(c) for c in chunks if len(c)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint64)


def _chunk_hashes(chunk: pa.Array) -> np.ndarray:
    if pa.types.is_string(chunk.type):
        width = np.int32
    elif pa.types.is_large_string(chunk.type):
        width = np.int64
    else:
        raise TypeError(f"text_hashes hashes text, not {chunk.type}")
    _, offsets_buffer, data_buffer = chunk.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=width)[chunk.offset : chunk.offset + len(chunk) + 1].astype(np.int64)
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    # Runs of values of at most SPAN bytes together (a longer value alone), so the powers kept
    # stay small whatever a hostile extract holds.
    out, first = [], 0
    while first < len(offsets) - 1:
        last = max(first + 1, int(np.searchsorted(offsets, offsets[first] + SPAN, side="right")) - 1)
        out.append(_run_hashes(offsets[first : last + 1], data))
        first = last
    return np.concatenate(out)


#: Bytes of text hashed at a time (the powers kept are 16 bytes per byte of it).
SPAN = 1 << 21


def _run_hashes(offsets: np.ndarray, data: np.ndarray) -> np.ndarray:
    low, high = int(offsets[0]), int(offsets[-1])
    data = data[low:high]
    starts, ends = offsets[:-1] - low, offsets[1:] - low
    powers, inverse = _powers(len(data) + 1)
    with np.errstate(over="ignore"):
        prefix = np.empty(len(data) + 1, dtype=np.uint64)
        prefix[0] = 0
        weighted = data.astype(np.uint64)
        weighted += np.uint64(1)
        weighted *= powers[: len(data)]
        np.cumsum(weighted, out=prefix[1:])
        del weighted
        h = prefix[ends]
        h -= prefix[starts]
        h *= inverse[starts]
        h ^= (ends - starts).astype(np.uint64) * np.uint64(LENGTH_MIX)
        return _finalise(h)


_POWERS = (np.ones(1, dtype=np.uint64), np.ones(1, dtype=np.uint64))


def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``P**i`` and ``P_INVERSE**i`` for i < n (at least), kept between calls (at most ``SPAN``
    bytes' worth, or the longest value's): the powers are the same for every run of values."""
    global _POWERS
    if len(_POWERS[0]) < n:
        size = n + n // 8
        made = []
        for base in (P, P_INVERSE):
            powers = np.full(size, base, dtype=np.uint64)
            powers[0] = 1
            with np.errstate(over="ignore"):
                np.cumprod(powers, out=powers)
            made.append(powers)
        _POWERS = (made[0], made[1])
    return _POWERS


def _finalise(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, in place."""
    with np.errstate(over="ignore"):
        z ^= z >> np.uint64(30)
        z *= np.uint64(0xBF58476D1CE4E5B9)
        z ^= z >> np.uint64(27)
        z *= np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    return z


def repeated_hashes(parts: list[np.ndarray]) -> np.ndarray:
    """The hashes that occur more than once across ``parts``, sorted. The list is emptied as
    they are joined (the caller's other references aside, each part can go before the sort),
    and the joined array is sorted in place: twice the hashes at the peak, not three times."""
    if not parts:
        return np.zeros(0, dtype=np.uint64)
    every = np.concatenate(parts)
    parts.clear()
    every.sort()
    twice = every[1:][every[1:] == every[:-1]]
    return np.unique(twice)


@dataclass(frozen=True)
class HashSet:
    """Values known only by their hashes (sorted, distinct): a value may be one of them when its
    hash is among them, and certainly is not when it is not."""

    hashes: np.ndarray

    def __len__(self) -> int:
        return len(self.hashes)

    def may_hold(self, hashes: np.ndarray) -> np.ndarray:
        """Per hash, whether it is among the set's."""
        if not len(self.hashes):
            return np.zeros(len(hashes), dtype=bool)
        at = np.minimum(np.searchsorted(self.hashes, hashes), len(self.hashes) - 1)
        return self.hashes[at] == hashes
