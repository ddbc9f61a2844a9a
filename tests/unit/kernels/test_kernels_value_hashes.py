"""``kernels.value_hashes`` against its plain reference (``text_hash``, one value in Python):
every value, whatever its length, offsets, chunking or the span the kernel hashes at a time."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from dvnet.kernels import value_hashes as kernel
from dvnet.kernels.value_hashes import HashSet, repeated_hashes, text_hash, text_hashes


def _values(n: int, seed: int) -> list[str | None]:
    rng = np.random.default_rng(seed)
    alphabet = ["a", "b", "Z", "0", "é", "€", "\x00", " ", "𝄞"]
    out: list[str | None] = ["", "a", "a\x00", "EP0000001", "x" * 300]
    for _ in range(n):
        if rng.random() < 0.05:
            out.append(None)
        else:
            out.append("".join(rng.choice(alphabet, int(rng.integers(0, 40)))))
    return out


@pytest.mark.parametrize("kind", [pa.string(), pa.large_string()])
@pytest.mark.parametrize("span", [kernel.SPAN, 64, 1])
@pytest.mark.parametrize("seed", [1, 2])
def test_hashes_equal_the_plain_reference(kind, span, seed, monkeypatch):
    monkeypatch.setattr(kernel, "SPAN", span)  # 1: every value hashed on its own
    values = _values(400, seed)
    array = pa.array(values, kind)
    expected = [text_hash(v) if v is not None else None for v in values]
    for piece, want in ((array, expected), (array.slice(7, 300), expected[7:307]), (array.slice(400, 0), [])):
        got = text_hashes(piece)
        assert got.dtype == np.uint64 and len(got) == len(piece)
        assert [int(h) for h, w in zip(got, want, strict=True) if w is not None] == [w for w in want if w is not None]
    chunked = pa.chunked_array([array.slice(0, 100), array.slice(100, 0), array.slice(100)])
    assert [int(h) for h in text_hashes(chunked)] == [int(h) for h in text_hashes(array)]


def test_equal_values_hash_alike_and_these_distinct_ones_apart():
    values = [f"EP{i:07d}" for i in range(100_000)] + ["", "a", "a\x00", "\x00a", "ab", "ba"]
    hashes = text_hashes(pa.array(values + values[:3], pa.large_string()))
    assert len(np.unique(hashes[: len(values)])) == len(values)
    assert list(hashes[len(values):]) == list(hashes[:3])


def test_only_text_is_hashed():
    with pytest.raises(TypeError):
        text_hashes(pa.array([1, 2]))


def test_repeated_hashes_and_the_set_that_may_hold_them():
    parts = [np.array([5, 1, 9], np.uint64), np.array([9, 2], np.uint64), np.array([], np.uint64), np.array([1, 1, 7], np.uint64)]
    twice = repeated_hashes(parts)
    assert list(twice) == [1, 9] and parts == []  # taken as they are joined
    assert len(repeated_hashes([])) == 0 and len(repeated_hashes([np.array([3, 4], np.uint64)])) == 0
    held = HashSet(twice)
    assert list(held.may_hold(np.array([0, 1, 2, 9, 10, 2**64 - 1], np.uint64))) == [False, True, False, True, False, False]
    assert not HashSet(np.zeros(0, np.uint64)).may_hold(np.array([1], np.uint64)).any()
