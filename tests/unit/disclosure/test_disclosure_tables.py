"""The linked-table model: quantities, additivity equations, shared margins, typed errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dvnet.anonymize.disclosure import DisclosureError, EarlierCell, Table
from hypothesis import given
from hypothesis import strategies as st

from dvnet.anonymize.disclosure.tables import TOTAL, build_model, describe_key, quantity_key, quantity_keys


def test_a_grid_with_totals_gives_one_equation_per_row_and_column(grid_table):
    model = build_model([grid_table("t", [[1, 2], [3, 4]], ["A", "B"], ["x", "y"])])
    assert model.n == 9
    assert model.M.shape[0] == 6  # 3 rows (A, B, Total) + 3 columns (x, y, Total)
    assert np.allclose(model.M @ model.truth, 0)


@given(st.lists(st.dictionaries(st.sampled_from(["region", "age", "service", "period"]),
                                 st.one_of(st.just(TOTAL), st.text(max_size=4), st.integers(0, 99)), min_size=4, max_size=4), min_size=1, max_size=8),
       st.sampled_from(["episodes", "referrals"]))
def test_one_cells_key_is_the_key_of_its_row(rows, measure):
    """An earlier cell is keyed one at a time (``quantity_key``), a table a column at a time
    (``quantity_keys``): the same quantity must get the same key, or a history links nothing."""
    frame = pd.DataFrame(rows)
    dims = list(frame.columns)
    assert [quantity_key(measure, row) for row in rows] == list(quantity_keys(frame, dims, measure))


def test_nested_dimensions_give_the_hierarchy(cube_table):
    t = cube_table(
        "h", {("P1", "R1"): 4, ("P1", "R2"): 30, ("P2", "R3"): 40}, ("province", "region"), nested={"region": "province"}
    )
    model = build_model([t])
    equations = {frozenset((describe_key(model.keys[c]), int(v)) for c, v in zip(row.indices, row.data, strict=True)) for row in model.M}
    assert frozenset({("episodes: province=P1", 1), ("episodes: province=P1, region=R1", -1), ("episodes: province=P1, region=R2", -1)}) in equations
    assert frozenset({("episodes: Total", 1), ("episodes: province=P1", -1), ("episodes: province=P2", -1)}) in equations
    assert len(equations) == 3


def test_tables_sharing_a_margin_share_the_quantity(grid_table):
    a = grid_table("a", [[1, 2], [3, 4]], ["A", "B"], ["x", "y"], dims=("region", "service"))
    b = grid_table("b", [[2, 1], [5, 2]], ["A", "B"], ["h", "l"], dims=("region", "risk"))
    model = build_model([a, b])
    assert model.n == 9 + 9 - 3  # region totals A, B and the grand total are shared
    assert model.multiplicity.max() == 2


def test_the_same_quantity_with_two_values_is_refused(grid_table):
    a = grid_table("a", [[1, 2], [3, 4]], ["A", "B"], ["x", "y"], dims=("region", "service"))
    b = grid_table("b", [[2, 2], [5, 2]], ["A", "B"], ["h", "l"], dims=("region", "risk"))
    with pytest.raises(DisclosureError) as err:
        build_model([a, b])
    assert err.value.reason == "INCONSISTENT_SHARED_CELL"


def test_margins_that_do_not_add_up_are_refused_without_showing_values():
    frame = pd.DataFrame({"region": ["A", "B", "Total"], "value": [4017, 2231, 9999]})
    with pytest.raises(DisclosureError) as err:
        build_model([Table("t", frame, ("region",), "episodes")])
    assert err.value.reason == "INVALID_TABLE"
    assert not any(v in str(err.value) for v in ("4017", "2231", "9999"))


def test_negative_or_fractional_counts_are_refused():
    for bad in (-1, 2.5):
        frame = pd.DataFrame({"region": ["A", "Total"], "value": [bad, bad]})
        with pytest.raises(DisclosureError) as err:
            Table("t", frame, ("region",), "episodes")
        assert err.value.reason == "INVALID_TABLE"


def test_an_earlier_release_that_differs_is_another_population_and_one_that_contradicts_itself_a_ledger_conflict(grid_table):
    t = grid_table("t", [[1, 2], [3, 4]], ["A", "B"], ["x", "y"])
    # Late records or a correction: the earlier cell is a quantity of its own, linked by a difference.
    model = build_model([t], [EarlierCell("episodes", {"region": "A", "service": "x"}, 5, table="r1/t")])
    assert model.difference.sum() == 1 and model.truth[model.difference][0] == 4
    with pytest.raises(DisclosureError) as err:
        build_model([t], [EarlierCell("episodes", {"region": "A", "service": "x"}, v, table="r1/t") for v in (5, 6)])
    assert err.value.reason == "LEDGER_CONFLICT"
