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
    keyed = KeyedColumns(get_contract(contract), **keys)
    keyed.add(FRAME, np.ones(len(FRAME), dtype=bool))
    return keyed


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


def test_blocks_given_one_at_a_time_make_the_columns_of_the_whole():
    """A contribution gives the keyed columns a block at a time (each block's consenting rows);
    the columns are those of hashing the rows of every block together: in order, rows outside
    the masks never hashed, and any subset of the rows given can be taken."""
    from dvnet.anonymize.pseudonyms import pseudonymise

    rng = np.random.default_rng(5)
    n = 40
    frame = pd.DataFrame({
        "episode_id": pd.array([f"E{i}" for i in range(n)], dtype="string[pyarrow]"),
        "client_id": pd.array([f"C{i % 13}" for i in range(n)], dtype="string[pyarrow]"),
    })
    consenting = rng.random(n) < 0.7
    sent = consenting & (rng.random(n) < 0.9)
    key = b"k" * 32
    keyed = KeyedColumns(get_contract("service_episode"), pseudonym_key=key)
    for low, high in ((0, 1), (1, 17), (17, 17), (17, 40)):
        keyed.add(frame.iloc[low:high].reset_index(drop=True), consenting[low:high])
    got = {name: [] for name in ("episode_pseudonym", "client_pseudonym")}
    for _, part in keyed.parts(sent, 7):
        for name, column in part.items():
            got[name] += column.tolist()
    for name, source in (("episode_pseudonym", "episode_id"), ("client_pseudonym", "client_id")):
        assert got[name] == list(pseudonymise(frame[source][sent].tolist(), key=key, field=source))
    with pytest.raises(ValueError, match="not computed"):
        list(keyed.parts(~consenting & (np.arange(n) < 40), 7))


def test_the_digests_scratch_files_go_once_every_part_is_taken(monkeypatch):
    """Past a size the digests wait in encrypted scratch files; once the last part is taken
    they are deleted, while the columns object is still held (not left for the collector)."""
    import os

    from dvnet.anonymize import scratch

    folders = []
    real = scratch.ScratchFolder.__init__
    monkeypatch.setattr(scratch.SpillingBuffer, "MEMORY", 0)
    monkeypatch.setattr(scratch.ScratchFolder, "__init__", lambda self, prefix, parent=None: real(self, prefix, parent) or folders.append(self.path))
    keyed = _keyed("research_extract", pseudonym_key=b"k" * 32, project_key=b"p" * 32)
    parts = keyed.parts(np.ones(len(FRAME), dtype=bool), 1)
    next(parts)
    assert len(folders) == 3 and all(os.path.exists(f) for f in folders)  # one a keyed column, still needed
    rest = list(parts)
    assert len(rest) == 1 and not any(os.path.exists(f) for f in folders)
    assert keyed is not None
