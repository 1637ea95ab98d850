"""Prepare batches (read, parse, render) in worker processes, so the per-row Python work uses every core.

Parsing runs one row at a time on one core and is most of a large migration's time. Workers each
open the SQLite file read-only, once, and are handed ranges of rowids; prepared batches come back in
rowid order, so loading, checkpoints and resumption stay exactly as they are with no workers at all.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.util
import os
import re
import sqlite3
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import TypeVar

from .connections import open_source
from .digests import ChunkSummary, merge_summaries, source_range_summary, sqlite_chunk_condition
from .extract import (
    check_source,
    check_source_table,
    count_range,
    quick_check,
    raise_if_corrupt,
    read_rows,
    rowid_ranges,
)
from .load import Batch
from .range_digests import (
    DIGEST_BYTES,
    RangeDigests,
    changed_slots,
    range_digests,
    rowid_condition,
    slot_bounds,
    slot_count,
)
from .tables import TableSpec, get_table
from .transform import CANONICAL_UUID, to_copy_lines, to_records

T = TypeVar("T")
R = TypeVar("R")


@dataclass(slots=True, frozen=True)
class BatchTask:
    """One batch to prepare: the source rows with ``after_rowid < rowid <= last_rowid``."""

    table: str
    after_rowid: int
    last_rowid: int
    batch_size: int
    # Rowids of rows repeating an earlier row's id (see extract.duplicate_ids), for this range only.
    duplicates: dict[int, int] = field(default_factory=dict)
    # On a re-run, only rows in these chunks of ids are parsed; the others are counted unchanged.
    changed: frozenset[str] | None = None
    digits: int = 0
    # The range's digests (range_digests.py) are computed and go with the batch, to be stored.
    digests: bool = False
    # A re-run since the last run: only the slots whose digest differs from ``stored`` (all of them when
    # nothing is stored) or that hold ``rejected`` rowids are parsed; the others are counted unchanged.
    since_last: bool = False
    stored: bytes | None = None
    rejected: tuple[int, ...] = ()


@dataclass(slots=True, frozen=True)
class PreparedBatch:
    """A batch ready for the loader, and what the pipeline needs to know of its source rows."""

    batch: Batch
    after_rowid: int
    # Some id is written other than as a canonical uuid, so it may repeat another row's id.
    other_spellings: bool


# A line that is not a canonical uuid. An id holding a newline reads as two such lines: a false
# alarm, which only costs the search for repeated ids.
_OTHER_SPELLING = re.compile(f"^(?!{CANONICAL_UUID.pattern}$)", re.MULTILINE)


@dataclass(slots=True, frozen=True)
class SummaryTask:
    """The chunk digests of the source rows with ``after_rowid < rowid <= last_rowid``."""

    table: str
    after_rowid: int
    last_rowid: int
    digits: int


# Rows per range a worker summarises: few enough ranges that the partial summaries (up to one entry
# per chunk each) cost little to send back, enough that two workers share a table of 100,000 rows.
SUMMARY_ROWS = 50_000


def summary_tasks(source: sqlite3.Connection, spec: TableSpec, digits: int) -> Iterator[SummaryTask]:
    """The whole table in ranges of rowids, to summarise."""
    for after, last in rowid_ranges(source, spec, SUMMARY_ROWS):
        yield SummaryTask(spec.name, after, last, digits)


def summarise_range(source: sqlite3.Connection, task: SummaryTask) -> ChunkSummary:
    return source_range_summary(source, get_table(task.table), task.digits, task.after_rowid, task.last_rowid)


@dataclass(slots=True, frozen=True)
class DigestTask:
    """The range digests of the source rows with ``after_rowid < rowid <= last_rowid``."""

    table: str
    after_rowid: int
    last_rowid: int


def digest_range(source: sqlite3.Connection, task: DigestTask, like: bytes | None = None) -> RangeDigests:
    """The range's digests, in as many slots as ``like`` has (digests stored earlier) or its rows call for."""
    spec = get_table(task.table)
    if like is None:
        slots = slot_count(count_range(source, spec, task.after_rowid, task.last_rowid))
    else:
        slots = len(like) // DIGEST_BYTES
    return RangeDigests(task.after_rowid, task.last_rowid, range_digests(source, spec, task.after_rowid, task.last_rowid, slots))


