"""Keyed columns are never made without their key: no pseudonym without the agency's pseudonym
key (PSEUDONYM_KEY_MISSING), no linkage token without a project linkage key (LINKAGE_KEY_MISSING)
— never an unkeyed hash that anyone could recompute from a name and a date of birth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dvnet.anonymize.deidentify import KeyedColumns
from dvnet.contracts.errors import DvnetError
from dvnet.contracts.registry import get_contract

FRAME = pd.DataFrame(
    {
        "episode_id": pd.array(["E1", "E2"], dtype="string[pyarrow]"),
        "client_id": pd.array(["C1", "C2"], dtype="string[pyarrow]"),
        "client_name": pd.array(["A", "B"], dtype="string[pyarrow]"),
        "date_of_birth": pd.to_datetime(["1990-01-01", "1985-05-05"]),
    }
)


def _keyed(contract: str, **keys) -> KeyedColumns:
    return KeyedColumns(FRAME, get_contract(contract), np.ones(len(FRAME), dtype=bool), **keys)


def test_pseudonyms_need_the_pseudonym_key():
    with pytest.raises(DvnetError) as caught:
        _keyed("service_episode", pseudonym_key=None)
    assert caught.value.reason == "PSEUDONYM_KEY_MISSING"


def test_linkage_tokens_need_a_project_key():
    with pytest.raises(DvnetError) as caught:
        _keyed("research_extract", pseudonym_key=b"k" * 32, project_key=None)
    assert caught.value.reason == "LINKAGE_KEY_MISSING"


def test_with_both_keys_the_columns_are_made():
    keyed = _keyed("research_extract", pseudonym_key=b"k" * 32, project_key=b"p" * 32)
    ((rows, part),) = list(keyed.parts(np.ones(len(FRAME), dtype=bool), 10))
    assert rows == 2 and set(part) == {"episode_pseudonym", "client_pseudonym", "linkage_token"}
