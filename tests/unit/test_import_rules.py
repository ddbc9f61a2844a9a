"""The layering of DESIGN §4, checked on the source: each top-level folder imports only what it may.

Departure from DESIGN (on purpose, see docs/architecture.md): ``assets`` also imports the pure
central logic it wraps (``pipelines.central``, ``pipelines.access``, ``pipelines.network``), so
the CLI and the Dagster assets run one code path.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STDLIB = set(sys.stdlib_module_names) | {"__future__"}

ALLOWED = {
    # pyarrow: pandas' string storage (conformance.py); duckdb: counting millions of distinct
    # values for uniqueness rules (conformance._distinct_count), imported only then
    "contracts": {"contracts", "pandas", "pandera", "numpy", "pyarrow", "duckdb"},
    "anonymize": {"anonymize", "contracts", "numpy", "pandas", "pandera", "scipy", "highspy", "duckdb", "pyarrow"},
    "bundle": {"bundle", "contracts", "cryptography"},
    "assets": {"assets", "contracts", "anonymize", "bundle", "dagster", "dagster_duckdb", "duckdb", "pandas", "pydantic",
               "pipelines.central", "pipelines.access", "pipelines.network"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def _allowed(name: str, allowed: set[str]) -> bool:
    top = name.split(".")[0]
    return top in STDLIB or any(name == a or name.startswith(a + ".") for a in allowed)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_design_allows(package):
    offending = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name in _imports(path):
            if not _allowed(name, ALLOWED[package]):
                offending.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offending, "\n".join(offending)


def test_nothing_but_pipelines_imports_the_applications():
    for package in ("contracts", "anonymize", "bundle"):
        for path in (ROOT / package).rglob("*.py"):
            assert not any(n.startswith(("pipelines", "assets")) for n in _imports(path)), path


def test_the_contributor_never_imports_dagster():
    """The agency-side install has no Dagster: running a contribution must not even try to import it."""
    code = (
        "import sys\n"
        "import pipelines.contributor.run, pipelines.contributor.report, pipelines.commands.contribute\n"
        "import pipelines.commands.network, pipelines.commands.synth, pipelines.commands.contracts\n"
        "from pipelines.cli import main\n"
        "main(['contribute', '--help'])\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('dagster', 'dagster_duckdb', 'dagster_webserver', 'scipy', 'matplotlib'))\n"
        "print('IMPORTED=' + ','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    last = out.stdout.strip().splitlines()[-1]
    assert last == "IMPORTED=", f"the contributor imported: {last}"