def prepare_batch(source: sqlite3.Connection, task: BatchTask) -> PreparedBatch:
    """Read one range of rows and run both transforms over it."""
    spec = get_table(task.table)
    # On a re-run SQLite skips the rows of unchanged chunks: they are neither fetched nor parsed.
    only = ("", ()) if task.changed is None else sqlite_chunk_condition(spec, task.digits, task.changed)
    digests = None
    if task.digests:
        whole = DigestTask(task.table, task.after_rowid, task.last_rowid)
        digests = digest_range(source, whole, task.stored)
        if task.since_last:
            bounds = slot_bounds(task.after_rowid, task.last_rowid, len(digests.digests) // DIGEST_BYTES)
            changed = changed_slots(digests.digests, task.stored, bounds, task.rejected)
            if digests.digests == task.stored:
                digests = None  # stored already
            if not changed:
                unchanged = count_range(source, spec, task.after_rowid, task.last_rowid)
                return PreparedBatch(Batch.of([], task.last_rowid, unchanged, digests), task.after_rowid, False)
            only = rowid_condition(changed)
    rows = list(read_rows(source, spec, task.batch_size, task.after_rowid, task.last_rowid, only))
    # One search over the batch's ids, one per line, costs a third of a test per id.
    ids = "\n".join([row[1] for row in rows if type(row[1]) is str])
    other_spellings = ids != "" and _OTHER_SPELLING.search(ids) is not None
    unchanged = 0
    if task.changed is not None or task.since_last:
        unchanged = count_range(source, spec, task.after_rowid, task.last_rowid) - len(rows)
    lines = to_copy_lines(spec, to_records(spec, iter(rows), task.duplicates))
    return PreparedBatch(Batch.of(lines, task.last_rowid, unchanged, digests), task.after_rowid, other_spellings)


# Batches queued per worker: a re-run's ranges take a millisecond or two each, and with one queued the
# workers waited on the round trip (1.8 s against 2.2 s for a re-run at scale 100, measured). A batch
# in flight holds at most its rows' COPY text, some 250 KiB for 2,000 rows. Summaries, up to a
# megabyte each, keep one queued.
IN_FLIGHT_PER_WORKER = 4

# The worker process's own connection to the source, opened once by _open_worker_source.
_worker_source: sqlite3.Connection | None = None


def _exit_with_parent() -> None:
    """End this worker as soon as the process that asked for it ends.

    Pool workers wait on a queue whose writing end they hold themselves, and the fork server waits
    for its children: a run killed with SIGKILL would leave both waiting forever. The parent's
    sentinel becomes ready when it ends, however it ends.
    """
    parent = multiprocessing.parent_process()
    if parent is not None:

        def exit_when_parent_ends() -> None:
            parent.join()
            os._exit(1)

        threading.Thread(target=exit_when_parent_ends, name="exit-with-parent", daemon=True).start()


def _open_worker_source(sqlite_path: str) -> None:
    global _worker_source
    _exit_with_parent()
    stack = ExitStack()
    _worker_source = stack.enter_context(open_source(sqlite_path))
    # Closed when the worker process exits, however the pool shuts it down.
    multiprocessing.util.Finalize(None, stack.close, exitpriority=10)


def _prepare_in_worker(task: BatchTask) -> PreparedBatch:
    assert _worker_source is not None, "the worker's initializer opens the source"
    return prepare_batch(_worker_source, task)


def _quick_check_in_worker(table: str) -> list[str]:
    assert _worker_source is not None, "the worker's initializer opens the source"
    return quick_check(_worker_source, table)


def _sound() -> None:
    """The verdict of a check already made."""


def _digest_in_worker(task: DigestTask) -> RangeDigests:
    assert _worker_source is not None, "the worker's initializer opens the source"
    return digest_range(_worker_source, task)


def _summarise_in_worker(task: SummaryTask) -> ChunkSummary:
    assert _worker_source is not None, "the worker's initializer opens the source"
    return summarise_range(_worker_source, task)


@contextmanager
def _main_script_hidden() -> Iterator[None]:
    """Keep a worker started meanwhile from importing the script this process runs as ``__main__``.

    multiprocessing has every new worker import that script, for functions defined in it. Workers
    here run only this module's functions, and under Airflow the script is Airflow's command line,
    whose import would cost each worker seconds and a few hundred MiB.
    """
    main = sys.modules["__main__"]
    spec, path = main.__spec__, main.__dict__.pop("__file__", None)
    main.__spec__ = None
    try:
        yield
    finally:
        main.__spec__ = spec
        if path is not None:
            main.__file__ = path


class BatchPreparer:
    """Prepares batches in order, in ``workers`` processes, or in this process when ``workers`` is 0.

    A context manager: the processes start on first use and stop on exit. At most
    ``IN_FLIGHT_PER_WORKER * workers + 1`` batches are in flight, so memory stays bounded by the batch size.
    """

    @classmethod
    def of(cls, source: sqlite3.Connection, workers: int) -> BatchPreparer:
        """Workers reading the file behind ``source``; none when it has no file (an in-memory database)."""
        path = source.execute("PRAGMA database_list").fetchone()[2]
        return cls(path, workers if path else 0)

    def __init__(self, sqlite_path: str | os.PathLike[str], workers: int) -> None:
        if workers < 0:
            raise ValueError(f"workers must be 0 or more, not {workers}")
        self.sqlite_path = os.fspath(sqlite_path)
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> BatchPreparer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._pool is not None:
            # On an error, batches still queued are dropped rather than prepared for nothing.
            self._pool.shutdown(wait=True, cancel_futures=error is not None)
            self._pool = None

    def prepare(self, source: sqlite3.Connection, tasks: Iterator[BatchTask]) -> Iterator[PreparedBatch]:
        """Yield the prepared batches of ``tasks`` in their order."""
        if self.workers == 0:
            for task in tasks:
                yield prepare_batch(source, task)
            return
        yield from self._in_workers(_prepare_in_worker, tasks, IN_FLIGHT_PER_WORKER * self.workers + 1)

    def summarise(self, source: sqlite3.Connection, tasks: Iterator[SummaryTask]) -> ChunkSummary:
        """The chunk digests of the rows of all ``tasks``, each range summarised by a worker."""
        if self.workers == 0:
            return merge_summaries(summarise_range(source, task) for task in tasks)
        return merge_summaries(self._in_workers(_summarise_in_worker, tasks))

    def digest(self, source: sqlite3.Connection, tasks: Iterator[DigestTask]) -> Iterator[RangeDigests]:
        """The range digests of ``tasks``, in their order; from the worker processes, which touch no
        connection of this process (so another thread may ask), or here when there are none.

        A first load asks while PostgreSQL rebuilds the table's keys. One worker at a time left that
        core to PostgreSQL but outlasted the rebuild: the load took 1.23x as long, against about 1.0x
        with both workers (alternating runs at scale 100).
        """
        if self.workers == 0:
            for task in tasks:
                yield digest_range(source, task)
            return
        yield from self._in_workers(_digest_in_worker, tasks)

    def check_soundness(self, source: sqlite3.Connection, specs: Sequence[TableSpec]) -> Callable[[], None]:
        """Start reading the tables' pages for corruption; the call returned waits for the verdict.

        Each table is checked by a worker (the last tables, the largest, first), so the check takes
        about its largest table's time while this process goes on; that call raises SourceError when a
        table is corrupt, and nothing may be written before it returned. Without workers the check is
        done here and now.
        """
        if self.workers == 0:
            check_source(source, specs)
            return _sound
        for spec in specs:
            check_source_table(source, spec)
        pool = self._started_pool()
        with _main_script_hidden():
            checks = [pool.submit(_quick_check_in_worker, spec.name) for spec in reversed(specs)]

        def verdict() -> None:
            for check in checks:
                raise_if_corrupt(check.result())

        return verdict

    def _started_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # Not fork: the parent holds a PostgreSQL connection and threads, which a forked child must
            # not inherit (Airflow's task processes hold more of both). A fork server is a clean process,
            # started once, with this module imported, that forks workers in milliseconds where spawn
            # takes a second to import everything again for each.
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload([__name__])
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=context,
                initializer=_open_worker_source,
                initargs=(self.sqlite_path,),
            )
        return self._pool

    def _in_workers(self, work: Callable[[T], R], tasks: Iterator[T], in_flight: int | None = None) -> Iterator[R]:
        """Yield ``work(task)`` for each of ``tasks``, in their order, run by the worker processes, with at
        most ``in_flight`` tasks submitted at a time (one per worker and one more by default)."""
        in_flight = self.workers + 1 if in_flight is None else in_flight
        pool = self._started_pool()
        pending: deque[Future[R]] = deque()
        try:
            for task in tasks:
                with _main_script_hidden():  # a submit may start a worker
                    pending.append(pool.submit(work, task))
                if len(pending) >= in_flight:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
