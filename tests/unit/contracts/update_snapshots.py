"""Write the snapshot of every released contract to ``snapshots/<id>.v<version>.json``.

A snapshot is what a released contract promises agencies and the coordinator: each field's
dtype, nullability, uniqueness, role, transform, output column and checks; the frame-level
checks; the output model; and the standard count tables with their dimensions. Descriptions are
left out on purpose: clarifying the wording of the data dictionary is not a contract change.

Run it **on purpose** only, when a new contract version is released::

    .venv/bin/python tests/unit/contracts/update_snapshots.py            # writes missing snapshots
    .venv/bin/python tests/unit/contracts/update_snapshots.py --force    # also rewrites changed ones

A new version also needs its compiled form, which the contributor reads instead of the model
(``.venv/bin/python -m dvnet.contracts.compiled``; ``tests/unit/contracts/test_contracts_compiled.py``).

``--force`` rewrites a released contract's snapshot. Do that only when a mistake was released
and nobody has sent data under it yet; otherwise make a new version with a converter.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from dvnet.contracts.compiled import dtype_name

SNAPSHOT_DIR = Path(__file__).resolve().parent / "snapshots"


def _checks(checks: Any) -> list[dict[str, Any]]:
    return [{"name": c.name, "statistics": dict(c.statistics or {})} for c in checks]


def _model(model: Any, *, source: bool) -> dict[str, Any]:
    schema = model.to_schema()
    fields = []
    for name, col in schema.columns.items():
        meta = dict(col.metadata or {})
        entry: dict[str, Any] = {
            "name": name,
            "dtype": dtype_name(col.dtype),
            "nullable": bool(col.nullable),
            "unique": bool(col.unique),
            "role": meta.get("role"),
        }
        if source:
            entry |= {"transform": meta.get("transform"), "output": meta.get("output"), "at": meta.get("at")}
        entry["checks"] = _checks(col.checks)
        fields.append(entry)
    return {
        "strict": schema.strict,
        "coerce": bool(schema.coerce),
        "frame_checks": [{"name": c.name, "description": c.description} for c in schema.checks],
        "fields": fields,
    }


def snapshot(contract: Any) -> dict[str, Any]:
    """The JSON-safe promise a released contract makes (see the module docstring)."""
    return {
        "id": contract.id,
        "version": contract.version,
        "min_tier": contract.min_tier,
        "modes": list(contract.modes),
        "event_date": contract.event_date,
        "quarter_column": contract.quarter_column,
        "key_column": contract.key_column,
        "linkage_inputs": list(contract.linkage_inputs),
        "source": _model(contract.source, source=True),
        "output": _model(contract.output, source=False),
        "output_columns": contract.output_columns(),
        "quasi_identifiers": contract.quasi_identifiers(),
        "standard_tables": [
            {
                "name": t.name,
                "measure": t.measure,
                "dims": list(t.dims),
                "derived": dict(sorted(t.derived.items())),
                "unpivot": list(t.unpivot),
            }
            for t in contract.standard_tables
        ],
    }


def snapshot_path(contract: Any) -> Path:
    return SNAPSHOT_DIR / f"{contract.id}.v{contract.version}.json"


def dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="also rewrite snapshots that differ (a released contract changed)")
    args = parser.parse_args(argv)

    from dvnet.contracts.registry import all_contracts

    SNAPSHOT_DIR.mkdir(parents=True, exist_ok=True)
    refused = 0
    for contract in all_contracts():
        path, text = snapshot_path(contract), dumps(snapshot(contract))
        if not path.exists():
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.name} (new release)")
        elif path.read_text(encoding="utf-8") == text:
            print(f"unchanged {path.name}")
        elif args.force:
            path.write_text(text, encoding="utf-8")
            print(f"REWROTE {path.name}: a released contract changed")
        else:
            refused += 1
            print(f"refused {path.name}: released contract changed: make a new version (or pass --force)", file=sys.stderr)
    return 1 if refused else 0


if __name__ == "__main__":
    sys.exit(main())
