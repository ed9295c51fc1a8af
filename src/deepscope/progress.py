"""Progress reporting that experiments can use without knowing who displays it.

Measurement code calls :func:`track` around long loops. By default nothing is shown; the CLI
installs a rich progress display (with ETA) for the duration of a command through
:func:`use_reporter`. This keeps instruments free of terminal I/O.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterable, Iterator
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Reporter(Protocol):
    def add_task(self, description: str, total: float | None) -> Any: ...

    def advance(self, task: Any, amount: float = 1.0) -> None: ...

    def finish(self, task: Any) -> None: ...


_current: contextvars.ContextVar[Reporter | None] = contextvars.ContextVar(
    "deepscope_reporter", default=None
)


def track(iterable: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Yield from ``iterable`` and report progress to the active reporter, if any."""
    reporter = _current.get()
    if reporter is None:
        yield from iterable
        return
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    task = reporter.add_task(description, total)
    try:
        for item in iterable:
            yield item
            reporter.advance(task)
    finally:
        reporter.finish(task)


@contextlib.contextmanager
def use_reporter(reporter: Reporter | None) -> Iterator[None]:
    token = _current.set(reporter)
    try:
        yield
    finally:
        _current.reset(token)


class RichReporter:
    """Progress bars with elapsed time and ETA on stderr, shown only on a terminal."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        console = Console(stderr=True)
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        )

    def __enter__(self) -> RichReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def add_task(self, description: str, total: float | None) -> Any:
        return self.progress.add_task(description, total=total)

    def advance(self, task: Any, amount: float = 1.0) -> None:
        self.progress.advance(task, amount)

    def finish(self, task: Any) -> None:
        self.progress.remove_task(task)
