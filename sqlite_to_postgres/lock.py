"""One run of a table at a time: PostgreSQL advisory locks keyed on the target table.

A load holds its table's lock exclusively, and its parent tables' locks shared, for as long as its
connection lives: a crash or a dropped connection frees them. A check holds its tables' locks shared.
So two loads of one table queue, a parent is not reloaded under a child's load, and a check never
reads a half-loaded table; loads of different tables still run side by side. Locks are always taken
in foreign-key order, so two runs cannot wait for each other in a cycle.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg2.extensions
from psycopg2 import sql

from .errors import TargetError
from .tables import TABLE_NAMES, get_table

log = logging.getLogger(__name__)

# First half of every lock key: says the lock is this tool's, whatever else takes advisory locks.
_NAMESPACE = 0x5174_7067  # "Qtpg"
_POLL_SECONDS = 0.2


@dataclass(slots=True, frozen=True)
class TableLock:
    """A table's lock, exclusive (a load) or shared (a load of a child, a check)."""

    table: str
    shared: bool

    def key(self) -> sql.Composed:
        spec = get_table(self.table)
        return sql.SQL("{}, hashtext({})").format(
            sql.Literal(_NAMESPACE), sql.Literal(f"{spec.target_schema}.{spec.name}")
        )


def load_locks(table: str) -> list[TableLock]:
    """What a load of ``table`` holds: its own lock, and its parents' shared, in foreign-key order."""
    parents = {key.parent for key in get_table(table).foreign_keys}
    return _ordered([TableLock(table, shared=False), *(TableLock(parent, shared=True) for parent in parents)])


def check_locks(tables: Iterable[str]) -> list[TableLock]:
    """What a check of ``tables`` holds: each shared."""
    return _ordered([TableLock(table, shared=True) for table in tables])


def _ordered(locks: list[TableLock]) -> list[TableLock]:
    return sorted(locks, key=lambda lock: TABLE_NAMES.index(lock.table))


@contextmanager
def holding(
    connection: psycopg2.extensions.connection, locks: list[TableLock], timeout: float, purpose: str
) -> Iterator[None]:
    """Hold ``locks`` for the block, waiting up to ``timeout`` seconds for each; TargetError past that."""
    held: list[TableLock] = []
    try:
        for lock in locks:
            _acquire(connection, lock, timeout, purpose)
            held.append(lock)
        yield
    finally:
        if not connection.closed:
            for lock in reversed(held):
                _release(connection, lock)


def _acquire(connection: psycopg2.extensions.connection, lock: TableLock, timeout: float, purpose: str) -> None:
    # Polled rather than blocking, so the wait can be logged, bounded and interrupted with Ctrl-C.
    function = sql.SQL("pg_try_advisory_lock_shared" if lock.shared else "pg_try_advisory_lock")
    deadline = time.monotonic() + timeout
    logged = False
    while True:
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL("SELECT {}({})").format(function, lock.key()))
            acquired = bool(cursor.fetchone()[0])
        connection.commit()
        if acquired:
            if logged:
                log.info("%s: the other run is done; %s goes on", lock.table, purpose)
            return
        holder = _holder(connection, lock)
        if not logged:
            log.warning("%s: waiting for %s (%s) for up to %.0f s", lock.table, holder, purpose, timeout)
            logged = True
        if time.monotonic() >= deadline:
            raise TargetError(
                f"another run still holds the table after {timeout:.0f} s ({holder}); "
                "try again later or raise the lock timeout",
                table=lock.table,
            )
        time.sleep(_POLL_SECONDS)


def _release(connection: psycopg2.extensions.connection, lock: TableLock) -> None:
    function = sql.SQL("pg_advisory_unlock_shared" if lock.shared else "pg_advisory_unlock")
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("SELECT {}({})").format(function, lock.key()))
    connection.commit()


def _holder(connection: psycopg2.extensions.connection, lock: TableLock) -> str:
    """Who holds the lock, for people: which program, which server process, connected since when."""
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL(
                "SELECT a.application_name, a.pid, to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ'), "
                "l.mode = 'ShareLock' FROM pg_locks AS l JOIN pg_stat_activity AS a ON a.pid = l.pid "
                # pg_locks lists every database's locks; advisory locks are per database.
                "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 "
                "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND (l.classid::bigint, l.objid::bigint) = "
                "(({0})::bigint, (hashtext({1})::bigint + 4294967296) % 4294967296) "
                "AND a.pid <> pg_backend_pid() ORDER BY a.backend_start LIMIT 1"
            ).format(
                sql.Literal(_NAMESPACE),
                sql.Literal(f"{get_table(lock.table).target_schema}.{lock.table}"),
            )
        )
        row = cursor.fetchone()
    connection.commit()
    if row is None:
        return "another run, which has just finished"
    application, pid, since, shared = row
    role = "a run reading it" if shared else "a run loading it"
    return f"{role}: {application or 'unnamed client'}, server pid {pid}, connected since {since}"
