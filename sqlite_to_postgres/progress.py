"""Progress of a run, for people watching it (placeholder of the interface; HELPER 13 ships the real one)."""

from __future__ import annotations

import logging
import time
from typing import Protocol

log = logging.getLogger(__name__)

PROGRESS_EVERY_SECONDS = 5.0


class Progress(Protocol):
    def step(self, table: str, step: str, total: int | None = None) -> None: ...

    def advance(self, table: str, rows: int) -> None: ...

    def done(self, table: str) -> None: ...


class LogProgress:
    """One log line every few seconds while a table loads."""

    def __init__(self) -> None:
        self._started: dict[str, float] = {}
        self._reported: dict[str, float] = {}
        self._done: dict[str, int] = {}
        self._total: dict[str, int | None] = {}
        self._step: dict[str, str] = {}

    def step(self, table: str, step: str, total: int | None = None) -> None:
        now = time.monotonic()
        self._started[table] = self._reported[table] = now
        self._done[table] = 0
        self._total[table] = total
        self._step[table] = step
        log.debug("%s: %s", table, step)

    def advance(self, table: str, rows: int) -> None:
        self._done[table] = self._done.get(table, 0) + rows
        now = time.monotonic()
        if self._step.get(table) == "loading" and now - self._reported.get(table, now) >= PROGRESS_EVERY_SECONDS:
            self._reported[table] = now
            done, total = self._done[table], self._total.get(table) or 0
            log.info(
                "%s: %d/%d rows (%.0f%%), %.0f rows/s",
                table,
                done,
                total,
                100 * done / max(total, 1),
                done / max(now - self._started[table], 1e-9),
            )

    def done(self, table: str) -> None:
        self._step.pop(table, None)
