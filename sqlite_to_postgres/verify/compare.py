"""The comparison: chunk digests first, then the rows of differing chunks merge-joined by id (the default,
``fast``), or every row merge-joined (``full``)."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import TypeVar

import psycopg2
import psycopg2.extensions

from ..digests import ChunkSummary, changed_chunks, chunk_digits
from ..errors import ConsistencyError, TargetError, first_line
from ..extract import check_source_table, tolerant_text
from ..options import default_workers, selected_tables
from ..state import rejected_rows
from ..tables import Kind, TableSpec, get_table
from ..workers import BatchPreparer, summary_tasks
from .normalise import Row, clip, display, uuid_key
from .report import ColumnDifference, ConsistencyReport, RowDifference, TableReport
from .source import UUID_KEY_FUNCTION, Source, UndecodableSource, id_column
from .target import Target

log = logging.getLogger(__name__)

# Rows per fetch on each side. Measured in bench/bench_check.py: 1,000 is as fast as 10,000 at 1.3 M rows
# and keeps the peak RSS flat from the real catalog's size up (a batch larger than the tables costs memory
# only on large catalogs).
DEFAULT_BATCH_SIZE = 1_000
# Differences listed per table; the counts always cover all of them.
SHOWN_DIFFERENCES = 5

T = TypeVar("T")


def merge(
    left: Iterable[T], right: Iterable[T], key: Callable[[T], str]
) -> Iterator[tuple[T | None, T | None]]:
    """Pair the items of two streams sorted by ``key``: both when keys match, else the one that is alone."""
    left_items, right_items = iter(left), iter(right)
    left_item, right_item = next(left_items, None), next(right_items, None)
    while left_item is not None or right_item is not None:
        if right_item is None or (left_item is not None and key(left_item) < key(right_item)):
            yield left_item, None
            left_item = next(left_items, None)
        elif left_item is None or key(right_item) < key(left_item):
            yield None, right_item
            right_item = next(right_items, None)
        else:
            yield left_item, right_item
            left_item, right_item = next(left_items, None), next(right_items, None)


def _row_key(row: Row) -> str:
    return row.key


@dataclass(slots=True)
class _Tally:
    matched: int = 0
    missing: int = 0
    extra: int = 0
    differing: int = 0
    shown: list[RowDifference] = field(default_factory=list)

    def note(self, difference: RowDifference) -> None:
        if difference.kind == "missing":
            self.missing += 1
        elif difference.kind == "extra":
            self.extra += 1
        else:
            self.differing += 1
        if len(self.shown) < SHOWN_DIFFERENCES:
            self.shown.append(difference)


def _compare_rows(
    spec: TableSpec, source_rows: Iterator[Row], target_rows: Iterator[Row], tally: _Tally
) -> None:
    """Merge-join the two sorted streams and tally every row."""
    id_index = spec.columns.index(id_column(spec))
    last_matched = None
    for source_row, target_row in merge(source_rows, target_rows, _row_key):
        if source_row is None:
            assert target_row is not None
            tally.note(RowDifference("extra", target_row.key))
        elif not source_row.key:
            id_difference = ColumnDifference(
                spec.columns[id_index].target, display(Kind.UUID, source_row.values[id_index]), "(no row)"
            )
            tally.note(
                RowDifference(
                    "differing",
                    clip(repr(source_row.raw_id)),
                    source_row.source_rowid,
                    (id_difference,),
                    "the source id is not a uuid",
                )
            )
        elif target_row is None:
            duplicate = source_row.key == last_matched
            note = "a second source row with the same id" if duplicate else ""
            tally.note(RowDifference("missing", source_row.key, source_row.source_rowid, note=note))
        else:
            last_matched = source_row.key
            columns = tuple(
                ColumnDifference(column.target, display(column.kind, ours), display(column.kind, theirs))
                for column, ours, theirs in zip(
                    spec.columns, source_row.values, target_row.values, strict=True
                )
                if ours != theirs
            )
            if columns:
                tally.note(RowDifference("differing", source_row.key, source_row.source_rowid, columns))
            else:
                tally.matched += 1


def _compare_by_chunks(
    spec: TableSpec,
    source_side: Source,
    target_side: Target,
    digits: int,
    source_rows: int,
    ours: ChunkSummary,
    theirs: ChunkSummary,
    tally: _Tally,
    rejected: list[int],
) -> tuple[int, int]:
    """Compare the chunk digests of both sides, then row by row only the chunks that differ: (chunks,
    differing chunks).

    The digests are a re-run's: the source's raw values, summarised by the worker processes, against
    PostgreSQL's values as ``::text``, summarised by the server meanwhile. Their encoding only agrees
    where each source value is read as PostgreSQL's text says (digests.py), so a chunk whose digests
    agree holds rows the row-by-row comparison finds equal: its rows count as matched without being
    read. Any other spelling of a source value (an offset other than +00, an id in capitals) only makes
    its chunk differ, and a differing chunk is compared row by row on canonical values as ``full`` does.
    """
    differing = frozenset(changed_chunks(ours, theirs))
    chunks = len(ours.keys() | theirs.keys())
    summed = _rows(ours)
    if summed != source_rows:
        # The digests must cover every row counted: else (the file written meanwhile, say) the rows they
        # missed would count as matched. Every row is compared instead.
        log.warning("%s: %d rows counted, %d summed; comparing every row", spec.name, source_rows, summed)
        _compare_rows(spec, source_side.rows(rejected), target_side.rows(), tally)
        return chunks, len(differing)
    if not differing:
        # No row to read: a row set aside, missing or extra, or whose id is no canonical uuid, makes its
        # chunk as written differ.
        tally.matched += summed
        return chunks, 0
    # A row whose id is written otherwise sits in one raw chunk but belongs to another canonical one.
    odd = source_side.odd_prefixes(digits, differing) if len(differing) * 2 <= chunks else set()
    compared = frozenset(differing | odd | {""})
    if len(compared) * 2 > chunks:
        # Most chunks differ: filtering by chunk would cost more than it saves, so read every row again.
        _compare_rows(spec, source_side.rows(rejected), target_side.rows(), tally)
        return chunks, len(differing)
    # Rows of the other chunks are equal, bar a 64-bit collision; rows set aside are in differing chunks
    # (the target lacks them), so counted below.
    tally.matched += sum(count for chunk, (count, _) in ours.items() if chunk not in compared)
    _compare_rows(
        spec,
        source_side.rows(rejected, prefixes=compared, digits=digits, other_spellings=bool(odd)),
        target_side.rows(sorted(compared - {""}), digits),
        tally,
    )
    return chunks, len(differing)


def _tolerant(source: sqlite3.Connection, table: str, compare: Callable[[], T]) -> T:
    """``compare()``, run again with a tolerant decoder when the table holds text that is not UTF-8."""
    text_factory = source.text_factory
    try:
        try:
            return compare()
        except UndecodableSource:
            # sqlite3's C decoder fails a whole fetch on one bad byte; decoding in Python is slower, so it is
            # used only for a table that needs it, read again from the start.
            log.warning("%s: text that is not UTF-8; comparing again with a tolerant decoder", table)
            source.text_factory = tolerant_text
            return compare()
    finally:
        source.text_factory = text_factory


@dataclass(slots=True)
class _Sides:
    """One table's two sides, opened and counted before either is read."""

    spec: TableSpec
    source: Source
    target: Target
    source_rows: int
    digits: int = 0


