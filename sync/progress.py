"""A progress display for long runs on a terminal; nothing at all in a pipe or under cron."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn


class RunProgress(Protocol):
    def pulled(self, done: int, total: int | None) -> None: ...

    def pushed(self, done: int, total: int) -> None: ...


class NoProgress:
    def pulled(self, done: int, total: int | None) -> None:
        pass

    def pushed(self, done: int, total: int) -> None:
        pass


class _Bars:
    def __init__(self, display: Progress) -> None:
        self._display = display
        self._pull: TaskID = display.add_task("contacts pulled", total=None)
        self._push: TaskID = display.add_task("writes pushed", total=None, visible=False)

    def pulled(self, done: int, total: int | None) -> None:
        self._display.update(self._pull, completed=done, total=total)

    def pushed(self, done: int, total: int) -> None:
        self._display.update(self._push, completed=done, total=total, visible=True)


@contextmanager
def terminal_progress(console: Console | None = None) -> Iterator[RunProgress]:
    """Bars on stderr; log lines written to stdout meanwhile are printed above them."""
    display = Progress(
        TextColumn("{task.description:<16}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console or Console(stderr=True),
        redirect_stdout=True,
    )
    with display:
        yield _Bars(display)
