"""The pipeline: extract -> transform -> load for one table, and a whole run over all of them."""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, replace
from functools import partial
from itertools import islice
from typing import TypeVar

import psycopg2
import psycopg2.extensions
from psycopg2 import sql

from .connections import open_source, open_target, source_fingerprint
from .errors import MigrationError, RejectThresholdExceeded, TargetError
from .extract import (
    check_source,
    check_source_table,
    count_rows,
    duplicate_ids,
    max_rowid,
    read_ids,
    read_rows,
    rowid_of,
    rowid_ranges,
    unique_as_written,
    unmapped_data,
)
from .fingerprint import changed_chunks, chunk_digits, source_summary, target_summary
from .keys import defer_keys, keys_deferred, restore_keys
from .load import (
    CHECKPOINT,
    REJECTS,
    BatchResult,
    TableLoader,
    copy_text,
    reject_orphans,
    save_progress,
    transaction,
)
from .progress import LogProgress, Progress
from .schema import apply_schema
from .summary import TableSummary
from .tables import TABLE_NAMES, TableSpec, get_table
from .transform import InvalidValue, parse_uuid
from .workers import BatchPreparer, BatchTask, PreparedBatch, default_workers

log = logging.getLogger(__name__)

# Measured at scale 100 (docs/BENCHMARKS.md): 2,000 rows take 5% longer than 5,000 or 10,000 but keep
# peak RSS at 41 MiB against 52 and 70, the same as on the 13,205-row real catalog.
DEFAULT_BATCH_SIZE = 2_000

T = TypeVar("T")


class TransientTargetError(TargetError):
    """The connection to PostgreSQL dropped; the batch was not committed and may be retried."""


@dataclass(slots=True, frozen=True)
class RejectLimit:
    """How many rejected rows fail a table: an absolute count, a fraction of rows read, or both."""

    max_rows: int | None = None
    max_fraction: float | None = 0.01

    def __post_init__(self) -> None:
        if self.max_rows is not None and self.max_rows < 0:
            raise MigrationError(f"the reject limit must be 0 or more rows, not {self.max_rows}")
        if self.max_fraction is not None and not 0 <= self.max_fraction <= 1:
            raise MigrationError(f"the reject fraction must be between 0 and 1, not {self.max_fraction}")

    def breach(self, rejected: int, rows_read: int, *, final: bool) -> str | None:
        """Why ``rejected`` of ``rows_read`` rows fail the table, or None while within the limit."""
        if self.max_rows is not None and rejected > self.max_rows:
            return f"{rejected} rows rejected, more than the limit of {self.max_rows}"
        # A fraction means little on the first few rows, so it is judged on the whole table.
        if final and self.max_fraction is not None and rows_read and rejected / rows_read > self.max_fraction:
            return f"{rejected} of {rows_read} rows rejected, more than the limit of {self.max_fraction:.1%}"
        return None


def batched(items: Iterator[T], size: int) -> Iterator[list[T]]:
    """Lists of ``size`` items (the last one shorter) pulled lazily from ``items``."""
    while batch := list(islice(items, size)):
        yield batch


def run_in_order(table: str, jobs: Iterator[Callable[[], BatchResult]]) -> Iterator[tuple[int, BatchResult]]:
    """Run batch jobs one at a time in a worker thread while the next is prepared; yield (number, result).

    psycopg2 releases the GIL while PostgreSQL works, so preparing batch n+1 overlaps loading batch n:
    on two cores the run takes about the longer of the two instead of their sum. At most two batches
    are in memory. All database work happens in the worker, one batch after the other.
    """

    def outcome(number: int, pending: Future[BatchResult]) -> tuple[int, BatchResult]:
        try:
            return number, pending.result()
        except psycopg2.Error as error:
            raise _target_error(error, table, number) from error

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"load-{table}") as pool:
        pending: Future[BatchResult] | None = None
        number = 0
        for job in jobs:
            if pending is not None:
                yield outcome(number, pending)
            number += 1
            pending = pool.submit(job)
        if pending is not None:
            yield outcome(number, pending)


