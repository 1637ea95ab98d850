"""The migration's own state in the target: ``migration.checkpoint``, ``migration.rejects`` and
``migration.range_digests``.

Every statement on those tables lives here. A table's checkpoint row says how far its current load
got (committed with each batch), whether that load is a first load into an empty table, and, while its
keys are dropped for that load, the statements that rebuild them. The range digests say what the source
held, range by range, when the rows the target holds were read (see range_digests.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any

import psycopg2.extensions
from psycopg2 import sql
from psycopg2.extras import execute_values

from .extract import BEFORE_FIRST_ROWID
from .tables import TableSpec

REJECTS = sql.Identifier("migration", "rejects")
CHECKPOINT = sql.Identifier("migration", "checkpoint")
RANGE_DIGESTS = sql.Identifier("migration", "range_digests")

_UPSERT_REJECT = sql.SQL(
    "ON CONFLICT (table_name, source_rowid) DO UPDATE SET source_id = EXCLUDED.source_id, "
    "reason = EXCLUDED.reason, raw = EXCLUDED.raw, rejected_at = now()"
)
_SAVE_REJECT = sql.SQL(
    "INSERT INTO {rejects} (table_name, source_rowid, source_id, reason, raw) VALUES (%s, %s, %s, %s, %s) {upsert}"
).format(rejects=REJECTS, upsert=_UPSERT_REJECT)


@dataclass(slots=True, frozen=True)
class Counts:
    """What happened to rows: read = inserted + updated + unchanged + rejected."""

    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0

    @classmethod
    def moved_to_rejects(cls, rows: int) -> Counts:
        """Rows counted inserted that a later check moved to the rejects."""
        return cls(inserted=-rows, rejected=rows)


@dataclass(slots=True, frozen=True)
class Checkpoint:
    """A table's row in ``migration.checkpoint``."""

    table: str
    fingerprint: str
    last_rowid: int
    finished: bool
    first_load: bool
    counts: Counts
    target_rows: int | None
    finished_snapshot: str | None
    deferred_ddl: tuple[str, ...] | None


@contextmanager
def transaction(connection: psycopg2.extensions.connection) -> Iterator[None]:
    """Commit what the block wrote, or roll it back on any error (the connection may be gone)."""
    try:
        yield
    except BaseException:
        if not connection.closed:
            connection.rollback()
        raise
    connection.commit()


def read_checkpoint(connection: psycopg2.extensions.connection, table: str) -> Checkpoint | None:
    """The table's checkpoint, or None when it has none (or the migration schema does not exist yet)."""
    with transaction(connection), connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('migration.checkpoint') IS NOT NULL")
        if not cursor.fetchone()[0]:
            return None
        cursor.execute(
            sql.SQL(
                "SELECT source_fingerprint, last_rowid, finished, first_load, rows_read, inserted, updated, "
                "unchanged, rejected, target_rows, finished_snapshot, deferred_ddl FROM {} "
                "WHERE table_name = %s"
            ).format(CHECKPOINT),
            (table,),
        )
        row = cursor.fetchone()
    if row is None:
        return None
    fingerprint, last_rowid, finished, first_load, *counts, target_rows, snapshot, ddl = row
    return Checkpoint(
        table,
        fingerprint,
        last_rowid,
        finished,
        first_load,
        Counts(*counts),
        target_rows,
        snapshot,
        None if ddl is None else tuple(ddl),
    )


