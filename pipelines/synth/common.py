"""Small shared pieces of the synthesiser: periods, seeded random streams, fast string columns."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dvnet.contracts.errors import DvnetError
from dvnet.contracts.geography import Geography
from dvnet.contracts.periods import Period as ContractPeriod


@dataclass(frozen=True)
class Period:
    """A contribution period (a calendar quarter such as ``2026-Q3``), end date inclusive."""

    label: str
    start: np.datetime64
    end: np.datetime64

    @property
    def days(self) -> int:
        return int((self.end - self.start).astype(int)) + 1

    @property
    def year(self) -> int:
        return int(self.label[:4])


def parse_period(label: str) -> Period:
    """``2026-Q3`` -> the quarter 2026-07-01 .. 2026-09-30; anything else is a ``ValueError``.

    The quarter arithmetic is the contracts' own (``contracts.periods``), so the synthesiser and
    the contributor's period check can never disagree.
    """
    try:
        quarter = ContractPeriod.parse(label)
    except DvnetError:
        raise ValueError(f"period must look like 2026-Q3, got {label!r}") from None
    return Period(str(quarter), np.datetime64(quarter.start, "D"), np.datetime64(quarter.end, "D"))


def rng_for(seed: int, *labels: object) -> np.random.Generator:
    """An independent random stream for ``labels`` under ``seed``.

    Streams are keyed by name (agency id, contract, period) rather than drawn in sequence, so
    adding an agency or a period does not reshuffle everyone else's data.
    """
    words = [int(seed) & 0xFFFFFFFF, (int(seed) >> 32) & 0xFFFFFFFF]
    for label in labels:
        digest = hashlib.sha256(str(label).encode("utf-8")).digest()
        words.extend(int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4))
    return np.random.default_rng(np.random.SeedSequence(words))


def region_relation(a: np.ndarray, b: np.ndarray, geography: Geography) -> np.ndarray:
    """0 where regions (indices into ``geography.region_ids``) are equal, 1 same parent area, 2 elsewhere."""
    province = np.array([geography.parent_areas.index(geography.parent_of[r]) for r in geography.region_ids])
    return np.where(a == b, 0, np.where(province[a] == province[b], 1, 2))


def fixed_width_strings(parts: list[np.ndarray | bytes]) -> pa.Array:
    """A string array built from fixed-width byte columns, without a Python loop over rows.

    Each part is either constant ``bytes`` or a ``(n, w)`` uint8 matrix of ASCII codes.
    """
    n = next(p.shape[0] for p in parts if isinstance(p, np.ndarray))
    width = sum(len(p) if isinstance(p, bytes) else p.shape[1] for p in parts)
    buf = np.empty((n, width), dtype=np.uint8)
    at = 0
    for p in parts:
        if isinstance(p, bytes):
            buf[:, at : at + len(p)] = np.frombuffer(p, dtype=np.uint8)
            at += len(p)
        else:
            buf[:, at : at + p.shape[1]] = p
            at += p.shape[1]
    if n * width < 2**31:
        offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
        return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(buf)])
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    return pa.Array.from_buffers(pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(buf)]).cast(pa.string())


def digits(numbers: np.ndarray, width: int) -> np.ndarray:
    """``(n, width)`` ASCII digit matrix of non-negative integers, zero-padded."""
    x = np.asarray(numbers, dtype=np.int64).copy()
    out = np.empty((len(x), width), dtype=np.uint8)
    for k in range(width - 1, -1, -1):
        out[:, k] = 48 + x % 10
        x //= 10
    return out


def format_ids(prefix: str, numbers: np.ndarray, min_width: int) -> pa.Array:
    """``prefix`` + zero-padded number, e.g. ``MRN00012345``; widens when numbers need it."""
    width = max(min_width, len(str(int(numbers.max()))) if len(numbers) else min_width)
    if len(numbers) == 0:
        return pa.array([], type=pa.string())
    return fixed_width_strings([prefix.encode("ascii"), digits(numbers, width)])


def coded(indices: np.ndarray, values: tuple[str, ...] | list[str]) -> pa.DictionaryArray:
    """A code column as a dictionary array: small integer indices into the code list."""
    return pa.DictionaryArray.from_arrays(pa.array(np.asarray(indices, dtype=np.int32)), pa.array(list(values), pa.string()))


def pick(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One category per row from per-row probabilities ``probs`` of shape ``(n, k)``."""
    cum = np.cumsum(probs, axis=1)
    cum /= cum[:, -1:]
    u = rng.random(len(probs))
    return np.minimum((cum < u[:, None]).sum(axis=1), probs.shape[1] - 1)


def choice(rng: np.random.Generator, n: int, weights) -> np.ndarray:
    """``n`` draws from a fixed categorical distribution given as weights (normalised here)."""
    w = np.asarray(weights, dtype=float)
    return rng.choice(len(w), size=n, p=w / w.sum())


def dates(values: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    """A ``date32`` column (written as ``YYYY-MM-DD``); ``missing`` rows are empty."""
    return pa.array(np.asarray(values, dtype="datetime64[D]"), type=pa.date32(), mask=missing)


def event_dates(rng: np.random.Generator, periods: list[Period], period_idx: np.ndarray, weekend_weight: float) -> np.ndarray:
    """A date inside its row's period for every row, with fewer intakes at weekends."""
    out = np.empty(len(period_idx), dtype="datetime64[D]")
    for i, p in enumerate(periods):
        rows = np.flatnonzero(period_idx == i)
        if not len(rows):
            continue
        days = p.start + np.arange(p.days)
        weekday = (days.astype("datetime64[D]").view("int64") - 4) % 7  # 0 = Monday
        w = np.where(weekday >= 5, weekend_weight, 1.0)
        out[rows] = days[rng.choice(p.days, size=len(rows), p=w / w.sum())]
    return out
