"""A whole run: the source checked, the schema applied, then each table's run in foreign-key order."""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace

import psycopg2.extensions

from .batches import TransientTargetError
from .connections import open_source, open_target
from .errors import TargetError
from .options import RunOptions
from .progress import LogProgress, Progress
from .schema import apply_schema
from .summary import TableSummary
from .table_run import migrate_table
from .tables import get_table
from .workers import BatchPreparer

log = logging.getLogger(__name__)


def migrate(
    sqlite_path: str | os.PathLike[str],
    dsn: str,
    options: RunOptions | None = None,
    *,
    apply_ddl: bool = True,
    check_file: bool = True,
    progress: Progress | None = None,
) -> list[TableSummary]:
    """Migrate the options' tables in foreign-key order, reconnecting after a dropped connection.

    ``apply_ddl`` applies the target schema first; ``check_file`` reads every page of the tables for
    corruption, in the worker processes side by side, while the run connects and plans: no table is
    written to before the verdict (a caller that checked the file already may skip that).
    """
    options = options or RunOptions()
    progress = progress or LogProgress()
    summaries = []
    with ExitStack() as stack:
        source = stack.enter_context(open_source(sqlite_path))
        preparer = stack.enter_context(BatchPreparer(sqlite_path, options.worker_count))
        sound = _no_check
        if check_file:
            progress.step("source", "checking the source")
            # Each table's pages are read by a worker, the tables side by side.
            sound = _reported(preparer.check_soundness(source, [get_table(name) for name in options.tables]), progress)
        target = stack.enter_context(open_target(dsn))
        if apply_ddl:
            apply_schema(target, lock_timeout=options.lock_timeout)
        for table in options.tables:
            started = time.monotonic()
            summary, target = _with_retries(stack, source, target, dsn, table, options, preparer, progress, sound)
            summaries.append(replace(summary, seconds=time.monotonic() - started))
        sound()  # every table skipped: the verdict is still given
    return summaries


def _no_check() -> None:
    """No verdict to wait for: the caller checked the file."""


def _reported(verdict: Callable[[], None], progress: Progress) -> Callable[[], None]:
    """``verdict``, with the progress display's line for the check ended when it is given."""

    def sound() -> None:
        try:
            verdict()
        finally:
            progress.done("source")

    return sound


def _with_retries(
    stack: ExitStack,
    source: sqlite3.Connection,
    target: psycopg2.extensions.connection,
    dsn: str,
    table: str,
    options: RunOptions,
    preparer: BatchPreparer,
    progress: Progress,
    sound: Callable[[], None],
) -> tuple[TableSummary, psycopg2.extensions.connection]:
    """One table's run, run again on a new connection, with backoff, while the connection keeps dropping.

    A retry resumes from the checkpoint: a full refresh already under way is not started over.
    """
    attempt_options = options
    for attempt in range(options.retries + 1):
        try:
            if target.closed:
                target = stack.enter_context(open_target(dsn))
            summary = migrate_table(
                source, target, table, attempt_options, preparer=preparer, progress=progress, sound=sound
            )
            return summary, target
        except TargetError as error:
            # A dropped connection, or none to be had while the server restarts, may come back.
            if not (isinstance(error, TransientTargetError) or target.closed):
                raise
            if attempt == options.retries:
                raise TargetError(f"{error}; gave up after {options.retries} retries") from None
            delay = min(2.0**attempt, 30.0)
            log.warning("%s; reconnecting in %.0f s (retry %d of %d)", error, delay, attempt + 1, options.retries)
            time.sleep(delay)
            target.close()
            attempt_options = replace(options, full_refresh=False)
    raise AssertionError("the last attempt returns or raises")
