"""Progress of long work: a live bar on a terminal, periodic plain lines when output is piped.

One mechanism for every long command (``demo``, ``ingest``, ``publish``, ``contribute``, ``synth``).
On a terminal, rich draws a transient bar. Piped (``make demo | tee log``, CI, a scheduler), a live
display prints nothing at all, so a background thread prints one plain line every ``INTERVAL``
seconds instead — what is running, how far, for how long — and nothing for work that ends sooner.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

INTERVAL = 15.0  # seconds between plain lines when output is not a terminal


class Tracker:
    """What a long piece of work reports: the stage it is in and how many units are done."""

    def __init__(self, title: str, total: int | None, unit: str):
        self.title, self.total, self.unit = title, total, unit
        self.done = 0
        self.current = ""
        self.started = time.monotonic()
        self.changed: Callable[[], None] = lambda: None

    def stage(self, name: str) -> None:
        self.current = name
        self.changed()

    def advance(self, n: int = 1) -> None:
        self.done += n
        self.changed()

    def label(self) -> str:
        return f"{self.title}: {self.current}" if self.current else self.title

    def line(self) -> str:
        """One plain line, e.g. ``ingest: 12/52 bundles, 45 s``."""
        parts = [self.label()]
        if self.total:
            parts.append(f"{self.done:,}/{self.total:,}" + (f" {self.unit}" if self.unit else ""))
        parts.append(f"{time.monotonic() - self.started:.0f} s")
        return ", ".join(parts)


@contextmanager
def progress(console: Console, title: str, *, total: int | None = None, unit: str = "") -> Iterator[Tracker]:
    """Track long work shown on ``console``: a bar on a terminal, a line every ``INTERVAL`` s otherwise."""
    tracker = Tracker(title, total, unit)
    if console.is_terminal:
        counted = [BarColumn(), MofNCompleteColumn()] if total else []
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), *counted, TimeElapsedColumn(), console=console, transient=True) as bar:
            task = bar.add_task(title, total=total)
            tracker.changed = lambda: bar.update(task, completed=tracker.done, description=tracker.label())
            yield tracker
        return
    stop = threading.Event()
    interval = INTERVAL  # read now, so a test can shorten it

    def beat() -> None:
        while not stop.wait(interval):
            console.print(tracker.line(), highlight=False, soft_wrap=True)

    thread = threading.Thread(target=beat, name="dvnet-progress", daemon=True)
    thread.start()
    try:
        yield tracker
    finally:
        stop.set()
        thread.join()


@contextmanager
def stages(console: Console, title: str, names: Sequence[str]) -> Iterator[Callable[[str], None]]:
    """Progress over named stages; the yielded callable marks the start of a stage."""
    with progress(console, title, total=len(names), unit="stages") as tracker:
        seen: list[str] = []

        def start(name: str) -> None:
            if seen:
                tracker.advance()
            seen.append(name)
            tracker.stage(name)

        yield start
        tracker.done = len(names)
