"""Maps the repository's top-level folders to one import namespace, ``dvnet``.

``dvnet.contracts`` is ``contracts/``, ``dvnet.assets`` is ``assets/``, and so on; subpackages
follow their folders. ``dvnet.dagster_home`` ships the Dagster instance template (``dagster.yaml``)
so a normal, non-editable install finds it. Everything else is in ``pyproject.toml``.
"""

from setuptools import find_packages, setup

#: Folders whose Python packages are installed, lowest layer first (docs/architecture.md).
CODE_FOLDERS = ("kernels", "contracts", "common", "anonymize", "bundle", "assets", "pipelines")
#: Folders installed for their data files only.
DATA_FOLDERS = ("dagster_home",)


def _packages() -> tuple[list[str], dict[str, str]]:
    packages: list[str] = []
    package_dir: dict[str, str] = {}
    for folder in CODE_FOLDERS + DATA_FOLDERS:
        package_dir[f"dvnet.{folder}"] = folder
        packages.append(f"dvnet.{folder}")
        packages += [f"dvnet.{folder}.{sub}" for sub in find_packages(folder)]
    return packages, package_dir


packages, package_dir = _packages()
setup(packages=packages, package_dir=package_dir)