def _changed_chunks(
    source: sqlite3.Connection,
    target: psycopg2.extensions.connection,
    spec: TableSpec,
    batch_size: int,
    digits: int,
) -> set[str]:
    """Chunks of ids whose rows differ between the two sides; PostgreSQL sums its side meanwhile."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"summary-{spec.name}") as pool:
        target_side = pool.submit(target_summary, target, spec, digits)
        source_side = source_summary(read_rows(source, spec, batch_size), digits)
        return changed_chunks(source_side, target_side.result())


def _advance(target: psycopg2.extensions.connection, table: str, change: BatchResult) -> None:
    """Add counts to the table's checkpoint outside a batch, in a transaction of their own."""
    with transaction(target), target.cursor() as cursor:
        save_progress(cursor, table, change)


def _database_path(source: sqlite3.Connection) -> str:
    return str(source.execute("PRAGMA database_list").fetchone()[2])


def _start(
    target: psycopg2.extensions.connection, table: str, fingerprint: str, full_refresh: bool
) -> tuple[TableSummary, int]:
    """Resume an interrupted load of the same source, or reset the table's checkpoint and rejects."""
    with target.cursor() as cursor:
        cursor.execute(
            sql.SQL(
                "SELECT last_rowid, rows_read, inserted, updated, unchanged, rejected FROM {} "
                "WHERE table_name = %s AND source_fingerprint = %s AND NOT finished FOR UPDATE"
            ).format(CHECKPOINT),
            (table, fingerprint),
        )
        row = cursor.fetchone()
        if row is not None and not full_refresh and row[0] > 0:
            target.commit()
            last_rowid, read, inserted, updated, unchanged, rejected = row
            return TableSummary(
                table, read, inserted, updated, unchanged, rejected, resumed_rows=read
            ), last_rowid
        cursor.execute(sql.SQL("DELETE FROM {} WHERE table_name = %s").format(REJECTS), (table,))
        cursor.execute(
            sql.SQL(
                "INSERT INTO {} (table_name, source_fingerprint, last_rowid) VALUES (%s, %s, 0) "
                "ON CONFLICT (table_name) DO UPDATE SET source_fingerprint = EXCLUDED.source_fingerprint, "
                "last_rowid = 0, finished = false, rows_read = 0, inserted = 0, updated = 0, unchanged = 0, "
                "rejected = 0, updated_at = now()"
            ).format(CHECKPOINT),
            (table, fingerprint),
        )
    target.commit()
    return TableSummary(table), 0


def _is_empty(target: psycopg2.extensions.connection, spec: TableSpec) -> bool:
    with target.cursor() as cursor:
        cursor.execute(
            sql.SQL("SELECT NOT EXISTS (SELECT FROM {})").format(
                sql.Identifier(spec.target_schema, spec.name)
            )
        )
        empty = bool(cursor.fetchone()[0])
    target.commit()
    return empty


def _finish(target: psycopg2.extensions.connection, spec: TableSpec) -> None:
    """Mark the table's load finished, with the transaction horizon after all its writes and its row count."""
    with transaction(target), target.cursor() as cursor:
        cursor.execute(
            sql.SQL(
                # The oldest transaction still running, not our own: one that began before this point and
                # commits after it must still count as a later write.
                "UPDATE {checkpoint} SET finished = true, "
                "finished_xid = txid_snapshot_xmin(txid_current_snapshot()) %% 4294967296, "
                "target_rows = (SELECT count(*) FROM {target}), updated_at = now() WHERE table_name = %s"
            ).format(checkpoint=CHECKPOINT, target=sql.Identifier(spec.target_schema, spec.name)),
            (spec.name,),
        )


