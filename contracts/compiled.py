"""A contract model compiled to plain data: what validation and de-identification read of it
(columns, types, rules, metadata), without importing pandera.

The pandera models in ``contracts/v1`` are the contracts (DESIGN §4). Importing pandera costs a
steward 0.2–0.35 s of a three-second contribution (pandera with typeguard and asyncio, some 250
modules), and the contributor never runs pandera's own validation (``contracts.conformance`` has
a fast path for every rule of the released contracts). So each released model is also kept
compiled, as JSON beside it (``contracts/v<version>/compiled/<id>.json``), written by
``python -m dvnet.contracts.compiled`` and held equal to the model by
``tests/unit/contracts/test_contracts_compiled.py``. The model stays the one source: a change
to it without a new compiled file fails that test.

The classes answer what ``contracts.conformance`` asks of a pandera schema (``columns``, each
with ``dtype``, ``nullable``, ``unique``, ``checks``; the schema's ``checks``), so one
conformance path reads both. A rule without a fast path is run by pandera after all: each
compiled rule rebuilds its pandera check on demand (``.pandera()``), and importing pandera then
costs the time, never the verdict.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from dvnet.contracts.errors import ContractError


def dtype_name(dtype: Any) -> str:
    """A column type as a contract states it: pandas names its string dtype after the storage in
    use ("string[python]" or "string[pyarrow]"), a runtime setting, not part of the contract."""
    text = str(dtype)
    return "string" if text.startswith("string") else text


@dataclass(frozen=True)
class Rule:
    """A column rule: pandera's built-in check ``name`` with its ``statistics``."""

    name: str
    statistics: dict[str, Any]
    error: str | None
    ignore_na: bool

    element_wise = False
    groupby = None

    def __str__(self) -> str:  # as pandera writes a check
        return f"<Check {self.name}: {self.error}>" if self.error is not None else f"<Check {self.name}>"

    def pandera(self):
        """The pandera check this rule was compiled from (imports pandera)."""
        import pandera.pandas as pandera

        return getattr(pandera.Check, self.name)(**self.statistics, error=self.error, ignore_na=self.ignore_na)


@dataclass(frozen=True)
class FrameRule:
    """A rule over several columns of a row: a function of ``contracts.rules``, by name."""

    name: str
    description: str | None
    error: str | None
    ignore_na: bool

    element_wise = False
    groupby = None

    @property
    def function(self):
        from dvnet.contracts.rules import FRAME_RULES

        return FRAME_RULES[self.name]

    def pandera(self):
        """The same rule as a pandera check (imports pandera)."""
        import pandera.pandas as pandera

        return pandera.Check(self.function, name=self.name, error=self.error, ignore_na=self.ignore_na, description=self.description)


@dataclass(frozen=True)
class Column:
    """One column of a compiled model."""

    name: str
    dtype: str
    nullable: bool
    unique: bool
    checks: tuple[Rule, ...]
    metadata: dict[str, Any]
    description: str

    def pandera(self):
        """The column as a pandera column (imports pandera), for a type without a fast path."""
        import pandera.pandas as pandera

        return pandera.Column(self.dtype, checks=[r.pandera() for r in self.checks], nullable=self.nullable, unique=self.unique, name=self.name)


