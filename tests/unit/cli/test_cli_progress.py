"""Long commands show progress when their output is piped: plain lines at an interval, not a
live display (which prints nothing off a terminal)."""

from __future__ import annotations

import io
import time

from rich.console import Console

from dvnet.pipelines import progress as progress_module
from dvnet.pipelines.cli import main
from dvnet.pipelines.progress import progress, stages


def _piped() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=False, width=200), out


def test_piped_output_gets_a_plain_line_every_interval(monkeypatch):
    monkeypatch.setattr(progress_module, "INTERVAL", 0.02)
    console, out = _piped()
    with progress(console, "ingest", total=4, unit="bundles") as tracker:
        tracker.advance(3)
        time.sleep(0.15)
    lines = out.getvalue().splitlines()
    assert len(lines) >= 2 and all(line.startswith("ingest, 3/4 bundles, ") and line.endswith(" s") for line in lines)


def test_a_stage_is_named_in_the_line(monkeypatch):
    monkeypatch.setattr(progress_module, "INTERVAL", 0.02)
    console, out = _piped()
    with stages(console, "contribute", ["read", "validate", "seal"]) as start:
        start("read")
        start("validate")
        time.sleep(0.1)
    assert "contribute: validate, 1/3 stages, " in out.getvalue()


def test_short_work_prints_nothing_extra():
    console, out = _piped()
    with progress(console, "publish") as tracker:
        tracker.stage("writing")
    assert out.getvalue() == ""


def test_on_a_terminal_the_bar_is_drawn_and_leaves_no_line_behind():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    with progress(console, "contribute", total=2) as tracker:
        tracker.advance()
        tracker.stage("seal")
    assert "contribute" not in out.getvalue().split("\x1b[?25h")[-1]  # transient: erased when done


def test_dvnet_synth_piped_prints_progress_lines(network_dir, capsys, monkeypatch):
    monkeypatch.setattr(progress_module, "INTERVAL", 0.01)
    assert main(["synth", "--network", str(network_dir), "--scale", "0.3"], {}) == 0
    err = capsys.readouterr().err
    assert "synthesising, " in err and " rows, " in err
