"""A table's batches, from the source rows to loaded results: read and parsed in order, loaded one at a time."""

from __future__ import annotations

import logging
import sqlite3
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import psycopg2
import psycopg2.errors
import psycopg2.extensions

from .digests import changed_chunks, target_summary
from .errors import TargetError, first_line
from .extract import duplicate_ids, rowid_ranges, unique_as_written
from .load import BatchResult
from .tables import TableSpec
from .workers import BatchPreparer, BatchTask, PreparedBatch, summary_tasks

log = logging.getLogger(__name__)


class TransientTargetError(TargetError):
    """The connection to PostgreSQL dropped; the batch was not committed and may be retried."""


def target_error(error: psycopg2.Error, table: str, batch: int | None) -> TargetError:
    """The library's error for what PostgreSQL said: transient when the connection is gone."""
    if isinstance(error, psycopg2.OperationalError | psycopg2.InterfaceError):
        return TransientTargetError(f"lost the connection to PostgreSQL: {first_line(error)}", table=table, batch=batch)
    if isinstance(error, psycopg2.errors.UndefinedTable | psycopg2.errors.UndefinedColumn):
        # Most often --no-schema against tables an older version made: the migration's own state grew since.
        return TargetError(
            f"the target's tables are not as this version's schema makes them ({first_line(error)}); apply "
            "ddl/movies_database.ddl, or run once without --no-schema",
            table=table,
            batch=batch,
        )
    return TargetError(f"PostgreSQL refused the write: {first_line(error)}", table=table, batch=batch)


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
            raise target_error(error, table, number) from None

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


def changed_chunk_keys(
    source: sqlite3.Connection,
    target: psycopg2.extensions.connection,
    spec: TableSpec,
    preparer: BatchPreparer,
    digits: int,
) -> set[str]:
    """Chunks of ids whose rows differ between the two sides.

    The source side is summarised by the worker processes, a range of rowids each, while PostgreSQL
    sums its side in a thread (psycopg2 lets go of the GIL while the server works).
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"summary-{spec.name}") as pool:
        target_side = pool.submit(target_summary, target, spec, digits)
        source_side = preparer.summarise(source, summary_tasks(source, spec, digits))
        return changed_chunks(source_side, target_side.result())


@dataclass(slots=True, frozen=True)
class SinceLast:
    """What a re-run since the last run knows: the ranges stored then, and the rowids rejected then."""

    stored: Sequence[tuple[int, int, bytes]]
    rejected: Sequence[int]


def _tasks(
    source: sqlite3.Connection,
    spec: TableSpec,
    batch_size: int,
    changed: frozenset[str] | None,
    digits: int,
    after_rowid: int,
    duplicates: dict[int, int],
    record_digests: bool,
) -> Iterator[BatchTask]:
    """The table's batches after ``after_rowid``, each with the repeated ids that fall in it."""
    repeated = sorted(duplicates)
    for after, last in rowid_ranges(source, spec, batch_size, after_rowid):
        in_range = {rowid: duplicates[rowid] for rowid in _within(repeated, after, last)}
        yield BatchTask(spec.name, after, last, batch_size, in_range, changed, digits, digests=record_digests)


def _within(rowids: Sequence[int], after: int, last: int) -> list[int]:
    """The rowids of the sorted ``rowids`` in ``(after, last]``."""
    return list(rowids[bisect_right(rowids, after) : bisect_right(rowids, last)])


def _since_last_tasks(
    source: sqlite3.Connection,
    spec: TableSpec,
    batch_size: int,
    since: SinceLast,
    after_rowid: int,
    duplicates: dict[int, int],
) -> Iterator[BatchTask]:
    """The stored ranges after ``after_rowid``, to compare, and new batches for the rows none of them covers."""
    repeated = sorted(duplicates)

    def task(after: int, last: int, stored: bytes | None) -> BatchTask:
        in_range = {rowid: duplicates[rowid] for rowid in _within(repeated, after, last)}
        rejected = tuple(_within(since.rejected, after, last))
        return BatchTask(
            spec.name, after, last, batch_size, in_range, digests=True, since_last=True, stored=stored, rejected=rejected
        )

    covered = after_rowid
    for after, last, stored in since.stored:
        if last <= covered:
            continue
        if after > covered:  # rows no stored range covers: new ones, or left by an earlier resumed run
            for gap_after, gap_last in rowid_ranges(source, spec, batch_size, covered, after):
                yield task(gap_after, gap_last, None)
        yield task(max(after, covered), last, stored if after >= covered else None)
        covered = last
    for new_after, new_last in rowid_ranges(source, spec, batch_size, covered):
        yield task(new_after, new_last, None)


def prepared_batches(
    source: sqlite3.Connection,
    spec: TableSpec,
    preparer: BatchPreparer,
    batch_size: int,
    after_rowid: int,
    changed: frozenset[str] | None = None,
    digits: int = 0,
    since: SinceLast | None = None,
    record_digests: bool = True,
) -> Iterator[PreparedBatch]:
    """The table's batches after ``after_rowid``, parsed, in order, with rows repeating an earlier row's id rejected.

    Where the source keeps its ids unique as written, only two spellings of one uuid can collide, and
    every spelling but the canonical one is rare: the search for repeats (a second full read of the
    table) runs only once a batch shows such an id, and that batch and those after it are parsed again.
    ``changed``, on a re-run, limits parsing to the rows in those chunks of ids; ``since``, on a re-run
    since the last run, to the rows whose range digests changed. Each batch carries its range digests
    to store (``record_digests``; a first load computes them afterwards, see table_run).
    """

    def tasks(after: int, duplicates: dict[int, int]) -> Iterator[BatchTask]:
        if since is not None:
            return _since_last_tasks(source, spec, batch_size, since, after, duplicates)
        return _tasks(source, spec, batch_size, changed, digits, after, duplicates, record_digests)

    if not unique_as_written(source, spec):
        yield from _merged(preparer.prepare(source, tasks(after_rowid, duplicate_ids(source, spec))), batch_size)
        return
    for batch in _merged(preparer.prepare(source, tasks(after_rowid, {})), batch_size):
        if batch.other_spellings:
            log.info("%s: ids written other than as canonical uuids; looking for repeats", spec.name)
            yield from _merged(preparer.prepare(source, tasks(batch.after_rowid, duplicate_ids(source, spec))), batch_size)
            return
        yield batch


def _merged(batches: Iterator[PreparedBatch], rows: int) -> Iterator[PreparedBatch]:
    """Consecutive batches merged into one while they write at most ``rows`` rows between them.

    A re-run that changed a few rows here and there then commits a handful of transactions, not one
    per range read; a first load's full batches go as they are. A batch that may repeat ids under
    another spelling is not merged: the caller looks at it alone.
    """
    pending: PreparedBatch | None = None
    for ready in batches:
        if pending is not None and not ready.other_spellings and pending.batch.written + ready.batch.written <= rows:
            pending = PreparedBatch(pending.batch.merged(ready.batch), pending.after_rowid, False)
            continue
        if pending is not None:
            yield pending
        pending = ready
        if ready.other_spellings:
            yield ready
            pending = None
    if pending is not None:
        yield pending