def _untouched_since_last_run(
    target: psycopg2.extensions.connection, spec: TableSpec, fingerprint: str
) -> TableSummary | None:
    """The last finished load's counts when neither side changed since it; None otherwise.

    The source is unchanged when its fingerprint is; the target when it has as many rows as that load
    left and none written by a transaction still running when it finished or begun since: an insert
    or update gives a row such an xmin, and a delete changes the count. Frozen rows read as the oldest
    xmin, so freezing changes nothing here.
    """
    with target.cursor() as cursor:
        cursor.execute("SELECT to_regclass('migration.checkpoint') IS NOT NULL")
        if not cursor.fetchone()[0]:
            target.rollback()
            return None
        cursor.execute(
            sql.SQL(
                "SELECT rows_read, rejected, finished_xid, target_rows FROM {} WHERE table_name = %s "
                "AND finished AND source_fingerprint = %s AND finished_xid IS NOT NULL"
            ).format(CHECKPOINT),
            (spec.name, fingerprint),
        )
        last = cursor.fetchone()
        if last is None:
            target.rollback()
            return None
        rows_read, rejected, finished_xid, target_rows = last
        cursor.execute(
            sql.SQL(
                # Past 2^30 transactions the 32-bit comparison could wrap: then the table is compared in full.
                "SELECT count(*), coalesce(bool_or(age(t.xmin) <= age(%(xid)s::text::xid)), false) "
                "OR age(%(xid)s::text::xid) > 1073741824 FROM {} AS t"
            ).format(sql.Identifier(spec.target_schema, spec.name)),
            {"xid": finished_xid},
        )
        count, written_since = cursor.fetchone()
    target.rollback()
    if count != target_rows or written_since:
        return None
    return TableSummary(spec.name, rows_read=rows_read, unchanged=rows_read - rejected, rejected=rejected)


def _target_error(error: psycopg2.Error, table: str, batch: int | None) -> TargetError:
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if isinstance(error, psycopg2.OperationalError | psycopg2.InterfaceError):
        return TransientTargetError(f"lost the connection to PostgreSQL: {message}", table=table, batch=batch)
    return TargetError(f"PostgreSQL refused the write: {message}", table=table, batch=batch)


def delete_missing(
    source: sqlite3.Connection, target: psycopg2.extensions.connection, spec: TableSpec, batch_size: int
) -> int:
    """Delete target rows whose id the source no longer has; returns how many went."""
    with target.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE source_ids (id uuid) ON COMMIT DROP")
        # Every source id counts, rejected rows' included: their earlier target rows stay.
        for chunk in batched(_uuid_lines(read_ids(source, spec, batch_size)), batch_size):
            copy_text(cursor, "COPY source_ids (id) FROM STDIN", "".join(chunk).encode())
        cursor.execute("ANALYZE source_ids")
        cursor.execute(
            sql.SQL(
                "DELETE FROM {} AS t WHERE NOT EXISTS (SELECT 1 FROM source_ids AS s WHERE s.id = t.id)"
            ).format(sql.Identifier(spec.target_schema, spec.name))
        )
        deleted = int(cursor.rowcount)
    target.commit()
    return deleted


def _uuid_lines(ids: Iterator[object]) -> Iterator[str]:
    for source_id in ids:
        try:
            yield f"{parse_uuid(source_id)}\n"
        except InvalidValue:
            continue  # such a row was never loaded, so nothing in the target answers to it


def _tasks(
    source: sqlite3.Connection,
    spec: TableSpec,
    batch_size: int,
    changed: frozenset[str] | None,
    digits: int,
    after_rowid: int,
    duplicates: dict[int, int],
) -> Iterator[BatchTask]:
    """The table's batches after ``after_rowid``, each with the repeated ids that fall in it."""
    repeated = sorted(duplicates)
    for after, last in rowid_ranges(source, spec, batch_size, after_rowid):
        in_range = repeated[bisect_right(repeated, after) : bisect_right(repeated, last)]
        yield BatchTask(
            spec.name,
            after,
            last,
            batch_size,
            {rowid: duplicates[rowid] for rowid in in_range},
            changed,
            digits,
        )


