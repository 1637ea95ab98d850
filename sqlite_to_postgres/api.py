"""What the command line and the Airflow operators call: each function opens what it needs once and does one job.

>>> from sqlite_to_postgres import api
>>> api.prepare("db.sqlite", dsn)  # doctest: +SKIP
>>> summaries = api.migrate("db.sqlite", dsn, api.RunOptions(tables=("genre",)))  # doctest: +SKIP
>>> report = api.check("db.sqlite", dsn)  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import replace

from .connections import open_source, open_target
from .extract import check_source
from .lock import check_locks, holding
from .options import DEFAULT_LOCK_TIMEOUT, RunOptions, selected_tables
from .pipeline import migrate
from .progress import Progress
from .schema import apply_schema
from .summary import TableSummary, format_summaries
from .tables import get_table
from .verify import DEFAULT_BATCH_SIZE as CHECK_BATCH_SIZE
from .verify import ConsistencyReport, check_consistency

__all__ = [
    "CHECK_BATCH_SIZE",
    "ConsistencyReport",
    "RunOptions",
    "TableSummary",
    "check",
    "format_summaries",
    "migrate",
    "migrate_table",
    "prepare",
    "selected_tables",
]


def prepare(
    sqlite_path: str | os.PathLike[str],
    dsn: str,
    tables: Iterable[str] | None = None,
    *,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> None:
    """Check the source (sound SQLite, every table and column to be read), then apply the target schema."""
    with open_source(sqlite_path) as source:
        check_source(source, [get_table(name) for name in selected_tables(tables)])
    with open_target(dsn) as target:
        apply_schema(target, lock_timeout=lock_timeout)


def migrate_table(
    sqlite_path: str | os.PathLike[str],
    dsn: str,
    table: str,
    options: RunOptions,
    *,
    progress: Progress | None = None,
) -> TableSummary:
    """One table's run, for a task of its own: the file was checked and the schema applied by ``prepare``."""
    run = replace(options, tables=(table,))
    return migrate(sqlite_path, dsn, run, apply_ddl=False, check_file=False, progress=progress)[0]


def check(
    sqlite_path: str | os.PathLike[str],
    dsn: str,
    tables: Iterable[str] | None = None,
    *,
    full: bool = False,
    fast: bool = True,
    batch_size: int = CHECK_BATCH_SIZE,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> ConsistencyReport:
    """Compare both sides, once no run is loading the tables (waiting up to ``lock_timeout``).

    Chunk digests first, then row by row the chunks that differ; ``full`` compares every row instead.
    ``fast`` is the default's old name (``check_consistency``).
    """
    names = selected_tables(tables)
    with (
        open_source(sqlite_path) as source,
        open_target(dsn) as target,
        holding(target, check_locks(names), lock_timeout, "checking"),
    ):
        return check_consistency(source, target, list(names), batch_size=batch_size, full=full, fast=fast)
