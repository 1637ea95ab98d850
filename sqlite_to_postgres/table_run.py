"""One table's run, owned in one place: lock the table, plan, run the plan, finish.

The lock comes first, so nothing reads the checkpoint or touches the table while another run may be
loading it. The plan (``plan.py``) is decided from what the checkpoint and the target say, logged as
one line, and the loader is built from it. The counts live in the run's summary, which every step
adds to, and in the checkpoint, which every step's transaction updates.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import psycopg2
import psycopg2.extensions

from .batches import SinceLast, changed_chunk_keys, prepared_batches, run_in_order, target_error
from .connections import source_fingerprint
from .digests import chunk_digits
from .errors import RejectThresholdExceeded
from .extract import check_source_table, read_ids, rowid_of, rowid_ranges, unmapped_data
from .keys import defer_keys, restore_keys
from .load import Batch, BatchResult, LoadMode, TableLoader, delete_missing, reject_orphans
from .lock import holding, load_locks
from .options import RunOptions
from .plan import Action, Plan, decide
from .progress import LogProgress, Progress
from .range_digests import RangeDigests
from .state import (
    Counts,
    finish_load,
    forget_range_digests,
    replace_range_digests,
    start_load,
    stored_range_digests,
)
from .summary import TableSummary
from .tables import TableSpec, get_table
from .workers import BatchPreparer, DigestTask

log = logging.getLogger(__name__)


def migrate_table(
    source: sqlite3.Connection,
    target: psycopg2.extensions.connection,
    table: str,
    options: RunOptions,
    *,
    preparer: BatchPreparer | None = None,
    progress: Progress | None = None,
    sound: Callable[[], None] | None = None,
) -> TableSummary:
    """Copy one table from SQLite into PostgreSQL as its plan says; ``preparer`` parses in worker processes.

    ``sound`` waits for the verdict of a check of the source file still running, and is called before
    the table's rows are first written to (it raises SourceError for a corrupt file).
    """
    started = time.monotonic()
    spec = get_table(table)
    check_source_table(source, spec)
    unmapped = unmapped_data(source, spec)
    for column, count in unmapped.items():
        log.warning("%s: column %s has data in %d rows but no target column; it is not loaded", table, column, count)
    fingerprint = source_fingerprint(_database_path(source))
    progress = progress or LogProgress()
    try:
        with holding(target, load_locks(table), options.lock_timeout, f"loading {table}"):
            plan = decide(source, target, spec, options, fingerprint)
            log.info("%s", plan.describe())
            summary = _TableRun(source, target, spec, plan, options, preparer, progress, sound).run()
    except psycopg2.Error as error:
        raise target_error(error, table, None) from None
    finally:
        progress.done(table)
    summary.unmapped = unmapped
    summary.seconds = time.monotonic() - started
    log.info(
        "%s: %d rows read, %d inserted, %d updated, %d unchanged, %d rejected in %.2f s",
        table,
        summary.rows_read,
        summary.inserted,
        summary.updated,
        summary.unchanged,
        summary.rejected,
        summary.seconds,
    )
    return summary


class _TableRun:
    """Runs one plan; every count goes through ``summary.add`` after its transaction committed it."""

    def __init__(
        self,
        source: sqlite3.Connection,
        target: psycopg2.extensions.connection,
        spec: TableSpec,
        plan: Plan,
        options: RunOptions,
        preparer: BatchPreparer | None,
        progress: Progress,
        sound: Callable[[], None] | None,
    ) -> None:
        self.source, self.target, self.spec, self.plan = source, target, spec, plan
        self.options, self.progress = options, progress
        self.sound = sound or _sound
        # One table of a single batch is not worth starting processes for.
        few_rows = plan.rows <= options.batch_size
        self.preparer = preparer if preparer is not None and not few_rows else BatchPreparer("", 0)
        self.rowid_of = partial(rowid_of, source, spec)
        resumed = plan.earlier.rows_read if plan.action is Action.RESUME else 0
        self.summary = TableSummary(spec.name, resumed_rows=resumed)

    def run(self) -> TableSummary:
        plan = self.plan
        if plan.action is Action.SKIP:
            earlier = plan.earlier
            self.summary.add(Counts(earlier.rows_read, unchanged=earlier.rows_read - earlier.rejected))
            self.summary.add(Counts(rejected=earlier.rejected))
            return self.summary
        for table in plan.rebuild_first:
            log.warning("%s: an earlier load stopped before rebuilding the table's keys; rebuilding them", table)
            self.progress.step(table, "rebuilding keys")
            other = get_table(table)
            restore_keys(self.target, other, partial(rowid_of, self.source, other))
            self.progress.done(table)
        if plan.action is Action.RESUME:
            log.info("%s: resuming after %d rows committed by an earlier run", self.spec.name, plan.earlier.rows_read)
            self.summary.add(plan.earlier)
        else:
            start_load(
                self.target, self.spec.name, plan.fingerprint, first_load=plan.direct, keep_range_digests=plan.since_last
            )
        if plan.drop_keys:
            self.sound()
        keys_dropped = plan.keys_dropped or (plan.drop_keys and defer_keys(self.target, self.spec))
        mode = LoadMode(plan.direct, plan.skip_link_triggers, self._restore_keys if keys_dropped else None)
        self._load(TableLoader(self.target, self.spec, mode))
        if not plan.direct:
            self._finish(keys_dropped, None)
            return self.summary
        # A first load's workers are idle while PostgreSQL checks links and rebuilds keys: they compute
        # the range digests the next re-run compares meanwhile, which the load itself would pay for.
        ranges = rowid_ranges(self.source, self.spec, self.options.batch_size)
        tasks = [DigestTask(self.spec.name, after, last) for after, last in ranges]
        if self.preparer.workers == 0:  # this thread's SQLite connection computes them
            ready = list(self.preparer.digest(self.source, iter(tasks)))
            self._finish(keys_dropped, lambda: ready)
            return self.summary
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"digests-{self.spec.name}") as pool:
            digests = pool.submit(lambda: list(self.preparer.digest(self.source, iter(tasks))))
            self._finish(keys_dropped, digests.result)
        return self.summary

    def _load(self, loader: TableLoader) -> None:
        plan, table, batch_size = self.plan, self.spec.name, self.options.batch_size
        digits = chunk_digits(plan.rows)
        changed: frozenset[str] | None = None
        if plan.compare_chunks:
            self.progress.step(table, "comparing chunks", plan.rows)
            changed = frozenset(changed_chunk_keys(self.source, self.target, self.spec, self.preparer, digits))
            # Even with none, the batches go on: they store the range digests the next re-run compares.
            log.info("%s: %d chunks of ids differ from the source", table, len(changed))
        since = SinceLast(stored_range_digests(self.target, table), plan.rejected_rowids) if plan.since_last else None
        self.progress.step(table, "loading", plan.rows)
        batches = prepared_batches(
            self.source, self.spec, self.preparer, batch_size, plan.after_rowid, changed, digits, since, not plan.direct
        )
        for number, result in run_in_order(table, (partial(self._written, loader, ready.batch) for ready in batches)):
            self.summary.add(result)
            self.progress.advance(table, result.rows_read)
            self._check_rejects(final=False, batch=number)

    def _written(self, loader: TableLoader, batch: Batch) -> BatchResult:
        """Load a batch once the source is known sound (a re-run's first batches may be ready before)."""
        self.sound()
        return loader.load(batch)

    def _finish(self, keys_dropped: bool, digests: Callable[[], list[RangeDigests]] | None) -> None:
        self.sound()
        plan, table = self.plan, self.spec.name
        # A first load that skipped the link triggers, or a resumed one that may have, checks links now.
        if plan.skip_link_triggers or (plan.action is Action.RESUME and self.spec.foreign_keys):
            self.progress.step(table, "checking links")
            self.summary.add(Counts.moved_to_rejects(reject_orphans(self.target, self.spec, self.rowid_of)))
        if keys_dropped:
            self._restore_keys()
        self._check_rejects(final=True)
        if self.options.delete_missing:
            ids = read_ids(self.source, self.spec, self.options.batch_size)
            self.summary.deleted = delete_missing(self.target, self.spec, ids, self.options.batch_size)
            if self.summary.deleted:
                log.warning("%s: deleted %d rows the source no longer has", table, self.summary.deleted)
        if digests is not None:
            replace_range_digests(self.target, table, [(d.after_rowid, d.last_rowid, d.digests) for d in digests()])
        if source_fingerprint(_database_path(self.source)) != plan.fingerprint:
            # Written to while this run read it: the digests may describe rows other than those loaded.
            log.warning("%s: the source file changed during the run; the next re-run compares both sides", table)
            forget_range_digests(self.target, table)
        finish_load(self.target, self.spec)

    def _restore_keys(self) -> None:
        """Rebuild the table's keys; rows repeating a unique key move to the rejects."""
        self.progress.step(self.spec.name, "rebuilding keys")
        self.summary.add(Counts.moved_to_rejects(restore_keys(self.target, self.spec, self.rowid_of)))

    def _check_rejects(self, *, final: bool, batch: int | None = None) -> None:
        summary = self.summary
        if breach := self.options.reject_breach(summary.rejected, summary.rows_read, final=final):
            raise RejectThresholdExceeded(f"{breach}; see migration.rejects", table=self.spec.name, batch=batch)


def _sound() -> None:
    """The source was checked before this table's run began."""


def _database_path(source: sqlite3.Connection) -> Path:
    """The file behind a SQLite connection."""
    return Path(source.execute("PRAGMA database_list").fetchone()[2])
