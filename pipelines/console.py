"""One way to make a rich console: wide enough that piped output (grep, logs) is not wrapped."""

from __future__ import annotations

import shutil

from rich.console import Console


def make_console(stderr: bool = False) -> Console:
    probe = Console(stderr=stderr)
    width = None if probe.is_terminal else max(shutil.get_terminal_size((160, 24)).columns, 160)
    return Console(stderr=stderr, highlight=False, width=width)
