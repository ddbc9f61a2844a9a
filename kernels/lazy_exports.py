"""A package's public names imported on first use (PEP 562 module ``__getattr__``).

A command's ``--help`` imports the packages its options name (a profile list, the fault kinds);
with their public names resolved lazily it does not also import numpy, pandas, pandera or the
LP solvers that the work itself needs. The plain reference is the eager ``from … import``: each
name resolves to the same object (``tests/unit/kernels/test_kernels_lazy_exports.py``).

One subtlety the eager form hides: importing a submodule binds it on its package, so once
``….disclosure.audit`` (the module) is imported, ``disclosure.audit`` would be that module instead of
the function the eager ``from ….audit import audit`` leaves there. The package's module class
therefore binds the export, not the module, for a name that is both.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Mapping


class _LazyPackage(types.ModuleType):
    _lazy_where: Mapping[str, str]

    def __getattr__(self, name: str) -> object:
        where = self.__dict__["_lazy_where"]
        if name not in where:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{self.__name__}.{where[name]}"), name)
        self.__dict__[name] = value  # later lookups are plain attribute reads
        return value

    def __setattr__(self, name: str, value: object) -> None:
        where = self.__dict__.get("_lazy_where", {})
        if isinstance(value, types.ModuleType) and where.get(name) == name and value.__name__ == f"{self.__name__}.{name}":
            value = getattr(value, name)  # the submodule's own export, as the eager import leaves it
        super().__setattr__(name, value)


def lazy_exports(package: str, where: Mapping[str, str]) -> None:
    """Make ``package`` (called from its own ``__init__``) resolve each name in ``where`` (public
    name -> submodule) on first use."""
    module = sys.modules[package]
    module.__dict__["_lazy_where"] = dict(where)
    module.__class__ = _LazyPackage
