"""kernels.text_match against its reference, ``re.match`` per value, on every path it takes
(fixed-width bytes, RE2, Python's re) and on the inputs where RE2 and Python's re differ."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dvnet.kernels.text_match import _fixed_width_class, match_mask

CONTRACT_PATTERNS = [
    r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$",
    r"^[a-z0-9][a-z0-9-]{1,40}$",
    r"^[0-9a-f]{32}$",
    r"^[0-9a-f]{64}$",
    r"^[A-Z][0-9][A-Z] ?[0-9][A-Z][0-9]$",
    r"^\d{4}-Q[1-4]$",
    r"^\d{4}-\d{2}$",
    r"^\s*\S",
]
# Patterns RE2 reads differently or not at all: each must still get Python's verdict.
OTHER_PATTERNS = [r"^a$", r"a.b", r"^\w+$", r"^\d+$", r"\s", r"^a\Z", r"^(?=a)a", r"^[[:alpha:]]", r"^a{,2}$", r"^[^a]{3}$", r"^[0-9a-f]{4}$", r"^[a-]{2}$"]
PATTERNS = CONTRACT_PATTERNS + OTHER_PATTERNS
pytestmark = pytest.mark.filterwarnings("ignore:Possible nested set:FutureWarning")  # "[[:alpha:]]" is on purpose
TRICKY = [
    None, "", "a", "a\n", "\n", "aa", "a\nb", "a\vb", " \v", "\x1c", "x\x1fy", "\x1e", "\x1d ", "é", "e\u0301", "٣٤٥٦", "Ｑ",
    "A1B 2C3", "A1B2C3\n", "a1b2c3", "2026-Q3", "2026-Q3\n", "2026-Q5", "2026-07", "C-1001", "c:1_2.3", "-x", "org-1",
    "0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdeF", "0123456789abcdef0123456789abcdef\n",
    "abcd", "abc", "abcde", "a-", "-a", "--", "   ", "\t", "\u00a0x", "x\u2028", "\x00", "a\rb",
]


def _reference(values: list[str | None], pattern: str) -> list[bool]:
    return [v is not None and re.match(pattern, v) is not None for v in values]


def _column(values: list[str | None], chunks: int = 1) -> pa.ChunkedArray:
    step = max(1, -(-len(values) // chunks))
    return pa.chunked_array([pa.array(values[i : i + step], pa.large_string()) for i in range(0, len(values), step)] or [pa.array([], pa.large_string())])


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("chunks", [1, 3])
def test_tricky_values_get_pythons_verdict(pattern, chunks):
    got = match_mask(_column(TRICKY, chunks), pattern)
    assert got.dtype == bool and got.tolist() == _reference(TRICKY, pattern)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_plain_ascii_columns_and_slices_get_pythons_verdict(pattern):
    rng = np.random.default_rng(len(pattern))
    alphabet = list("0123456789abcdefABCQ- :_.")
    values = ["".join(rng.choice(alphabet, rng.integers(0, 40))) for _ in range(300)] + ["2026-Q1", "A1B 2C3", None]
    column = pa.array(values, pa.large_string()).slice(7, 250)
    assert match_mask(pa.chunked_array([column]), pattern).tolist() == _reference(values[7:257], pattern)


@pytest.mark.parametrize("odd", ["\n", "\v", "\x1c", "\x1d", "\x1e", "\x1f", "é", "٣"])
@pytest.mark.parametrize("pattern", [r"\s", r"^\s+$", r"^x\s*$", r"^a$", r"^\d$", r"^\w$", r"^[0-9a-f]{4}$"])
def test_one_odd_character_in_an_otherwise_plain_column_gets_pythons_verdict(odd, pattern):
    """Where RE2 and Python's re differ, a single such cell must be noticed among plain ones."""
    values = ["a", "abcd", odd, "x" + odd, "a" + odd, odd + "x", "0123", None]
    assert match_mask(_column(values), pattern).tolist() == _reference(values, pattern)


def test_plain_string_columns_are_read_as_large_strings():
    values = ["2026-Q1", None, "2026-Q9", "2026-Q1\n"]
    assert match_mask(pa.chunked_array([pa.array(values, pa.string())]), r"^\d{4}-Q[1-4]$").tolist() == _reference(values, r"^\d{4}-Q[1-4]$")


def test_an_empty_column_has_an_empty_mask():
    assert match_mask(pa.chunked_array([], pa.large_string()), r"^a$").tolist() == []


@given(values=st.lists(st.one_of(st.none(), st.text(alphabet=st.sampled_from(list("aA0-Q9 _.:\n\v\x1c\x1f\t\ré٣")), max_size=8)), max_size=40),
       pattern=st.sampled_from(PATTERNS))
@settings(max_examples=300, deadline=None)
def test_any_column_gets_pythons_verdict(values, pattern):
    assert match_mask(_column(values, 2), pattern).tolist() == _reference(values, pattern)


# The fixed-width byte pass -------------------------------------------------------------------

FIXED = [r"^[0-9a-f]{32}$", r"^[0-9a-f]{4}$", r"^[A-Z0-9-]{3}$", r"^[a-]{2}$", r"^[-a]{2}$"]


def _members(runs: list[tuple[int, int]]) -> list[str]:
    return [chr(b) for low, high in runs for b in range(low, high + 1)]


@pytest.mark.parametrize("pattern", FIXED)
def test_the_class_is_the_class_python_reads(pattern):
    runs, width = _fixed_width_class(pattern)
    inner = pattern[1 : pattern.index("{")]
    assert width == int(pattern[pattern.index("{") + 1 : pattern.index("}")])
    assert _members(runs) == [chr(b) for b in range(256) if re.fullmatch(inner, chr(b))]


@pytest.mark.parametrize("pattern", FIXED)
@given(data=st.data())
@settings(max_examples=60, deadline=None)
def test_conforming_columns_and_one_odd_cell_get_pythons_verdict(pattern, data):
    """A wholly conforming column takes the byte pass; one odd cell anywhere (a final newline,
    a length off by one, a character outside the class, a null) must send it the general way."""
    runs, width = _fixed_width_class(pattern)
    cell = st.text(alphabet=st.sampled_from(_members(runs)), min_size=width, max_size=width)
    values = data.draw(st.lists(cell, min_size=1, max_size=30))
    assert match_mask(_column(values, 2), pattern).all()
    odd = data.draw(st.one_of(st.none(), cell.map(lambda v: v + "\n"), cell.map(lambda v: v[1:]), cell.map(lambda v: v[1:] + "é"),
                              st.text(alphabet=st.sampled_from(list("aAf0-~ \n")), min_size=width - 1, max_size=width + 1)))
    values.insert(data.draw(st.integers(0, len(values))), odd)
    assert match_mask(_column(values, 2), pattern).tolist() == _reference(values, pattern)


def test_other_patterns_take_the_general_path():
    for pattern in [r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$", r"^\d{4}-Q[1-4]$", r"^[^a]{3}$", r"^[0-9a-f]{32}"]:
        assert _fixed_width_class(pattern) is None
