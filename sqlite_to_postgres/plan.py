"""Plan a table's run before it loads: read the checkpoint and the target once, and decide what to do.

skip          neither the source file nor the target table changed since the last finished load
resume        an interrupted load of the same source goes on after its last committed batch, in its
              own way: a resumed first load stays a first load (COPY, keys still dropped)
first load    the target table is empty: COPY straight in, keys and indexes built after the rows
re-run        the table has rows: when the table is untouched since the last finished run, compare the
              source's range digests with those that run stored and parse only the ranges that changed;
              otherwise compare both sides per chunk of ids and parse only the chunks that differ
full refresh  as asked: read every row and upsert it
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from enum import StrEnum

import psycopg2.extensions
from psycopg2 import sql

from .extract import BEFORE_FIRST_ROWID, count_rows
from .load import may_skip_triggers
from .options import RunOptions
from .state import (
    Checkpoint,
    Counts,
    has_range_digests,
    read_checkpoint,
    rejected_rowids,
    transaction,
    untouched_since,
)
from .tables import TABLES, TableSpec

log = logging.getLogger(__name__)


class Action(StrEnum):
    SKIP = "skip"
    RESUME = "resume"
    FIRST_LOAD = "first load"
    RERUN = "re-run"
    FULL_REFRESH = "full refresh"


@dataclass(slots=True, frozen=True)
class Plan:
    """What a table's run will do, decided before it writes anything."""

    table: str
    action: Action
    fingerprint: str
    rows: int  # source rows this run reads
    after_rowid: int  # where reading starts (a resumed load's last committed rowid)
    earlier: Counts  # what the load this plan builds on committed: the one resumed, or the one a skip keeps
    direct: bool  # COPY straight into the target
    drop_keys: bool  # drop the keys and indexes now, rebuild them after the rows
    keys_dropped: bool  # they are already dropped by the load this run resumes, and stay so
    skip_link_triggers: bool  # COPY without the per-row foreign-key checks, check links set-based at the end
    compare_chunks: bool  # a re-run: parse only chunks of ids whose digests differ
    # Tables whose keys an earlier, unfinished load left dropped, rebuilt before this load: a parent, or
    # this table when its interrupted load is not resumed.
    rebuild_first: tuple[str, ...]
    # A re-run of a table untouched since the last run: parse only the source ranges changed since, and
    # the rows rejected then (read before this run clears the rejects).
    since_last: bool = False
    rejected_rowids: tuple[int, ...] = ()

    def describe(self) -> str:
        """One line for the log: ``film_work: first load, keys deferred, 99,900 rows``."""
        if self.action is Action.SKIP:
            return f"{self.table}: skip, neither the source file nor the table changed since the last finished load"
        parts = [self.action.value]
        if self.action is Action.RESUME:
            parts[0] = f"resume after {self.earlier.rows_read:,} rows ({'first load' if self.direct else 'upsert'})"
        if self.drop_keys or self.keys_dropped:
            parts.append("keys deferred")
        if self.skip_link_triggers:
            parts.append("links checked at the end")
        if self.compare_chunks:
            parts.append("changed chunks only")
        if self.since_last:
            parts.append("rows changed since the last run only")
        if self.rebuild_first:
            parts.append(f"rebuilding the keys of {', '.join(self.rebuild_first)} first")
        parts.append(f"{self.rows:,} rows")
        return f"{self.table}: {', '.join(parts)}"


