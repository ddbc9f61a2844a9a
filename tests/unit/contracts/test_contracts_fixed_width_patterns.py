"""``^[class]{n}$`` patterns (pseudonyms, linkage tokens) are settled in one pass over the bytes
when a whole column conforms (``kernels.text_match``, tested there on its own); every verdict
``schema_failures`` reports must still be Python's ``re.match``."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pandera.pandas as pandera
import pytest

from dvnet.contracts.conformance import schema_failures
from dvnet.kernels.text_match import _fixed_width_class

PATTERNS = [r"^[0-9a-f]{32}$", r"^[0-9a-f]{4}$", r"^[A-Z0-9-]{3}$", r"^[a-]{2}$", r"^[-a]{2}$"]


def _failing_rows(values: list[str | None], pattern: str) -> list[int]:
    frame = pd.DataFrame({"c": pd.array(values, dtype="string[pyarrow]")})
    schema = pandera.DataFrameSchema({"c": pandera.Column(pd.StringDtype(), nullable=True, checks=pandera.Check.str_matches(pattern))})
    return [int(i) for f in schema_failures(frame, schema) for i in np.flatnonzero(f.mask)]


def _python(values: list[str | None], pattern: str) -> list[int]:
    return [i for i, v in enumerate(values) if v is not None and re.match(pattern, v) is None]


def _members(runs: list[tuple[int, int]]) -> list[str]:
    return [chr(b) for low, high in runs for b in range(low, high + 1)]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_conforming_and_near_miss_columns_get_pythons_verdicts(pattern):
    rng = np.random.default_rng(len(pattern))
    runs, width = _fixed_width_class(pattern)
    alphabet = _members(runs)
    good = ["".join(rng.choice(alphabet, width)) for _ in range(200)]
    assert _failing_rows(good, pattern) == [] == _python(good, pattern)
    near = [
        good[0] + "\n",  # Python's $ also matches before a final newline
        good[1][:-1],  # one short
        good[2] + alphabet[0],  # one long
        good[3][:-1] + "\u00e9",  # a non-ASCII character
        good[4][:-1] + "~",  # a byte outside the class
        None,
        good[5][:-1] + good[5][-1].upper(),  # case matters
    ]
    for miss in near:
        values = good[:50] + [miss] + good[50:]
        assert _failing_rows(values, pattern) == _python(values, pattern), repr(miss)