def _sides(
    source: sqlite3.Connection, target: psycopg2.extensions.connection, table: str, batch_size: int
) -> _Sides:
    spec = get_table(table)
    check_source_table(source, spec)
    target_side = Target(target, spec, batch_size)
    if not target_side.exists():
        raise ConsistencyError(f"the target has no table {spec.target_schema}.{spec.name}", table=table)
    source_side = Source(source, spec, rejected_rows(target, table), batch_size)
    return _Sides(spec, source_side, target_side, source_side.count())


def _report(
    sides: _Sides,
    target_rows: int,
    tally: _Tally,
    rejected: int,
    chunks: tuple[int, int] | None,
    seconds: float,
) -> TableReport:
    report = TableReport(
        table=sides.spec.name,
        source_rows=sides.source_rows,
        target_rows=target_rows,
        matched=tally.matched,
        missing=tally.missing,
        extra=tally.extra,
        differing=tally.differing,
        rejected=rejected,
        differences=tuple(tally.shown),
        chunks=chunks[0] if chunks else None,
        chunks_differing=chunks[1] if chunks else None,
        seconds=seconds,
    )
    log.info(
        "%s: %d source rows, %d target rows, %d matched, %d missing, %d extra, %d differing, %d rejected in %.2f s",
        report.table,
        report.source_rows,
        report.target_rows,
        report.matched,
        report.missing,
        report.extra,
        report.differing,
        report.rejected,
        report.seconds,
    )
    return report


