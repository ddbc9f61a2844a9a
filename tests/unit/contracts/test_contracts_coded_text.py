"""Coded text: a code-list column held as codes into its list (``contracts.conformance``) must
break exactly the rules its text breaks, row for row, and lose no value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pandera
import pytest

from dvnet.contracts.conformance import code_column, is_coded_text, schema_failures

CODES = ["a", "bb", "ccc", "dddd", "e-1"]


def _text(values) -> pd.Series:
    return pd.Series(pd.array(values, dtype="string[pyarrow]"))


def _coded(values) -> pd.Series:
    coded, off_list = code_column(_text(values), CODES)
    assert not off_list.any()
    return coded


def _failures(frame: pd.DataFrame, schema: pandera.DataFrameSchema) -> list[tuple[str, str, list[int]]]:
    return [(f.column, f.rule, np.flatnonzero(f.mask).tolist()) for f in schema_failures(frame, schema)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_coded_column_breaks_exactly_the_rules_its_text_breaks(seed):
    rng = np.random.default_rng(seed)
    values = [None if rng.random() < 0.1 else CODES[i] for i in rng.integers(0, len(CODES), 500)]
    schema = pandera.DataFrameSchema({
        "code": pandera.Column(pd.StringDtype(), nullable=False, checks=[
            pandera.Check.isin(CODES),
            pandera.Check.str_length(max_value=3),
            pandera.Check.str_matches(r"^[a-z]+$"),
            pandera.Check(lambda s: s != "ccc", element_wise=False, name="not_ccc"),  # no fast path: runs on the text
        ]),
        "rare": pandera.Column(pd.StringDtype(), nullable=True, unique=True),
    })
    rare = [None] * 500
    rare[7], rare[30], rare[99] = "a", "bb", "a"  # one repeated value, one single
    text = pd.DataFrame({"code": _text(values), "rare": _text(rare)})
    coded = pd.DataFrame({"code": _coded(values), "rare": _coded(rare)})
    assert is_coded_text(coded["code"]) and not is_coded_text(text["code"])
    want = _failures(text, schema)
    assert {rule for _, rule, _ in want} >= {"not_nullable", "field_uniqueness", "str_length(None, 3)", "not_ccc"}
    assert _failures(coded, schema) == want


def test_a_value_off_the_list_is_reported_and_becomes_missing_the_others_are_kept():
    coded, off_list = code_column(_text(["bb", "zz", None, "a", "BB"]), CODES)
    assert off_list.tolist() == [False, True, False, False, True]
    assert [None if pd.isna(v) else v for v in coded.tolist()] == ["bb", None, None, "a", None]
    assert list(coded.cat.categories) == CODES  # codes into the list itself, in its order


def test_a_code_list_that_names_a_code_twice_still_codes_every_row():
    coded, off_list = code_column(_text(["a", "bb", "a"]), ["a", "bb", "a"])
    assert not off_list.any() and coded.tolist() == ["a", "bb", "a"]
