"""What a blockwise validation keeps of the accepted rows: only the columns a later step reads,
joined into one frame without holding the rows twice."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dvnet.anonymize.deidentify import _source_columns, read_after_validation
from dvnet.contracts.registry import all_contracts
from dvnet.contracts.roles import Transform
from dvnet.pipelines.contributor.validate import BlockValidation, ValidationResult


def _block(start: int, n: int) -> ValidationResult:
    rows = np.arange(start, start + n)
    frame = pd.DataFrame({
        "text": pd.array([f"t{i}" for i in rows], dtype="string[pyarrow]"),
        "code": pd.Categorical(["a" if i % 2 else "b" for i in rows], categories=["a", "b", "c"]),
        "when": pd.to_datetime(rows, unit="D"),
        "flag": pd.array([None if i % 3 == 0 else bool(i % 2) for i in rows], dtype="boolean"),
        "dropped": pd.array([f"name{i}" for i in rows], dtype="string[pyarrow]"),
    })
    return ValidationResult(frame=frame, records=n)


@pytest.mark.parametrize("sizes", [[5], [1, 1, 1], [4, 1, 7, 2]])
def test_blocks_join_into_the_frame_one_validation_would_give_and_are_let_go(sizes):
    starts = np.cumsum([0, *sizes[:-1]])
    expected = pd.concat([_block(s, n).frame for s, n in zip(starts, sizes)], ignore_index=True)
    blocks = BlockValidation()
    added = [_block(s, n) for s, n in zip(starts, sizes)]
    for b in added:
        blocks.add(b)
    joined = blocks.finish().frame
    pd.testing.assert_frame_equal(joined, expected)
    if len(sizes) > 1:  # each block's frame was handed over, not kept beside the joined one
        assert all(b.frame is None for b in added)


def test_blocks_keep_only_the_columns_named():
    blocks = BlockValidation(columns=["when", "text", "flag", "code"])
    for start, n in ((0, 3), (3, 2)):
        blocks.add(_block(start, n))
    frame = blocks.finish().frame
    assert list(frame.columns) == ["when", "text", "flag", "code"]
    assert len(frame) == 5


@pytest.mark.parametrize("contract", all_contracts(), ids=lambda c: c.ref)
def test_the_rows_kept_after_validation_hold_what_later_steps_read_and_nothing_dropped(contract):
    counts = set(read_after_validation(contract, records=False))
    records = set(read_after_validation(contract, records=True))
    keyed_or_consent = set(contract.linkage_inputs) | {
        f.name for f in contract.fields() if f.transform in (Transform.PSEUDONYM, Transform.LINKAGE_INPUT, Transform.CONSENT)}
    assert counts == set(_source_columns(contract))  # what deidentify reads, all that aggregate mode reads
    assert records == counts | keyed_or_consent
    assert not counts & (keyed_or_consent - set(_source_columns(contract))), "aggregate mode keeps keys or consent it never reads"
    helpers = {f.at for f in contract.fields() if f.at} | {contract.event_date}
    for f in contract.fields():
        if f.transform is Transform.DROP and f.name not in helpers:
            assert f.name not in records, f"{f.name} is dropped from the output but kept after validation"
