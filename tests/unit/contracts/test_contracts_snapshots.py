"""Released contracts are frozen: any change to one shows up here as a difference from its snapshot.

The snapshots are JSON files in ``snapshots/``, written on purpose by ``update_snapshots.py`` when
a new version is released. A failure here means someone changed a released contract in place;
agencies already send data under it, so the change belongs in a new version with a converter.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from pandera.typing import Series

from dvnet.contracts.registry import all_contracts, get_contract
from dvnet.contracts.roles import Role, Transform, field
from dvnet.contracts.standard_tables import StandardTable
from dvnet.contracts.v1.referral import Referral

HERE = Path(__file__).resolve().parent
MESSAGE = "released contract changed: make a new version"


def _load_script():
    spec = importlib.util.spec_from_file_location("dvnet_update_snapshots", HERE / "update_snapshots.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


snap = _load_script()


def _differences(expected, actual, path="") -> list[str]:
    """Paths (``source.fields[3].nullable``) where two snapshots differ."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = []
        for key in sorted(set(expected) | set(actual), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in actual:
                out.append(f"{where}: removed")
            elif key not in expected:
                out.append(f"{where}: added")
            else:
                out += _differences(expected[key], actual[key], where)
        return out
    if isinstance(expected, list) and isinstance(actual, list):
        out = [d for i, (e, a) in enumerate(zip(expected, actual)) for d in _differences(e, a, f"{path}[{i}]")]
        if len(expected) != len(actual):
            out.append(f"{path}: {len(expected)} entries -> {len(actual)}")
        return out
    return [] if expected == actual else [f"{path}: {expected!r} -> {actual!r}"]


def _check(contract) -> list[str]:
    path = snap.snapshot_path(contract)
    stored = json.loads(path.read_text(encoding="utf-8"))
    # Round-trip through JSON so tuples and lists compare alike.
    current = json.loads(snap.dumps(snap.snapshot(contract)))
    return _differences(stored, current)


@pytest.mark.parametrize("contract", all_contracts(), ids=lambda c: c.ref)
def test_released_contract_matches_its_snapshot(contract):
    path = snap.snapshot_path(contract)
    assert path.exists(), (
        f"{contract.ref} has no snapshot: if it is a new release, run "
        "`.venv/bin/python tests/unit/contracts/update_snapshots.py` and commit the file"
    )
    diffs = _check(contract)
    assert not diffs, f"{MESSAGE} ({contract.ref}):\n  " + "\n  ".join(diffs[:30])


def test_every_snapshot_is_still_a_registered_contract():
    registered = {snap.snapshot_path(c).name for c in all_contracts()}
    stored = {p.name for p in (HERE / "snapshots").glob("*.json")}
    assert stored - registered == set(), f"{MESSAGE}: a released contract was removed from the registry"


def test_snapshots_cover_the_issue_3_releases():
    stored = {p.name for p in (HERE / "snapshots").glob("*.json")}
    assert {"referral.v1.json", "service_episode.v1.json", "research_extract.v1.json"} <= stored


def test_snapshots_hold_what_a_contract_promises():
    data = json.loads((HERE / "snapshots" / "referral.v1.json").read_text(encoding="utf-8"))
    first = data["source"]["fields"][0]
    assert {"name", "dtype", "nullable", "unique", "role", "transform", "output", "checks"} <= set(first)
    assert data["output_columns"] and data["standard_tables"][0]["dims"]


class _ReferralLooserDays(Referral):
    days_to_first_contact: Series[pd.Int64Dtype] = field(
        role=Role.SENSITIVE,
        transform=Transform.KEEP,
        description="Days from referral to the receiving organisation's first contact; empty if none yet.",
        nullable=True,
        ge=0,
        le=9999,
    )


class _ReferralNameKept(Referral):
    client_name: Series[pd.StringDtype] = field(
        role=Role.DIRECT_IDENTIFIER,
        transform=Transform.PSEUDONYM,
        output="client_pseudonym",
        description="Client's full name as recorded by the agency. Never leaves the agency.",
        nullable=True,
        str_length={"max_value": 200},
    )


def _first_table_with_extra_dim(c):
    t = c.standard_tables[0]
    return replace(c, standard_tables=(StandardTable(t.name, t.description, t.measure, (*t.dims[:2], "gender")), *c.standard_tables[1:]))


MUTATIONS = {
    "min tier lowered": lambda c: replace(c, min_tier=1),
    "mode dropped": lambda c: replace(c, modes=("record",)),
    "event date moved": lambda c: replace(c, event_date="date_of_birth"),
    "check loosened": lambda c: replace(c, source_model=_ReferralLooserDays),
    "transform changed": lambda c: replace(c, source_model=_ReferralNameKept),
    "standard table dims changed": _first_table_with_extra_dim,
    "standard table removed": lambda c: replace(c, standard_tables=c.standard_tables[:-1]),
}


@pytest.mark.parametrize("mutate", MUTATIONS.values(), ids=MUTATIONS.keys())
def test_a_change_to_a_released_contract_is_caught(mutate):
    changed = mutate(get_contract("referral", 1))
    assert _check(changed), "the snapshot comparison did not notice the change"


def test_description_wording_is_not_part_of_the_promise():
    class Reworded(Referral):
        class Config:
            strict = True
            coerce = False
            description = "Reworded for stewards."

    assert _check(replace(get_contract("referral", 1), source_model=Reworded)) == []


def test_update_script_refuses_to_overwrite_a_changed_release_without_force(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(snap, "SNAPSHOT_DIR", tmp_path)
    assert snap.main([]) == 0  # first run writes every snapshot
    target = tmp_path / "referral.v1.json"
    target.write_text(target.read_text(encoding="utf-8").replace('"min_tier": 2', '"min_tier": 9'), encoding="utf-8")
    assert snap.main([]) == 1
    assert MESSAGE in capsys.readouterr().err
    assert '"min_tier": 9' in target.read_text(encoding="utf-8")
    assert snap.main(["--force"]) == 0
    assert '"min_tier": 2' in target.read_text(encoding="utf-8")