def start_load(
    connection: psycopg2.extensions.connection,
    table: str,
    fingerprint: str,
    *,
    first_load: bool,
    keep_range_digests: bool = False,
) -> None:
    """Begin a new load of the table: its rejects cleared, its progress at zero (deferred keys are kept).

    The range digests go too, unless the load rewrites only ranges whose digests it replaces with theirs
    (``keep_range_digests``): any other write would leave them describing rows the target no longer holds.
    """
    with transaction(connection), connection.cursor() as cursor:
        cursor.execute(sql.SQL("DELETE FROM {} WHERE table_name = %s").format(REJECTS), (table,))
        if not keep_range_digests:
            cursor.execute(sql.SQL("DELETE FROM {} WHERE table_name = %s").format(RANGE_DIGESTS), (table,))
        cursor.execute(
            sql.SQL(
                "INSERT INTO {} (table_name, source_fingerprint, last_rowid, first_load) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (table_name) DO UPDATE SET source_fingerprint = EXCLUDED.source_fingerprint, "
                "last_rowid = EXCLUDED.last_rowid, finished = false, first_load = EXCLUDED.first_load, rows_read = 0, "
                "inserted = 0, updated = 0, unchanged = 0, rejected = 0, updated_at = now()"
            ).format(CHECKPOINT),
            (table, fingerprint, BEFORE_FIRST_ROWID, first_load),
        )


_COUNT_NAMES = tuple(counts_field.name for counts_field in fields(Counts))
_ADD_COUNTS = sql.SQL(", ").join(sql.SQL("{0} = {0} + %s").format(sql.Identifier(name)) for name in _COUNT_NAMES)
_SAVE_PROGRESS = sql.SQL("UPDATE {} SET {}, last_rowid = coalesce(%s, last_rowid), updated_at = now() WHERE table_name = %s").format(
    CHECKPOINT, _ADD_COUNTS
)


def save_progress(cursor: psycopg2.extensions.cursor, table: str, counts: Counts, last_rowid: int | None) -> None:
    """Add ``counts`` to the table's checkpoint (and move its resume point), inside the caller's transaction."""
    values: list[Any] = [getattr(counts, name) for name in _COUNT_NAMES]
    cursor.execute(_SAVE_PROGRESS, (*values, last_rowid, table))


def advance(
    connection: psycopg2.extensions.connection, table: str, counts: Counts, last_rowid: int | None = None
) -> None:
    """``save_progress`` in a transaction of its own."""
    with transaction(connection), connection.cursor() as cursor:
        save_progress(cursor, table, counts, last_rowid)


def finish_load(connection: psycopg2.extensions.connection, spec: TableSpec) -> None:
    """Mark the load finished, with the transactions running or not begun now and the table's row count."""
    with transaction(connection), connection.cursor() as cursor:
        cursor.execute(
            sql.SQL(
                # A transaction running now that commits later must still count as a later write.
                "UPDATE {checkpoint} SET finished = true, "
                "finished_snapshot = txid_current_snapshot()::text, "
                "target_rows = (SELECT count(*) FROM {target}), updated_at = now() WHERE table_name = %s"
            ).format(checkpoint=CHECKPOINT, target=sql.Identifier(spec.target_schema, spec.name)),
            (spec.name,),
        )


def untouched_since(connection: psycopg2.extensions.connection, spec: TableSpec, last: Checkpoint) -> bool:
    """Whether the target table is as the finished load ``last`` left it.

    It is when it has as many rows as that load left and none written by a transaction still running
    when it finished or begun since (``finished_snapshot``): an insert or update gives a row such an
    xmin, and a delete changes the count. Transactions of other sessions that ran at the time but wrote
    nothing here change nothing. Frozen rows read as the oldest xmin, so freezing changes nothing here.
    """
    if not last.finished or last.finished_snapshot is None:
        return False
    _, xmax, running = last.finished_snapshot.split(":")
    running_xids = [str(int(xid) % 2**32) for xid in running.split(",") if xid]
    # Per row only what must be: the threshold's age once, the list of running xids only when there is one.
    newer = sql.SQL("age(t.xmin) <= threshold.age")
    if running_xids:
        newer = sql.SQL("({} OR t.xmin = ANY(%(running)s::xid[]))").format(newer)
    with transaction(connection), connection.cursor() as cursor:
        cursor.execute(
            sql.SQL(
                # xmin is a 32-bit xid: compared by age, as PostgreSQL does. Past 2^30 transactions the
                # comparison could wrap: then the table is compared in full.
                "SELECT count(*), coalesce(bool_or({newer}), false) OR min(threshold.age) > 1073741824 "
                "FROM {table} AS t, (SELECT age(%(xmax)s::text::xid) AS age) AS threshold"
            ).format(newer=newer, table=sql.Identifier(spec.target_schema, spec.name)),
            {"xmax": int(xmax) % 2**32, "running": "{" + ",".join(running_xids) + "}"},
        )
        count, written_since = cursor.fetchone()
    return bool(count == last.target_rows and not written_since)