def _prepared_batches(
    source: sqlite3.Connection,
    spec: TableSpec,
    preparer: BatchPreparer,
    tasks: Callable[[int, dict[int, int]], Iterator[BatchTask]],
    after_rowid: int,
) -> Iterator[PreparedBatch]:
    """The table's batches, parsed, in order, with rows repeating an earlier row's id rejected.

    Where the source keeps its ids unique as written, only two spellings of one uuid can collide, and
    every spelling but the canonical one is rare: the search for repeats (a second full read of the
    table) runs only once a batch shows such an id, and that batch and those after it are parsed again.
    """
    if not unique_as_written(source, spec):
        yield from preparer.prepare(source, tasks(after_rowid, duplicate_ids(source, spec)))
        return
    for batch in preparer.prepare(source, tasks(after_rowid, {})):
        if batch.other_spellings:
            log.info("%s: ids written other than as canonical uuids; looking for repeats", spec.name)
            yield from preparer.prepare(source, tasks(batch.after_rowid, duplicate_ids(source, spec)))
            return
        yield batch


def migrate_table(
    source: sqlite3.Connection,
    target: psycopg2.extensions.connection,
    table: str,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    full_refresh: bool = False,
    reject_limit: RejectLimit | None = None,
    delete: bool = False,
    preparer: BatchPreparer | None = None,
    progress: Progress | None = None,
) -> TableSummary:
    """Copy one table from SQLite into PostgreSQL, batch by batch, resuming an interrupted load.

    ``preparer`` parses batches in worker processes; without one, they are parsed in this process.
    ``progress`` hears of each step and batch (default: a log line every few seconds while loading).
    """
    progress = progress or LogProgress()
    if batch_size < 1:
        raise MigrationError(f"batch size must be at least 1, not {batch_size}", table=table)
    spec = get_table(table)
    limit = reject_limit or RejectLimit()
    started = time.monotonic()
    check_source_table(source, spec)
    unmapped = unmapped_data(source, spec)
    for column, count in unmapped.items():
        log.warning(
            "%s: column %s has data in %d rows but no target column; it is not loaded", table, column, count
        )

    try:
        fingerprint = source_fingerprint(_database_path(source))
        if not (full_refresh or delete) and (
            untouched := _untouched_since_last_run(target, spec, fingerprint)
        ):
            untouched.seconds = time.monotonic() - started
            untouched.unmapped = unmapped
            log.info("%s: neither the source file nor the table changed since the last finished run", table)
            return untouched
        lookup = partial(rowid_of, source, spec)
        if keys_deferred(target, spec):
            log.warning(
                "%s: an earlier load stopped before rebuilding the table's keys; rebuilding them", table
            )
            progress.step(table, "rebuilding keys")
            restore_keys(target, spec, lookup)
        summary, after_rowid = _start(target, table, fingerprint, full_refresh)
        summary.unmapped = unmapped
        if summary.resumed_rows:
            log.info("%s: resuming after %d rows committed by an earlier run", table, summary.resumed_rows)
        to_read = count_rows(source, spec, after_rowid)
        loader = TableLoader(target, spec, first_load=_is_empty(target, spec))
        # Without the link checks' trigger skip, a refused batch would need the keys back mid-load.
        if loader.first_load and after_rowid == 0 and (loader.defer_link_checks or not spec.foreign_keys):
            loader.keys_deferred = defer_keys(target, spec)
            loader.restore_keys = partial(restore_keys, target, spec, lookup)
        digits = chunk_digits(to_read)
        changed: set[str] | None = None
        progress.step(table, "loading", to_read)
        if not loader.first_load and after_rowid == 0:
            # A re-run: find the chunks of ids that changed, then parse and load only their rows.
            changed = _changed_chunks(source, target, spec, batch_size, digits)
            log.info("%s: %d chunks of ids differ from the source", table, len(changed))
            if not changed:
                # Identical to its source: every row read, none written.
                _advance(target, table, BatchResult(to_read, 0, 0, to_read, 0, max_rowid(source, spec)))
                summary.rows_read = summary.unchanged = to_read
                progress.advance(table, to_read)

        tasks = partial(
            _tasks, source, spec, batch_size, None if changed is None else frozenset(changed), digits
        )
        # One table of a single batch is not worth starting processes for.
        preparing = preparer if preparer is not None and to_read > batch_size else BatchPreparer("", 0)
        prepared = (
            _prepared_batches(source, spec, preparing, tasks, after_rowid) if changed != set() else iter([])
        )
        jobs = (partial(loader.load, ready.batch) for ready in prepared)
        for batch_number, result in run_in_order(table, jobs):
            progress.advance(table, result.rows_read)
            summary.rows_read += result.rows_read
            summary.inserted += result.inserted
            summary.updated += result.updated
            summary.unchanged += result.unchanged
            summary.rejected += result.rejected
            if breach := limit.breach(summary.rejected, summary.rows_read, final=False):
                raise RejectThresholdExceeded(
                    f"{breach}; see migration.rejects", table=table, batch=batch_number
                )
        if loader.defer_link_checks or after_rowid > 0:
            # After a first load that skipped the link triggers, or a resumed one that may have.
            progress.step(table, "checking links")
            orphans = reject_orphans(target, spec, lookup)
            if orphans:
                # Links found pointing nowhere count as rejected rather than inserted.
                _advance(target, table, BatchResult(0, -orphans, 0, 0, orphans, max_rowid(source, spec)))
                summary.inserted -= orphans
                summary.rejected += orphans
        moved = loader.moved_by_restore
        if loader.keys_deferred:
            progress.step(table, "rebuilding keys")
            moved += restore_keys(target, spec, lookup)
        # Rows that repeated a unique key, found as the keys were rebuilt, count as rejected.
        summary.inserted -= moved
        summary.rejected += moved
        if breach := limit.breach(summary.rejected, summary.rows_read, final=True):
            raise RejectThresholdExceeded(f"{breach}; see migration.rejects", table=table)
        if delete:
            summary.deleted = delete_missing(source, target, spec, batch_size)
            if summary.deleted:
                log.warning("%s: deleted %d rows the source no longer has", table, summary.deleted)
        _finish(target, spec)
    except psycopg2.Error as error:
        raise _target_error(error, table, None) from error
    finally:
        progress.done(table)
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


