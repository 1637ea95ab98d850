"""Typed errors: each names what failed so the CLI and operators can print one clear line."""

from __future__ import annotations

from typing import Any


class MigrationError(Exception):
    """Base of every error the migration reports to its user."""

    def __init__(self, message: str, *, table: str | None = None, batch: int | None = None) -> None:
        self.table = table
        self.batch = batch
        where = []
        if table is not None:
            where.append(f"table {table}")
        if batch is not None:
            where.append(f"batch {batch}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)

    def __reduce__(self) -> tuple[Any, ...]:
        # Raised in a worker process, it crosses back pickled: keep where it happened, not just the text.
        return _restore, (type(self), str(self), self.table, self.batch)


def _restore(kind: type[MigrationError], text: str, table: str | None, batch: int | None) -> MigrationError:
    error = kind.__new__(kind)
    Exception.__init__(error, text)
    error.table, error.batch = table, batch
    return error


class SourceError(MigrationError):
    """The SQLite source cannot be opened or read."""


class TargetError(MigrationError):
    """PostgreSQL cannot be reached or refused a write."""


class RejectThresholdExceeded(MigrationError):
    """More rows were rejected than the configured threshold allows."""


class ConsistencyError(MigrationError):
    """PostgreSQL does not hold what SQLite holds."""


def first_line(error: BaseException) -> str:
    """The first line of an error's message, or its type's name when it has none: for one-line reports.

    Drivers' messages run on with detail and hint lines; the first line says what went wrong.
    """
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