@dataclass(frozen=True)
class Schema:
    """A compiled model: its columns in order and its rules over several columns."""

    columns: dict[str, Column]
    checks: tuple[FrameRule, ...]

    def remove_columns(self, names) -> Schema:
        gone = set(names)
        return replace(self, columns={n: c for n, c in self.columns.items() if n not in gone})

    def to_json(self) -> dict[str, Any]:
        return {
            "columns": [
                {
                    "name": c.name, "dtype": c.dtype, "nullable": c.nullable, "unique": c.unique, "description": c.description,
                    "metadata": c.metadata,
                    "checks": [{"name": r.name, "statistics": r.statistics, "error": r.error, "ignore_na": r.ignore_na} for r in c.checks],
                }
                for c in self.columns.values()
            ],
            "frame_checks": [{"name": r.name, "description": r.description, "error": r.error, "ignore_na": r.ignore_na} for r in self.checks],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Schema:
        columns = {}
        for c in data["columns"]:
            rules = tuple(Rule(r["name"], r["statistics"], r["error"], r["ignore_na"]) for r in c["checks"])
            columns[c["name"]] = Column(c["name"], c["dtype"], c["nullable"], c["unique"], rules, c["metadata"], c["description"])
        return cls(columns, tuple(FrameRule(r["name"], r["description"], r["error"], r["ignore_na"]) for r in data["frame_checks"]))


class CompileError(ValueError):
    """A model holds a rule the compiled form cannot carry exactly."""


def compile_model(model: Any) -> Schema:
    """A pandera model (or schema) as a ``Schema``; imports pandera. Refuses a rule it could not
    rebuild exactly: a column check that is not one of pandera's built-ins with its statistics,
    or a frame check with no function of that name in ``contracts.rules``."""
    from dvnet.contracts.rules import FRAME_RULES

    schema = model.to_schema() if hasattr(model, "to_schema") else model
    columns = {}
    for name, col in schema.columns.items():
        rules = []
        for check in col.checks:
            rule = Rule(check.name, _plain(check.statistics or {}), check.error, bool(check.ignore_na))
            rebuilt = rule.pandera() if hasattr(type(check), rule.name) else None
            if rebuilt is None or check.element_wise or (rebuilt.name, _plain(rebuilt.statistics), rebuilt.error) != (check.name, rule.statistics, check.error):
                raise CompileError(f"column {name}: rule {check.name} is not a built-in check the compiled contract can rebuild")
            rules.append(rule)
        columns[name] = Column(name, dtype_name(col.dtype), bool(col.nullable), bool(col.unique), tuple(rules), _plain(dict(col.metadata or {})), col.description or "")
    frame_rules = []
    for check in schema.checks:
        if check.name not in FRAME_RULES or check.groupby is not None or check.element_wise:
            raise CompileError(f"frame check {check.name} has no function of that name in contracts/rules.py")
        frame_rules.append(FrameRule(check.name, check.description, check.error, bool(check.ignore_na)))
    return Schema(columns, tuple(frame_rules))


def _plain(value: Any) -> Any:
    """``value`` as JSON reads it back (tuples become lists), so a loaded file compares equal."""
    return json.loads(json.dumps(value))


# --- the compiled files ----------------------------------------------------------------------------

HERE = Path(__file__).resolve().parent


def compiled_path(contract_id: str, version: int) -> Path:
    return HERE / f"v{version}" / "compiled" / f"{contract_id}.json"


@lru_cache(maxsize=None)
def load(contract_id: str, version: int) -> dict[str, Schema]:
    """The compiled ``source`` and ``output`` models of a released contract. A file missing or
    unreadable (an installation that lost it, or an edit by hand) is ``CONTRACT_COMPILED_UNREADABLE``,
    a configuration error: nothing is validated without the contract."""
    path = compiled_path(contract_id, version)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {side: Schema.from_json(data[side]) for side in ("source", "output")}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ContractError(
            "CONTRACT_COMPILED_UNREADABLE",
            f"the compiled form of contract {contract_id}/v{version} cannot be read ({type(e).__name__}): {path}",
            hint="reinstall dvnet; in a checkout, `python -m dvnet.contracts.compiled` writes it again from the model",
        ) from None


def model(ref: str) -> Any:
    """The pandera model named ``module:Class`` (imports it, and pandera)."""
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def dumps(contract: Any) -> str:
    data = {side: compile_model(getattr(contract, side)).to_json() for side in ("source", "output")}
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dvnet.contracts.compiled",
        description="Write (or check) the compiled form of every registered contract model, read by the contributor without pandera.",
    )
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a compiled file differs from its model")
    args = parser.parse_args(argv)
    from dvnet.contracts.registry import all_contracts

    stale = 0
    for contract in all_contracts():
        path, text = compiled_path(contract.id, contract.version), dumps(contract)
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            print(f"up to date: {contract.ref} ({path})")
        elif args.check:
            stale += 1
            print(f"differs from its model: {contract.ref} ({path}); run without --check to rewrite it", file=sys.stderr)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {contract.ref} ({path})")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
