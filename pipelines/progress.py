"""Progress bars for long work (rich), silent when output is not a terminal unless asked."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn


@contextmanager
def stages(console: Console, title: str, names: Sequence[str]) -> Iterator[Callable[[str], None]]:
    """A bar over named stages; the yielded callable marks the start of a stage."""
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
        console=console, transient=True, disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task(title, total=len(names))
        seen: list[str] = []

        def advance(name: str) -> None:
            if seen:
                bar.advance(task)
            seen.append(name)
            bar.update(task, description=f"{title}: {name}")

        yield advance
        bar.update(task, completed=len(names))