def record_deferred_ddl(cursor: psycopg2.extensions.cursor, table: str, statements: list[str]) -> bool:
    """Keep the statements that rebuild the table's keys, inside the transaction that drops them."""
    cursor.execute(
        sql.SQL("UPDATE {} SET deferred_ddl = %s WHERE table_name = %s").format(CHECKPOINT), (statements, table)
    )
    return bool(cursor.rowcount == 1)


def lock_deferred_ddl(cursor: psycopg2.extensions.cursor, table: str) -> list[str]:
    """The statements that rebuild the table's dropped keys (none when they are in place), row locked."""
    cursor.execute(
        sql.SQL("SELECT deferred_ddl FROM {} WHERE table_name = %s FOR UPDATE").format(CHECKPOINT), (table,)
    )
    row = cursor.fetchone()
    return [] if row is None or row[0] is None else list(row[0])


def clear_deferred_ddl(cursor: psycopg2.extensions.cursor, table: str) -> None:
    """The keys are back: forget the statements, inside the transaction that rebuilt them."""
    cursor.execute(
        sql.SQL("UPDATE {} SET deferred_ddl = NULL WHERE table_name = %s").format(CHECKPOINT), (table,)
    )


def save_reject(
    cursor: psycopg2.extensions.cursor, table: str, rowid: int, source_id: str | None, reason: str, raw: object
) -> None:
    """Keep one source row that could not be loaded, with its reason and the row as read."""
    cursor.execute(_SAVE_REJECT, (table, rowid, source_id, reason, json.dumps(raw)))


def set_aside(
    spec: TableSpec, stage: sql.Composable, condition: sql.Composable, reason: sql.Composable, using: sql.Composable
) -> sql.Composed:
    """A statement moving staged rows that match ``condition`` into the rejects with ``reason``."""
    return sql.SQL(
        "WITH bad AS (DELETE FROM {stage} AS s {using} WHERE {condition} RETURNING s.*, {reason} AS reason) "
        "INSERT INTO {rejects} (table_name, source_rowid, source_id, reason, raw) "
        "SELECT {table}, bad._rowid, bad.id::text, bad.reason, jsonb_build_object({raw}) FROM bad {upsert}"
    ).format(
        stage=stage,
        using=using,
        condition=condition,
        reason=reason,
        rejects=REJECTS,
        table=sql.Literal(spec.name),
        # Under the source's column names, like the rows rejected while parsing.
        raw=raw_json_fields(spec, "bad"),
        upsert=_UPSERT_REJECT,
    )


def raw_json_fields(spec: TableSpec, alias: str) -> sql.Composed:
    """The arguments of jsonb_build_object for a row of ``alias``, under the source's column names."""
    return sql.SQL(", ").join(
        sql.SQL("{}, {}.{}").format(sql.Literal(column.source), sql.Identifier(alias), sql.Identifier(column.target))
        for column in spec.columns
    )


