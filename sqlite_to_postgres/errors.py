"""Typed errors: each names what failed so the CLI and operators can print one clear line."""

from __future__ import annotations


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


class SourceError(MigrationError):
    """The SQLite source cannot be opened or read."""


class TargetError(MigrationError):
    """PostgreSQL cannot be reached or refused a write."""


class RejectThresholdExceeded(MigrationError):
    """More rows were rejected than the configured threshold allows."""


class ConsistencyError(MigrationError):
    """PostgreSQL does not hold what SQLite holds."""
