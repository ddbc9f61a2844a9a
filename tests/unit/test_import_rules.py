"""The layering of DESIGN §4 and docs/architecture.md, checked on the source of every package.

Layers, lowest first; a module imports dvnet code only from its own package or a lower layer::

    kernels  <-  contracts  <-  anonymize, bundle  <-  common  <-  assets  <-  pipelines

Inside ``assets``, each group's ``lib`` (the coordinator's pure logic) never imports Dagster nor
the Dagster-facing modules beside it. Nothing but the CLI (``pipelines/cli.py`` and
``pipelines/commands``) imports the CLI. Third-party imports are allowed per package (below).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STDLIB = set(sys.stdlib_module_names) | {"__future__"}

#: dvnet packages and their layer: an import may only go to the same package or a lower layer.
LAYER = {"kernels": 0, "contracts": 1, "anonymize": 2, "bundle": 2, "common": 3, "assets": 4, "pipelines": 5}

#: Third-party import names each package may use (None: any; the layer rule still applies).
THIRD_PARTY: dict[str, set[str] | None] = {
    "kernels": {"numpy", "pyarrow", "duckdb"},
    "contracts": {"pandas", "pandera", "numpy", "pyarrow", "yaml"},
    "anonymize": {"numpy", "pandas", "pandera", "scipy", "highspy", "duckdb", "pyarrow", "cryptography"},
    "bundle": {"cryptography"},
    "common": {"yaml", "cryptography", "jinja2"},  # jinja2: reports rendered from templates (common/templates.py)
    # psycopg2: the scaled profile's warehouse in PostgreSQL (assets/warehouse/lib/postgres.py);
    # sqlalchemy: the engines of Dagster's SQLite event log (assets/sqlite_storage.py);
    # dagster_postgres: its error when the instance's PostgreSQL cannot be reached (assets/runs.py)
    "assets": {"dagster", "dagster_duckdb", "pydantic", "duckdb", "pandas", "pyarrow", "numpy", "matplotlib", "yaml", "psycopg2",
               "sqlalchemy", "dagster_postgres"},
    "pipelines": None,
}
#: dvnet modules a package may use although the layer rule alone would allow more.
NARROWER_FIRST_PARTY = {"bundle": ("dvnet.bundle", "dvnet.contracts.errors")}
#: Imports no Dagster-free module may make.
DAGSTER = ("dagster", "dagster_duckdb", "dagster_webserver", "dagster_postgres", "pydantic")
CLI = ("dvnet.pipelines.cli", "dvnet.pipelines.commands")


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.level == 0 and node.module == "dvnet":  # from dvnet import bundle
                names.update(f"dvnet.{a.name}" for a in node.names)
            elif node.level == 0:
                names.add(node.module)
            else:  # a relative import, made absolute from this module's own package
                package = ".".join(("dvnet", *path.relative_to(ROOT).parent.parts))
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                names.add(f"{base}.{node.module}")
    return names


def _modules(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py"))


def _is_under(name: str, prefixes: tuple[str, ...] | str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in ((prefixes,) if isinstance(prefixes, str) else prefixes))


def violations(package: str, path: Path, names: set[str]) -> list[str]:
    """What is wrong with the imports ``names`` of the module at ``path`` in ``package``."""
    found = []
    relative = path.relative_to(ROOT)
    is_lib = package == "assets" and "lib" in relative.parts
    is_cli = package == "pipelines" and (relative.parts[1:2] == ("commands",) or relative.name == "cli.py")
    for name in sorted(names):
        top = name.split(".")[0]
        if top in STDLIB:
            continue
        if top == "dvnet":
            target = name.split(".")[1] if "." in name else ""
            if target not in LAYER:
                found.append(f"{relative} imports {name}: not a dvnet package")
            elif target != package and LAYER[target] >= LAYER[package]:
                found.append(f"{relative} imports {name}: {target} is not below {package}")
            elif package in NARROWER_FIRST_PARTY and not _is_under(name, NARROWER_FIRST_PARTY[package]):
                found.append(f"{relative} imports {name}: {package} may use only {NARROWER_FIRST_PARTY[package]}")
            elif _is_under(name, CLI) and not is_cli:
                found.append(f"{relative} imports {name}: nothing but the CLI imports the CLI")
            elif is_lib and _is_under(name, "dvnet.assets") and ".lib" not in name and name not in ("dvnet.assets",):
                found.append(f"{relative} imports {name}: a lib module imports no Dagster-facing module")
            continue
        if is_lib and top in DAGSTER:
            found.append(f"{relative} imports {name}: lib modules are Dagster-free")
        elif THIRD_PARTY[package] is not None and top not in THIRD_PARTY[package]:
            found.append(f"{relative} imports {name}: not among {package}'s dependencies")
    return found


@pytest.mark.parametrize("package", sorted(LAYER))
def test_package_imports_only_what_the_layers_allow(package):
    offending = [v for path in _modules(package) for v in violations(package, path, _imports(path))]
    assert not offending, "\n".join(offending)


@pytest.mark.parametrize(
    "package, module, imported",
    [
        ("contracts", "contracts/registry.py", "dvnet.anonymize.counts"),  # upward
        ("anonymize", "anonymize/counts.py", "dvnet.bundle.seal"),  # sideways
        ("bundle", "bundle/seal.py", "dvnet.contracts.registry"),  # narrower than its layer
        ("assets", "assets/intake/lib/ingest.py", "dagster"),  # lib is Dagster-free
        ("assets", "assets/intake/lib/ingest.py", "dvnet.assets.resources"),  # lib below its wrappers
        ("pipelines", "pipelines/contributor/run.py", "dvnet.pipelines.cli"),  # nothing imports the CLI
        ("kernels", "kernels/arrow_memory.py", "dvnet.contracts.errors"),  # kernels depend on nothing of ours
        ("common", "common/audit.py", "dvnet.assets.runs"),  # downward only
    ],
)
def test_each_kind_of_wrong_import_is_caught(package, module, imported):
    assert violations(package, ROOT / module, {imported})


def test_every_package_is_checked():
    """A new top-level package must get a layer (setup.py lists the folders that are installed)."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    folders = next(
        ast.literal_eval(node.value) for node in tree.body
        if isinstance(node, ast.AnnAssign | ast.Assign) and "CODE_FOLDERS" in ast.unparse(node)
    )  # fmt: skip
    assert set(folders) == set(LAYER)


def test_the_contributor_never_imports_dagster():
    """The agency-side install has no Dagster: running a contribution must not even try to import it."""
    code = (
        "import sys\n"
        "import dvnet.pipelines.contributor.run, dvnet.pipelines.contributor.report, dvnet.pipelines.commands.contribute\n"
        "import dvnet.pipelines.commands.network, dvnet.pipelines.commands.synth, dvnet.pipelines.commands.contracts\n"
        "from dvnet.pipelines.cli import main\n"
        "main(['contribute', '--help'])\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('dagster', 'dagster_duckdb', 'dagster_webserver', 'scipy', 'matplotlib'))\n"
        "print('IMPORTED=' + ','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    last = out.stdout.strip().splitlines()[-1]
    assert last == "IMPORTED=", f"the contributor imported: {last}"
