"""YAML read with libyaml's safe loader when PyYAML was built with it (about ten times faster than
the pure-Python one: a registry is parsed at every run's start), else the pure-Python safe loader.
Both build only plain types (mappings, lists, text, numbers, dates); neither constructs objects."""

from __future__ import annotations

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str):
    """The document in ``text``, as ``yaml.safe_load`` reads it."""
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader, chosen above
