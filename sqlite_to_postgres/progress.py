"""How a run reports its progress: plain log lines (task logs, CI, a pipe), or live lines on a terminal.

The pipeline calls three methods and knows nothing of either display::

    progress.step("film_work", "loading", total=to_read)
    progress.advance("film_work", len(batch))
    progress.done("film_work")

Steps are "checking the source" (table "source"), "loading", "rebuilding keys" and "checking links".
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, TextIO

from rich.console import Console
from rich.progress import BarColumn, ProgressColumn, Task, TaskID, TextColumn
from rich.progress import Progress as RichProgress
from rich.progress_bar import ProgressBar
from rich.text import Text

log = logging.getLogger(__name__)

LOADING = "loading"
# One line per table this often while it loads, as the CLI and the task logs have always printed.
PROGRESS_EVERY_SECONDS = 5.0


class Progress(Protocol):
    """Where a run says what it is doing."""

    def step(self, table: str, step: str, total: int | None = None) -> None:
        """``table`` enters ``step``; ``total`` is the rows the step will do, when known."""

    def advance(self, table: str, rows: int) -> None:
        """``rows`` more rows done in the table's current step."""

    def done(self, table: str) -> None:
        """The table finished, or failed."""


@dataclass(slots=True)
class _Step:
    name: str
    total: int | None
    started: float
    last_report: float
    rows: int = 0


