"""Option types shared by the commands: each checks its value where click parses it, so a bad
value is a one-line usage error (exit 2) before the command does anything."""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path

import click

from dvnet.contracts.errors import DvnetError
from dvnet.contracts.periods import Period


class FiniteFloatRange(click.FloatRange):
    """``click.FloatRange`` that also refuses NaN and infinities (a NaN passes every comparison)."""

    def convert(self, value, param, ctx):
        rv = super().convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return rv


class QuarterType(click.ParamType):
    """A calendar quarter, e.g. 2026-Q3 (the rule is ``contracts.periods.Period.parse``)."""

    name = "quarter"

    def convert(self, value, param, ctx):
        try:
            return str(Period.parse(value))
        except DvnetError as e:
            self.fail(e.message, param, ctx)


QUARTER = QuarterType()


class InputFileType(click.Path):
    """An existing regular file to read (a public file, a receipt, a log). A FIFO or a device
    would block the read, or never end it: refused here, before the command opens it."""

    def __init__(self) -> None:
        super().__init__(path_type=Path, dir_okay=False, exists=True)

    def convert(self, value, param, ctx):
        path = super().convert(value, param, ctx)
        if not stat.S_ISREG(os.stat(path).st_mode):
            self.fail(f"{click.format_filename(path)!r} is not a regular file", param, ctx)
        return path


INPUT_FILE = InputFileType()