def decide(
    source: sqlite3.Connection,
    target: psycopg2.extensions.connection,
    spec: TableSpec,
    options: RunOptions,
    fingerprint: str,
) -> Plan:
    """The plan for one table's run; reads the checkpoint and the target, writes nothing."""
    last = read_checkpoint(target, spec.name)
    rebuild = [parent for parent in _parents(spec) if _keys_dropped(target, parent)]
    if _resumable(last, fingerprint, options):
        assert last is not None
        direct = last.first_load
        return Plan(
            spec.name,
            Action.RESUME,
            fingerprint,
            count_rows(source, spec, last.last_rowid),
            last.last_rowid,
            last.counts,
            direct=direct,
            drop_keys=False,
            keys_dropped=last.deferred_ddl is not None,
            skip_link_triggers=direct and bool(spec.foreign_keys) and may_skip_triggers(target, spec),
            compare_chunks=False,
            rebuild_first=tuple(rebuild),
        )
    if last is not None and last.deferred_ddl is not None:
        rebuild.append(spec.name)
    rows = count_rows(source, spec)
    skip = not (options.full_refresh or options.delete_missing) and last is not None and last.fingerprint == fingerprint
    if skip and last is not None and not rebuild and untouched_since(target, spec, last):
        return Plan(
            spec.name, Action.SKIP, fingerprint, 0, BEFORE_FIRST_ROWID, last.counts, False, False, False, False, False, ()
        )
    empty = _is_empty(target, spec)
    action = Action.FIRST_LOAD if empty else Action.FULL_REFRESH if options.full_refresh else Action.RERUN
    since_last = (
        action is Action.RERUN
        and last is not None
        and not rebuild
        and has_range_digests(target, spec.name)
        and untouched_since(target, spec, last)
    )
    skip_triggers = empty and bool(spec.foreign_keys) and may_skip_triggers(target, spec)
    # Without the trigger skip, a refused batch would need the keys back in the middle of the load.
    drop_keys = empty and (skip_triggers or not spec.foreign_keys) and _may_drop_keys(target, spec)
    return Plan(
        spec.name,
        action,
        fingerprint,
        rows,
        BEFORE_FIRST_ROWID,
        Counts(),
        direct=empty,
        drop_keys=drop_keys,
        keys_dropped=False,
        skip_link_triggers=skip_triggers,
        compare_chunks=action is Action.RERUN and not since_last,
        rebuild_first=tuple(rebuild),
        since_last=since_last,
        rejected_rowids=rejected_rowids(target, spec.name) if since_last else (),
    )


def _resumable(last: Checkpoint | None, fingerprint: str, options: RunOptions) -> bool:
    return (
        last is not None
        and not last.finished
        and last.fingerprint == fingerprint
        and last.counts.rows_read > 0
        and not options.full_refresh
    )


def _parents(spec: TableSpec) -> list[str]:
    return list(dict.fromkeys(key.parent for key in spec.foreign_keys))


def _keys_dropped(target: psycopg2.extensions.connection, table: str) -> bool:
    last = read_checkpoint(target, table)
    return last is not None and last.deferred_ddl is not None


def _is_empty(target: psycopg2.extensions.connection, spec: TableSpec) -> bool:
    with transaction(target), target.cursor() as cursor:
        cursor.execute(
            sql.SQL("SELECT NOT EXISTS (SELECT FROM {})").format(sql.Identifier(spec.target_schema, spec.name))
        )
        return bool(cursor.fetchone()[0])


def _may_drop_keys(target: psycopg2.extensions.connection, spec: TableSpec) -> bool:
    """Whether this role owns the table and every table whose foreign keys point at it, all of them empty.

    Dropping the primary key drops those foreign keys too, and a child with rows would need them checked
    again.
    """
    children = [other for other in TABLES.values() if any(key.parent == spec.name for key in other.foreign_keys)]
    with transaction(target), target.cursor() as cursor:
        for table in [spec, *children]:
            name = sql.Identifier(table.target_schema, table.name)
            cursor.execute(
                sql.SQL(
                    "SELECT pg_has_role(current_user, relowner, 'USAGE'), NOT EXISTS (SELECT FROM {}) "
                    "FROM pg_class WHERE oid = {}::regclass"
                ).format(name, sql.Literal(name.as_string(target)))
            )
            owner, empty = cursor.fetchone()
            if not owner:
                log.info("%s: this role may not drop the table's keys; they are kept during the load", spec.name)
                return False
            if not empty:
                return False
    return True