def _check_every_row(
    source: sqlite3.Connection, target: psycopg2.extensions.connection, table: str, batch_size: int
) -> TableReport:
    """``full``: every row of one table read and compared."""
    started = time.monotonic()
    sides = _sides(source, target, table, batch_size)
    target_rows = sides.target.count()

    def compare() -> tuple[_Tally, int]:
        tally, rejected = _Tally(), [0]
        _compare_rows(sides.spec, sides.source.rows(rejected), sides.target.rows(), tally)
        return tally, rejected[0]

    tally, rejected = _tolerant(source, table, compare)
    return _report(sides, target_rows, tally, rejected, None, time.monotonic() - started)


_Timed = tuple[ChunkSummary, float]  # a summary and the seconds it took
_Compared = tuple[_Tally, int, tuple[int, int]]  # the tally, rows set aside, (chunks, differing chunks)


def _check_by_digests(
    source: sqlite3.Connection,
    target: psycopg2.extensions.connection,
    names: Sequence[str],
    batch_size: int,
    preparer: BatchPreparer,
) -> list[TableReport]:
    """Every table's chunk digests, then row by row the chunks that differ.

    PostgreSQL sums its side of every table in turn, in one thread on ``target``, while the workers
    sum the source's side table after table: neither waits for the other between tables (at scale 100
    a table-by-table check left a core idle a fifth of the time). A table whose digests all agree is
    settled as soon as both are in, and its digests dropped; rows of the others are read once every
    summary is in, so the connection serves one thread at a time. A table's seconds are its own work:
    opening both sides, the longer of the two summaries, and its comparison.
    """
    tables, spent = [], {}
    for table in names:
        started = time.monotonic()
        with _reading_target(table):
            sides = _sides(source, target, table, batch_size)
            # Both sides must cut chunks alike; the target's size is the planner's estimate (a count would
            # read the table once more), which only sets how large the chunks are.
            sides.digits = chunk_digits(max(sides.source_rows, sides.target.estimated_rows()))
        tables.append(sides)
        spent[table] = time.monotonic() - started
    reports: dict[str, TableReport] = {}
    unsettled: list[tuple[_Sides, ChunkSummary, ChunkSummary]] = []

    def finish(sides: _Sides, ours: ChunkSummary, theirs: ChunkSummary) -> None:
        table = sides.spec.name
        started = time.monotonic()

        def compare() -> _Compared:
            tally, rejected = _Tally(), [0]
            chunks = _compare_by_chunks(
                sides.spec, sides.source, sides.target, sides.digits, sides.source_rows, ours, theirs, tally, rejected
            )
            return tally, rejected[0], chunks

        with _reading_target(table):
            tally, rejected, chunks = _tolerant(source, table, compare)
        reports[table] = _report(sides, _rows(theirs), tally, rejected, chunks, spent[table] + time.monotonic() - started)

    def settle(sides: _Sides, ours: _Timed, theirs: _Timed) -> None:
        spent[sides.spec.name] += max(ours[1], theirs[1])
        if _rows(ours[0]) == sides.source_rows and not changed_chunks(ours[0], theirs[0]):
            finish(sides, ours[0], theirs[0])  # reads no row, so not the connection the thread is using
        else:
            unsettled.append((sides, ours[0], theirs[0]))

    _summaries(source, target, tables, preparer, settle)
    for sides, ours, theirs in unsettled:
        finish(sides, ours, theirs)
    return [reports[sides.spec.name] for sides in tables]


def _rows(summary: ChunkSummary) -> int:
    return sum(count for count, _ in summary.values())


