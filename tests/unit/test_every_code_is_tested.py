"""Every reason code in the code base and every Dagster asset check is named by at least one test.

A code or check no test names is one no test can see break: when these were broken on purpose,
several (a correction superseding another agency's bundle, the release's small-cell check, the
cube reconcile check...) failed no test. The guard is by name; the tests that name them each hold
a case that must fail.

Reason codes are found in the source, not listed by hand: the first argument of any call to an
error or refusal type (``...Error(...)``, ``...Refusal(...)``, ``_Refused(...)``), as a literal or
a module constant, and module constants spelled ``NAME = "NAME"`` (the constant style of ``read/problems.py`` and
``disclosure/errors.py``).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("anonymize", "assets", "bundle", "common", "contracts", "kernels", "pipelines")
CODE = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")
RAISERS = re.compile(r".*(Error|Refusal|Refused)$")
THIS = Path(__file__).resolve()


def _callee(node: ast.Call) -> str:
    f = node.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def reason_codes() -> dict[str, str]:
    """code -> the first file that defines or raises it."""
    found: dict[str, str] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            strings = {
                n.targets[0].id: n.value.value
                for n in tree.body
                if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name)
                and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
            }  # fmt: skip
            codes = {value for name, value in strings.items() if name == value and CODE.fullmatch(name)}
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and RAISERS.match(_callee(node)) and node.args:
                    for part in ast.walk(node.args[0]):
                        value = part.value if isinstance(part, ast.Constant) else strings.get(part.id) if isinstance(part, ast.Name) else None
                        if isinstance(value, str) and CODE.fullmatch(value):
                            codes.add(value)
            for code in codes:
                found.setdefault(code, str(path.relative_to(ROOT)))
    return found


def asset_check_names() -> set[str]:
    from dvnet.assets.definitions import build_definitions

    defs = build_definitions(ROOT)
    return {key.name for check in defs.asset_checks or [] for key in check.check_keys}


def _test_texts() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("*.py") if p.resolve() != THIS)


def test_the_search_finds_the_codes_it_must():
    codes = reason_codes()
    for known in ("SUPERSEDES_INVALID", "CSV_RAGGED", "AUDIT_INCOMPLETE", "UNEXPECTED_ERROR", "USAGE_K_INVALID", "INBOX_NOT_A_FILE", "SIGNATURE_INVALID"):
        assert known in codes, known
    assert "DAGSTER_HOME" not in codes and "O_NOFOLLOW" not in codes  # names, not reasons
    assert len(asset_check_names()) >= 9


#: Codes that landed (branch f, 2026-12-02) before their refusal tests were written: debt, listed
#: here so it shows, not hidden. A code leaves this set when its test exists (the test below then
#: fails until it is removed), and no other code may be added without its test.
NOT_YET_TESTED: set[str] = set()


def test_every_reason_code_is_named_by_a_test():
    texts = _test_texts()
    untested = {code: where for code, where in reason_codes().items() if not re.search(rf"\b{code}\b", texts)}
    assert untested.keys() - NOT_YET_TESTED == set(), untested
    assert NOT_YET_TESTED <= untested.keys(), "a listed code has its test now: take it off NOT_YET_TESTED"


def test_every_asset_check_is_named_by_a_test():
    texts = _test_texts()
    assert sorted(name for name in asset_check_names() if not re.search(rf"\b{name}\b", texts)) == []