def migrate(
    sqlite_path: str | os.PathLike[str],
    dsn: str,
    tables: Sequence[str] | None = None,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    apply_ddl: bool = True,
    full_refresh: bool = False,
    reject_limit: RejectLimit | None = None,
    retries: int = 3,
    delete: bool = False,
    workers: int | None = None,
    progress: Progress | None = None,
) -> list[TableSummary]:
    """Migrate ``tables`` (all, in foreign-key order, by default), reconnecting after a dropped connection.

    ``workers`` processes parse the rows (default: one per core; 0 parses in this process).
    """
    # Each table once, in foreign-key order, whatever order the caller named them in.
    names = sorted({get_table(name).name for name in (tables or TABLE_NAMES)}, key=TABLE_NAMES.index)
    summaries = []
    with ExitStack() as stack:
        source = stack.enter_context(open_source(sqlite_path))
        progress = progress or LogProgress()
        progress.step("source", "checking the source")
        try:
            check_source(source, [get_table(name) for name in names])
        finally:
            progress.done("source")
        preparer = stack.enter_context(
            BatchPreparer(sqlite_path, default_workers() if workers is None else workers)
        )
        target = stack.enter_context(open_target(dsn))
        if apply_ddl:
            apply_schema(target)
        for table in names:
            started = time.monotonic()
            for attempt in range(retries + 1):
                try:
                    summary = migrate_table(
                        source,
                        target,
                        table,
                        batch_size=batch_size,
                        full_refresh=full_refresh and attempt == 0,
                        reject_limit=reject_limit,
                        delete=delete,
                        preparer=preparer,
                        progress=progress,
                    )
                    break
                except TransientTargetError as error:
                    if attempt == retries:
                        raise TargetError(f"{error}; gave up after {retries} retries") from error
                    delay = min(2.0**attempt, 30.0)
                    log.warning(
                        "%s; reconnecting in %.0f s (retry %d of %d)", error, delay, attempt + 1, retries
                    )
                    time.sleep(delay)
                    target.close()
                    target = stack.enter_context(open_target(dsn))
            summaries.append(replace(summary, seconds=time.monotonic() - started))
    return summaries
