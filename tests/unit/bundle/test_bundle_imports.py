"""bundle/ belongs to neither side: it may import only cryptography, the stdlib and contracts.errors."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import bundle

ALLOWED_THIRD_PARTY = {"cryptography"}
ALLOWED_FIRST_PARTY = {"bundle", "contracts.errors"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_bundle_imports_only_what_it_may():
    for path in Path(bundle.__file__).parent.glob("*.py"):
        for name in _imports(path):
            top = name.split(".")[0]
            allowed = (
                top in sys.stdlib_module_names
                or top in ALLOWED_THIRD_PARTY
                or name == "bundle"
                or name.startswith("bundle.")
                or name in ALLOWED_FIRST_PARTY
                or top == "__future__"
            )
            assert allowed, f"{path.name} imports {name}"
