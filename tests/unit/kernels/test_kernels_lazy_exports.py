"""kernels.lazy_exports against its plain reference, the eager import: every public name of a lazy
package resolves to the very object its submodule defines, an unknown name is an AttributeError,
and importing the package alone does not import the submodules."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest



@pytest.mark.parametrize("package", ["dvnet.anonymize.disclosure", "dvnet.pipelines.synth"])
def test_every_public_name_is_the_submodules_own_object(package):
    module = importlib.import_module(package)
    for name in module.__all__:
        value = getattr(module, name)
        defining = [m for m in list(sys.modules.values()) if m is not None and getattr(m, "__name__", "").startswith(package + ".")
                    and name in vars(m) and vars(m)[name] is value]  # fmt: skip
        assert defining, f"{package}.{name} is not any submodule's own object"
    with pytest.raises(AttributeError):
        module.no_such_name  # noqa: B018


def test_importing_the_package_alone_imports_no_submodule():
    code = (
        "import sys\n"
        "import dvnet.anonymize.disclosure, dvnet.pipelines.synth\n"
        "print(sorted(m for m in sys.modules if m.startswith(('dvnet.anonymize.disclosure.protect', 'dvnet.pipelines.synth.generate'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
