"""Same seed and network -> byte-identical files; another seed -> different bytes."""

from __future__ import annotations

import hashlib
from pathlib import Path

from dvnet.pipelines.demo_network import demo_geography
from dvnet.pipelines.synth import FAULT_KINDS, synthesize

from .conftest import NETWORK, PERIODS, SEED, SMALL


def _hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def _run(root: Path, seed: int) -> dict[str, str]:
    synthesize(NETWORK, root, seed=seed, periods=PERIODS, scale=SMALL, faults=frozenset(FAULT_KINDS), geography=demo_geography())
    return _hashes(root)


def test_same_seed_gives_identical_bytes_for_every_file(tmp_path):
    first, second = _run(tmp_path / "a", SEED), _run(tmp_path / "b", SEED)
    assert first == second
    names = set(first)
    assert "_ground_truth/persons.parquet" in names and "_ground_truth/faults.json" in names
    assert sum(n.endswith(".faulty.csv") for n in names) == sum(n.endswith(".csv") and not n.endswith(".faulty.csv") for n in names)


def test_rerunning_into_the_same_folder_rewrites_the_same_bytes(tmp_path):
    assert _run(tmp_path, SEED) == _run(tmp_path, SEED)


def test_network_order_does_not_change_the_data(tmp_path):
    a = _run(tmp_path / "a", SEED)
    synthesize(list(reversed(NETWORK)), tmp_path / "b", seed=SEED, periods=PERIODS, scale=SMALL, faults=frozenset(FAULT_KINDS), geography=demo_geography())
    assert _hashes(tmp_path / "b") == a


def test_another_seed_changes_every_extract(tmp_path):
    a, b = _run(tmp_path / "a", SEED), _run(tmp_path / "b", SEED + 1)
    assert set(a) == set(b)
    extracts = [n for n in a if n.endswith(".csv")]
    assert extracts and all(a[n] != b[n] for n in extracts)
    assert a["_ground_truth/persons.parquet"] != b["_ground_truth/persons.parquet"]


def test_a_clean_run_removes_an_earlier_runs_faulty_copies(tmp_path):
    _run(tmp_path, SEED)
    summary = synthesize(NETWORK, tmp_path, seed=SEED, periods=PERIODS, scale=SMALL, geography=demo_geography())
    assert not list(tmp_path.rglob("*.faulty.csv"))
    assert summary.faults == []
    assert '"faults": []' in (tmp_path / "_ground_truth" / "faults.json").read_text()
