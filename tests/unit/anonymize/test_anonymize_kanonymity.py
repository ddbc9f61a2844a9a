"""k-anonymity: the report says how small the smallest group is and which columns make it small,
and never which values."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
import pytest

from dvnet.anonymize.kanonymity import ClassCounts, measure

QIS = ["gender", "age_band", "region"]


def _frame(rows):
    return pd.DataFrame(rows, columns=QIS).astype("string")


def _single_column_offender():
    # 5 + 4 in south-metro, one client alone in north-islands: region alone singles them out.
    return _frame(
        [("woman", "25-34", "south-metro")] * 5 + [("woman", "35-44", "south-metro")] * 4 + [("woman", "35-44", "north-islands")]
    )


def _pair_offender():
    # Every single column has classes of 6; only gender x region has classes of 1.
    rows = [("woman", "25-34", "north-coast")] * 5 + [("woman", "25-34", "south-metro")] + [("man", "25-34", "north-coast")] + [("man", "25-34", "south-metro")] * 5
    return _frame(rows)


def test_a_frame_meeting_k_passes():
    frame = _frame([("woman", "25-34", "south-metro")] * 5 + [("man", "35-44", "north-coast")] * 6)
    r = measure(frame, QIS, k=5)
    assert r.passed
    assert (r.k_achieved, r.classes, r.small_classes, r.records_in_small_classes) == (5, 2, 0, 0)
    assert r.offending_combinations == []
    assert "k=5" in r.summary()


def test_small_classes_are_counted_and_masked():
    frame = _single_column_offender()
    r = measure(frame, QIS, k=5)
    assert not r.passed
    assert r.k_achieved == 1
    assert r.classes == 3
    assert r.small_classes == 2  # the 4 and the 1
    assert r.records_in_small_classes == 5
    assert r.small_class_mask.tolist() == [False] * 5 + [True] * 5


def test_the_offending_column_is_named():
    r = measure(_single_column_offender(), QIS, k=5)
    assert r.offending_combinations == [{"columns": ["region"], "small_classes": 1}]


def test_an_offending_pair_is_named_when_no_single_column_offends():
    r = measure(_pair_offender(), QIS, k=5)
    assert not r.passed
    assert r.offending_combinations == [{"columns": ["gender", "region"], "small_classes": 2}]


def test_the_report_never_contains_a_value():
    for frame in (_single_column_offender(), _pair_offender()):
        r = measure(frame, QIS, k=5)
        text = r.summary() + repr(r.offending_combinations)
        for value in set(frame.to_numpy().ravel()):
            assert value not in text, "a quasi-identifier value reached the report"


def test_missing_values_form_their_own_class():
    frame = _frame([("woman", "25-34", "south-metro")] * 5 + [("woman", None, "south-metro")] * 5)
    r = measure(frame, QIS, k=5)
    assert r.passed and r.classes == 2


def test_an_empty_frame_reports_zero():
    r = measure(_frame([]), QIS, k=5)
    assert (r.k_achieved, r.classes, r.small_classes) == (0, 0, 0)


def test_offending_combinations_equal_a_groupby_over_every_row():
    """The column subsets are counted over one row per class, weighted by the class size: the
    counts must equal those of grouping every row (missing values form their own class)."""
    rng = np.random.default_rng(7)
    n = 20_000
    columns = ["a", "b", "c", "d"]
    frame = pd.DataFrame({c: pd.array(rng.choice([f"{c}{i}" for i in range(w)] + [None], n, p=_skewed(w + 1)), dtype="string")
                          for c, w in zip(columns, (3, 12, 40, 7))})
    for k in (5, 30, 400):
        r = measure(frame, columns, k)
        want = []
        for width in (1, 2):
            for cols in combinations(columns, width):
                sizes = frame.groupby(list(cols), dropna=False).size()
                if (sizes < k).sum():
                    want.append({"columns": list(cols), "small_classes": int((sizes < k).sum())})
            if want:
                break
        assert r.offending_combinations == (want or [{"columns": columns, "small_classes": r.small_classes}])


def _skewed(m: int) -> np.ndarray:
    weights = 1.0 / np.arange(1, m + 1) ** 2
    return weights / weights.sum()


def test_class_sizes_equal_a_groupby_for_every_kind_of_column():
    """The codes are taken in the narrowest type that holds them, a categorical's own codes as
    they are: categorical (unused categories, missing values), text with more distinct values
    than a byte holds, numbers and flags with missing values: each row's class and the classes
    below k are those of grouping every row."""
    rng = np.random.default_rng(11)
    n = 5_000
    categories = [f"cat{i}" for i in range(9)]
    frame = pd.DataFrame({
        "coded": pd.Categorical(rng.choice(categories[:3] + categories[6:] + [None], n), categories=categories),  # 3 unused, the last used
        "many": pd.array([None if v % 97 == 0 else f"v{v}" for v in rng.integers(0, 700, n)], dtype="string"),  # > 255 codes
        "number": pd.array(rng.choice([1, 2, 3, None], n), dtype="Int64"),
        "flag": pd.array(rng.choice([True, False, None], n), dtype="boolean"),
    })
    columns = ["number", "coded", "many", "flag"]  # the categorical not first: its width spaces the next codes
    sizes = frame.groupby(columns, dropna=False, observed=True)[columns[0]].transform("size")
    for k in (2, 5, 40):
        r = measure(frame, columns, k)
        assert np.array_equal(r.small_class_mask, (sizes < k).to_numpy())
        assert r.classes == len(frame.drop_duplicates())
        assert r.k_achieved == sizes.min()


def _random_classes(rng, n):
    """Quasi-identifiers of ``n`` rows: categoricals (each block listing other categories), plain
    text, missing values, and a column whose values only some blocks hold."""
    frame = pd.DataFrame(
        {
            "gender": pd.Categorical(rng.choice(["woman", "man", "another", None], n, p=[0.5, 0.4, 0.05, 0.05])),
            "age_band": pd.Series(rng.choice(["18-24", "25-34", "35-44", "45+"], n)).astype("string"),
            "region": pd.Categorical(rng.choice(["north", "south", "east"], n), categories=["south", "east", "north", "west"]),
        }
    )
    frame.loc[rng.random(n) < 0.03, "age_band"] = pd.NA
    return frame


@pytest.mark.parametrize("seed", range(6))
def test_class_counts_over_any_blocks_report_what_measure_over_every_row_reports(seed):
    """``ClassCounts``, fed a block at a time (blocks of one row, uneven blocks, each block's
    categoricals listing only its own values), gives ``measure``'s report over the whole, and its
    per-class verdicts mark exactly the rows ``measure`` marks."""
    rng = np.random.default_rng(seed)
    whole = _random_classes(rng, int(rng.integers(1, 400)))
    for k in (2, 3, 5):
        expected = measure(whole, QIS, k=k)
        cuts = sorted(set(rng.integers(0, len(whole), int(rng.integers(0, 12))).tolist()) | {0, len(whole)})
        if seed == 0:
            cuts = list(range(len(whole) + 1))  # a block per row
        counts, numbers = ClassCounts(QIS), []
        for start, stop in zip(cuts, cuts[1:]):
            block = whole.iloc[start:stop].reset_index(drop=True)
            block["gender"] = block["gender"].cat.remove_unused_categories()
            numbers.append(counts.add(block))
        got = counts.report(k)
        for name in ("k_required", "quasi_identifiers", "k_achieved", "classes", "small_classes", "records_in_small_classes",
                     "offending_combinations", "k_without_small_classes"):  # fmt: skip
            assert getattr(got, name) == getattr(expected, name), (name, k)
        assert got.summary() == expected.summary()
        assert (counts.small(k)[np.concatenate(numbers)] == expected.small_class_mask).all()
        assert int(counts.sizes.sum()) == len(whole)


def test_class_counts_of_nothing_report_zero():
    counts = ClassCounts(QIS)
    assert len(counts.add(_frame([]))) == 0
    r = counts.report(5)
    assert r.passed and (r.k_achieved, r.classes) == (0, 0)