class LogProgress:
    """Log lines: while a table loads, its rows done, share and rate every ``every_seconds``; other steps at
    debug level. ``clock`` is there for tests."""

    def __init__(
        self, every_seconds: float = PROGRESS_EVERY_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._every_seconds = every_seconds
        self._clock = clock
        self._steps: dict[str, _Step] = {}

    def step(self, table: str, step: str, total: int | None = None) -> None:
        now = self._clock()
        self._steps[table] = _Step(step, total, started=now, last_report=now)
        log.debug("%s: %s", table, step)

    def advance(self, table: str, rows: int) -> None:
        current = self._steps.get(table)
        if current is None:
            return
        current.rows += rows
        now = self._clock()
        if current.name != LOADING or now - current.last_report < self._every_seconds:
            return
        current.last_report = now
        total = current.total or 0
        log.info(
            "%s: %d/%d rows (%.0f%%), %.0f rows/s",
            table,
            current.rows,
            total,
            100 * current.rows / max(total, 1),
            current.rows / (now - current.started),
        )

    def done(self, table: str) -> None:
        self._steps.pop(table, None)


def _counted(task: Task) -> bool:
    """Whether the task's current step counts rows towards a total (rich cannot set a total back to None)."""
    return bool(task.fields.get("counted"))


class _Rows(ProgressColumn):
    """Rows done of the step's total, with thousands separators."""

    def render(self, task: Task) -> Text:
        if not _counted(task):
            return Text("")
        return Text(f"{task.completed:,.0f}/{task.total:,.0f}", style="progress.download")


class _RowsPerSecond(ProgressColumn):
    """Rows per second over the last few seconds; once the step ended, its final rate."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if speed is None and task.completed and task.elapsed:
            # rich needs two updates for a rate; a table of one batch has one.
            speed = task.completed / task.elapsed
        if not _counted(task) or speed is None:
            return Text("")
        return Text(f"{speed:,.0f} rows/s", style="progress.data.speed")


class _TimeRemaining(ProgressColumn):
    """ETA of the step, while it is running and its total is known."""

    def render(self, task: Task) -> Text:
        remaining = task.time_remaining
        if not _counted(task) or task.finished or remaining is None:
            return Text("")
        minutes, seconds = divmod(round(remaining), 60)
        return Text(f"ETA {minutes}:{seconds:02d}", style="progress.remaining")


class _Bar(BarColumn):
    """The share done of the rows; a pulse while a step before any rows runs, full once it ended."""

    def render(self, task: Task) -> ProgressBar:
        if _counted(task):
            return super().render(task)
        ended = task.stop_time is not None
        return ProgressBar(
            total=None if not ended else 1,
            completed=1 if ended else 0,
            width=None if self.bar_width is None else max(1, self.bar_width),
            pulse=not ended,
            animation_time=task.get_time(),
            style=self.style,
            complete_style=self.complete_style,
            finished_style=self.finished_style,
            pulse_style=self.pulse_style,
        )


class TerminalProgress:
    """One live line per table (rows done of total, rows/s, ETA, the current step), drawn by rich.

    Use it through ``progress_for``, which also sends log records through the same console so that
    they print above the live lines instead of tearing them.
    """

    def __init__(self, console: Console) -> None:
        self._display = RichProgress(
            TextColumn("{task.description}"),
            TextColumn("{task.fields[step]}", style="cyan"),
            _Rows(),
            _RowsPerSecond(),
            _TimeRemaining(),
            # What width is left over, so that a line fits an 80-column terminal.
            _Bar(bar_width=None),
            console=console,
            expand=True,
            # Rows per second over the last few seconds, not since the start of the table.
            speed_estimate_period=10.0,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> TerminalProgress:
        self._display.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._display.stop()

    def step(self, table: str, step: str, total: int | None = None) -> None:
        counted = total is not None
        task = self._tasks.get(table)
        if task is None:
            self._tasks[table] = self._display.add_task(table, total=total, step=step, counted=counted)
        elif counted:
            # A counted step counts its own rows from zero, and its rate and ETA with them.
            self._display.reset(task, total=total, step=step, counted=True)
        else:
            # An uncounted step (keys, links) leaves the rows loaded on show.
            self._display.update(task, step=step)

    def advance(self, table: str, rows: int) -> None:
        if (task := self._tasks.get(table)) is not None:
            self._display.advance(task, rows)

    def done(self, table: str) -> None:
        task = self._tasks.get(table)
        if task is None:
            return
        state = next(state for state in self._display.tasks if state.id == task)
        if not _counted(state) or state.finished:
            self._display.update(task, step="done")
        # A load stopped short (a failure) keeps its step and counts, to show where it stopped.
        self._display.stop_task(task)


class _ConsoleHandler(logging.Handler):
    """Prints records through the live display's console, formatted as the handler it stands in for."""

    def __init__(self, console: Console, replaced: logging.Handler) -> None:
        super().__init__(replaced.level)
        self.console = console
        self.setFormatter(replaced.formatter)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.console.print(self.format(record), markup=False, highlight=False, soft_wrap=True)
        except Exception:  # as logging.StreamHandler does: a broken display must not end the run
            self.handleError(record)


@contextlib.contextmanager
def _logging_through(console: Console, stream: TextIO) -> Iterator[None]:
    """Root handlers writing to ``stream`` hand their records to ``console`` meanwhile, then come back."""
    root = logging.getLogger()
    replaced = [
        handler
        for handler in root.handlers
        if isinstance(handler, logging.StreamHandler) and handler.stream is stream
    ]
    standins = [_ConsoleHandler(console, handler) for handler in replaced]
    for handler, standin in zip(replaced, standins, strict=True):
        root.removeHandler(handler)
        root.addHandler(standin)
    try:
        yield
    finally:
        for handler, standin in zip(replaced, standins, strict=True):
            root.removeHandler(standin)
            root.addHandler(handler)


@contextlib.contextmanager
def progress_for(stream: TextIO) -> Iterator[Progress]:
    """Live lines on ``stream`` when it is a terminal, else log lines as ever.

    On a terminal, log records that would go to ``stream`` are printed above the live lines for the
    duration; the lines stay on screen, each table's last state, when the block ends.
    """
    if not stream.isatty():
        yield LogProgress()
        return
    console = Console(file=stream)
    with TerminalProgress(console) as progress, _logging_through(console, stream):
        yield progress