def _summaries(
    source: sqlite3.Connection,
    target: psycopg2.extensions.connection,
    tables: Sequence[_Sides],
    preparer: BatchPreparer,
    settle: Callable[[_Sides, _Timed, _Timed], None],
) -> None:
    """Each table's digests of the source and of the target, (summary, seconds), summed side by side and
    handed to ``settle`` in table order as soon as both are in.

    A failure on either side stops both: PostgreSQL's statement is cancelled and nothing queued after it
    runs, so the connection is the caller's again when this returns or raises.
    """
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="check-target")
    theirs = {sides.spec.name: pool.submit(_timed, sides.target.text_chunks, sides.digits) for sides in tables}
    waiting: deque[tuple[_Sides, _Timed]] = deque()

    def settle_ready(wait: bool) -> None:
        # In table order, so the first failure named is the table whose query failed.
        while waiting and (wait or theirs[waiting[0][0].spec.name].done()):
            sides, ours = waiting.popleft()
            with _reading_target(sides.spec.name):
                their_summary = theirs.pop(sides.spec.name).result()
            settle(sides, ours, their_summary)

    try:
        for sides in tables:
            started = time.monotonic()
            summary = preparer.summarise(source, summary_tasks(source, sides.spec, sides.digits))
            waiting.append((sides, (summary, time.monotonic() - started)))
            log.info("%s: source digests summed in %.2f s", sides.spec.name, waiting[-1][1][1])
            settle_ready(wait=False)
            if any(pending.done() and pending.exception() for pending in theirs.values()):
                break  # the transaction is aborted: every later summary fails too
        settle_ready(wait=True)
        for table, pending in theirs.items():  # left only when one failed: the first raises, named
            with _reading_target(table):
                pending.result()
    except BaseException:
        for pending in theirs.values():
            pending.cancel()
        if not target.closed:
            with suppress(psycopg2.Error):
                target.cancel()  # thread-safe: ends the statement the thread waits on
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _timed(work: Callable[[int], ChunkSummary], digits: int) -> tuple[ChunkSummary, float]:
    started = time.monotonic()
    return work(digits), time.monotonic() - started


@contextmanager
def _reading_target(table: str) -> Iterator[None]:
    """PostgreSQL's errors while reading ``table``, as the library's."""
    try:
        yield
    except psycopg2.Error as error:
        raise TargetError(f"cannot read the target: {first_line(error)}", table=table) from error


@contextmanager
def _read_only_snapshot(target: psycopg2.extensions.connection) -> Iterator[None]:
    """One repeatable-read transaction for the whole check, ended afterwards, when the caller has none open.

    Named cursors need a transaction, and one snapshot makes the tables agree with each other.
    A caller already inside a transaction keeps it: the check reads within it and leaves it open.
    """
    was_autocommit = target.autocommit
    idle = was_autocommit or target.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_IDLE
    if not idle:
        yield
        return
    target.autocommit = False
    try:
        with target.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield
    finally:
        if not target.closed:
            target.rollback()
            target.autocommit = was_autocommit


def check_consistency(
    source: sqlite3.Connection,
    target: psycopg2.extensions.connection,
    tables: Sequence[str] | None = None,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    full: bool = False,
    fast: bool = True,
    workers: int | None = None,
) -> ConsistencyReport:
    """Compare ``tables`` (all, in TABLE_NAMES order, by default) between SQLite and PostgreSQL.

    Accounts for every mapped column of every row: per-chunk digests are compared first (every
    table's, the two sides summed side by side) and rows read and compared only in chunks that differ
    (``workers`` processes sum the source's digests: one per core by default, 0 for none). ``full``
    compares every row instead, for the same verdict in about five times as long. ``fast`` is the
    default's old name, kept for callers: True changes nothing, False asks for ``full`` as it did.
    Memory holds one batch of ``batch_size`` rows per side. Registers a SQL function on ``source`` to
    sort its ids.
    """
    if batch_size < 1:
        raise ConsistencyError(f"batch size must be at least 1, not {batch_size}")
    full = full or not fast
    names = selected_tables(tables)
    source.create_function(UUID_KEY_FUNCTION, 1, uuid_key, deterministic=True)
    reports = []
    # The source's digests are summed by worker processes (one per core by default).
    workers = 0 if full else default_workers() if workers is None else workers
    with _read_only_snapshot(target), BatchPreparer.of(source, workers) as preparer:
        if not full:
            return ConsistencyReport(
                tuple(_check_by_digests(source, target, names, batch_size, preparer)), fast=True
            )
        for table in names:
            with _reading_target(table):
                reports.append(_check_every_row(source, target, table, batch_size))
    return ConsistencyReport(tuple(reports), fast=False)
