"""The demo network's synthetic extracts at small scale, and typed reading of them, shared by the
synth tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from dvnet.contracts.network import Organisation
from dvnet.pipelines.demo_network import demo_organisations
from dvnet.contracts.registry import Contract, get_contract
from dvnet.pipelines.demo_network import demo_geography
from dvnet.pipelines.synth import FAULT_KINDS, synthesize

SEED = 4242
PERIODS = ["2026-Q3", "2026-Q4"]
SMALL = 0.05  # a few thousand rows: enough for every check, fast enough for every run


#: The demo network (all six organisation types, all four tiers, agencies in the tiny regions).
NETWORK = demo_organisations()


def read_typed(path: Path, contract: Contract) -> pd.DataFrame:
    """Read an extract as strings (strict UTF-8), then convert each column to its contract type.

    Empty fields are missing; dates must be ISO; booleans ``true``/``false``. Any other spelling
    raises, so a file that reads here has exactly the agreed text form.
    """
    df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8")
    for name, col in contract.source.to_schema().columns.items():
        dtype = str(col.dtype)
        if dtype.startswith("datetime64"):
            df[name] = pd.to_datetime(df[name], format="%Y-%m-%d")
        elif dtype == "boolean":
            mapped = df[name].map({"true": True, "false": False})
            assert mapped.notna().sum() == df[name].notna().sum(), f"{path.name}:{name} has non true/false values"
            df[name] = mapped.astype("boolean")
        elif dtype == "Int64":
            df[name] = pd.to_numeric(df[name]).astype("Int64")
        else:
            df[name] = df[name].astype("string")
    return df


def clean_files(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("*/extracts/*.csv") if not p.name.endswith(".faulty.csv"))


def contract_of(path: Path) -> Contract:
    stem = path.name.split(".")[0]
    return get_contract(stem.rsplit("_", 1)[0])


def period_of(path: Path) -> str:
    return path.name.split(".")[0].rsplit("_", 1)[1]


@pytest.fixture(scope="session")
def network() -> list[Organisation]:
    return NETWORK


@pytest.fixture(scope="session")
def small_run(tmp_path_factory):
    """A clean-and-faulty run at small scale: (out_root, summary)."""
    root = tmp_path_factory.mktemp("synth-small")
    summary = synthesize(NETWORK, root, seed=SEED, periods=PERIODS, scale=SMALL, faults=frozenset(FAULT_KINDS), geography=demo_geography())
    return root, summary


@pytest.fixture(scope="session")
def typed(small_run) -> dict[str, pd.DataFrame]:
    """Every clean file of the small run, typed, concatenated per contract (with agency and period)."""
    root, _ = small_run
    frames: dict[str, list[pd.DataFrame]] = {}
    for path in clean_files(root):
        c = contract_of(path)
        frames.setdefault(c.id, []).append(read_typed(path, c).assign(_agency=path.parts[-3], _period=period_of(path)))
    return {k: pd.concat(v, ignore_index=True) for k, v in frames.items()}


@pytest.fixture(scope="session")
def larger_run(tmp_path_factory):
    """One quarter at a scale where rates and region sizes are measurable: (out_root, summary)."""
    root = tmp_path_factory.mktemp("synth-larger")
    summary = synthesize(NETWORK, root, seed=SEED + 1, periods=["2026-Q3"], scale=0.5, geography=demo_geography())
    return root, summary