def rejected_rows(connection: psycopg2.extensions.connection, table: str) -> dict[int, str | None]:
    """The table's rejected source rows, rowid -> source id as read, in the caller's transaction (a check's snapshot)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('migration.rejects') IS NOT NULL")
        if not cursor.fetchone()[0]:
            return {}
        cursor.execute(
            sql.SQL("SELECT source_rowid, source_id FROM {} WHERE table_name = %s").format(REJECTS), (table,)
        )
        # Held in memory: bounded by the migration's reject limit (1% of rows by default), not by table size.
        return {int(rowid): source_id for rowid, source_id in cursor}


def rejected_rowids(connection: psycopg2.extensions.connection, table: str) -> tuple[int, ...]:
    """The table's rejected source rowids, in order (a re-run parses their rows again)."""
    with transaction(connection), connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("SELECT source_rowid FROM {} WHERE table_name = %s ORDER BY source_rowid").format(REJECTS),
            (table,),
        )
        # Held in memory: bounded by the migration's reject limit, as in rejected_rows.
        return tuple(int(rowid) for (rowid,) in cursor)


def has_range_digests(connection: psycopg2.extensions.connection, table: str) -> bool:
    """Whether the last run of the table left range digests (tables from an older version have none)."""
    with transaction(connection), connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('migration.range_digests') IS NOT NULL")
        if not cursor.fetchone()[0]:
            return False
        cursor.execute(sql.SQL("SELECT EXISTS (SELECT FROM {} WHERE table_name = %s)").format(RANGE_DIGESTS), (table,))
        return bool(cursor.fetchone()[0])


def stored_range_digests(connection: psycopg2.extensions.connection, table: str) -> list[tuple[int, int, bytes]]:
    """``(after_rowid, last_rowid, digests)`` of each stored range of the table, in rowid order.

    Held in memory for the run of the table: about 300 bytes per batch, 2 MiB for 5.8 million rows in
    batches of 1,000.
    """
    with transaction(connection), connection.cursor() as cursor:
        cursor.execute(
            sql.SQL(
                "SELECT after_rowid, last_rowid, digests FROM {} WHERE table_name = %s ORDER BY after_rowid"
            ).format(RANGE_DIGESTS),
            (table,),
        )
        return [(int(after_rowid), int(last_rowid), bytes(digests)) for after_rowid, last_rowid, digests in cursor]


def save_range_digests(
    cursor: psycopg2.extensions.cursor, table: str, after_rowid: int, last_rowid: int, digests: bytes
) -> None:
    """Keep a batch's range digests, inside the transaction that writes its rows.

    Ranges stored by an earlier run with other batch bounds (a resumed load) go where they overlap:
    their rows fall in no stored range, which only has the next re-run parse them.
    """
    cursor.execute(
        sql.SQL("DELETE FROM {} WHERE table_name = %s AND after_rowid < %s AND last_rowid > %s").format(RANGE_DIGESTS),
        (table, last_rowid, after_rowid),
    )
    cursor.execute(
        sql.SQL(
            "INSERT INTO {} (table_name, after_rowid, last_rowid, digests) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (table_name, after_rowid) DO UPDATE SET last_rowid = EXCLUDED.last_rowid, "
            "digests = EXCLUDED.digests"
        ).format(RANGE_DIGESTS),
        (table, after_rowid, last_rowid, digests),
    )


def replace_range_digests(
    connection: psycopg2.extensions.connection, table: str, ranges: Iterable[tuple[int, int, bytes]]
) -> None:
    """Store the range digests of the whole table in one transaction, in place of any kept."""
    with transaction(connection), connection.cursor() as cursor:
        cursor.execute(sql.SQL("DELETE FROM {} WHERE table_name = %s").format(RANGE_DIGESTS), (table,))
        execute_values(
            cursor,
            sql.SQL("INSERT INTO {} (table_name, after_rowid, last_rowid, digests) VALUES %s").format(RANGE_DIGESTS),
            [(table, after_rowid, last_rowid, digests) for after_rowid, last_rowid, digests in ranges],
            page_size=1000,
        )


def forget_range_digests(connection: psycopg2.extensions.connection, table: str) -> None:
    """Drop the table's range digests: the next re-run compares both sides instead."""
    with transaction(connection), connection.cursor() as cursor:
        cursor.execute(sql.SQL("DELETE FROM {} WHERE table_name = %s").format(RANGE_DIGESTS), (table,))
