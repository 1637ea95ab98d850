"""Keys and indexes built after a first load rather than maintained row by row during it.

Into an empty table PostgreSQL builds an index by sorting once, which costs a fraction of inserting
a million random uuids into a b-tree one at a time (docs/BENCHMARKS.md). So a first load drops the
table's primary key, unique constraints and indexes, and rebuilds them when the table is loaded.

Crash-safe: the statements that rebuild them are committed in the table's checkpoint row in the same
transaction that drops them. A resumed first load keeps them dropped; any other later run rebuilds them
before it touches the table. Rebuilding converges: a key or index that already exists (rebuilt by an
earlier try, or made by hand) is left as it is, so no mix of present and missing keys can block it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import psycopg2
import psycopg2.errors
import psycopg2.extensions
from psycopg2 import sql

from .state import (
    Counts,
    clear_deferred_ddl,
    lock_deferred_ddl,
    raw_json_fields,
    record_deferred_ddl,
    save_progress,
    save_reject,
    transaction,
)
from .tables import TableSpec

log = logging.getLogger(__name__)

# What PostgreSQL says when a rebuild statement finds its key or index already there: a relation of that
# name (an index), a constraint of that name, or a second primary key.
_ALREADY_THERE = (
    psycopg2.errors.DuplicateTable,
    psycopg2.errors.DuplicateObject,
    psycopg2.errors.InvalidTableDefinition,
)


def _target(spec: TableSpec) -> sql.Identifier:
    return sql.Identifier(spec.target_schema, spec.name)


def natural_key_label(spec: TableSpec) -> str:
    """How a reject names a repeated natural key: ``duplicate (film_work_id, genre_id)``."""
    return f"duplicate ({', '.join(spec.natural_key)})"


def defer_keys(connection: psycopg2.extensions.connection, spec: TableSpec) -> bool:
    """Drop the empty table's keys and indexes, recording how to rebuild them; False when that is not safe.

    Not safe when the table has rows, when a table pointing at its primary key has rows (its foreign
    key would have to be checked again), or when this role does not own the tables.
    """
    try:
        with transaction(connection), connection.cursor() as cursor:
            cursor.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(_target(spec)))
            keys, indexes, referencing = _keys_of(cursor, _target(spec).as_string(connection))
            children = [sql.Identifier(schema, name) for schema, name, _, _ in referencing]
            if any(_has_rows(cursor, table) for table in [_target(spec), *children]):
                return False
            if not keys and not indexes:
                return False
            rebuild = [_add_constraint(_target(spec), name, definition) for name, definition in keys]
            rebuild += [sql.SQL(definition) for _, _, definition in indexes]
            rebuild += [
                _add_constraint(sql.Identifier(schema, name), constraint, definition)
                for schema, name, constraint, definition in referencing
            ]
            statements = [statement.as_string(connection) for statement in rebuild]
            if not record_deferred_ddl(cursor, spec.name, statements):
                return False  # no checkpoint row to keep the statements in: keep the keys
            for name, _ in keys:
                cursor.execute(
                    sql.SQL("ALTER TABLE {} DROP CONSTRAINT {} CASCADE").format(_target(spec), sql.Identifier(name))
                )
            for schema, name, _ in indexes:
                cursor.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(schema, name)))
    except psycopg2.errors.InsufficientPrivilege:
        log.info("%s: this role may not drop the table's keys; they are kept during the load", spec.name)
        return False
    log.info("%s: keys and indexes are built after the load", spec.name)
    return True


def _keys_of(
    cursor: psycopg2.extensions.cursor, table: str
) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]], list[tuple[str, str, str, str]]]:
    """The table's own keys (primary first), its indexes that back no key, and other tables' foreign keys to it."""
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('p', 'u') ORDER BY contype <> 'p', conname",
        (table,),
    )
    keys = cursor.fetchall()
    cursor.execute(
        "SELECT n.nspname, c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index AS i "
        "JOIN pg_class AS c ON c.oid = i.indexrelid JOIN pg_namespace AS n ON n.oid = c.relnamespace "
        "WHERE i.indrelid = %s::regclass AND NOT EXISTS (SELECT FROM pg_constraint AS k "
        "WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid) ORDER BY c.relname",
        (table,),
    )
    indexes = cursor.fetchall()
    # Dropping the primary key drops these too (CASCADE); they are rebuilt with it.
    cursor.execute(
        "SELECT n.nspname, c.relname, k.conname, pg_get_constraintdef(k.oid) FROM pg_constraint AS k "
        "JOIN pg_class AS c ON c.oid = k.conrelid JOIN pg_namespace AS n ON n.oid = c.relnamespace "
        "WHERE k.confrelid = %s::regclass AND k.contype = 'f' AND k.conrelid <> k.confrelid "
        "ORDER BY c.relname, k.conname",
        (table,),
    )
    return keys, indexes, cursor.fetchall()


def _add_constraint(table: sql.Identifier, name: str, definition: str) -> sql.Composed:
    return sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(table, sql.Identifier(name), sql.SQL(definition))


def _has_rows(cursor: psycopg2.extensions.cursor, table: sql.Identifier) -> bool:
    cursor.execute(sql.SQL("SELECT EXISTS (SELECT FROM {})").format(table))
    return bool(cursor.fetchone()[0])


def restore_keys(
    connection: psycopg2.extensions.connection, spec: TableSpec, rowid_of: Callable[[str], int]
) -> int:
    """Rebuild the keys and indexes a first load deferred; returns how many rows were moved to the rejects.

    Rows that repeat a unique key (the natural key of a link table) would fail the rebuild: the later
    source row of each such pair is moved to the rejects, as a load with the keys in place does. The
    checkpoint's counts follow in the same transaction.
    """
    moved = 0
    with transaction(connection), connection.cursor() as cursor:
        statements = lock_deferred_ddl(cursor, spec.name)
        if not statements:
            return 0
        for statement in statements:
            moved += _rebuild(cursor, spec, statement, rowid_of)
        clear_deferred_ddl(cursor, spec.name)
        save_progress(cursor, spec.name, Counts.moved_to_rejects(moved), None)
    log.info("%s: keys and indexes rebuilt", spec.name)
    return moved


def _rebuild(
    cursor: psycopg2.extensions.cursor, spec: TableSpec, statement: str, rowid_of: Callable[[str], int]
) -> int:
    """Run one rebuild statement unless its key is already there; returns the rows it moved to the rejects."""
    cursor.execute("SAVEPOINT rebuild")
    try:
        cursor.execute(statement)
    except _ALREADY_THERE as error:
        cursor.execute("ROLLBACK TO SAVEPOINT rebuild")
        log.info("%s: already in place, kept as it is: %s", spec.name, str(error).strip().splitlines()[0])
        return 0
    except psycopg2.errors.UniqueViolation:
        # Clean data is the rule: pay for finding the repeats only when the rebuild refuses them.
        cursor.execute("ROLLBACK TO SAVEPOINT rebuild")
        moved = _reject_repeated_keys(cursor, spec, rowid_of)
        cursor.execute(statement)
        return moved
    cursor.execute("RELEASE SAVEPOINT rebuild")
    return 0


def _reject_repeated_keys(
    cursor: psycopg2.extensions.cursor, spec: TableSpec, rowid_of: Callable[[str], int]
) -> int:
    """Move all but the first source row of each repeated natural key into the rejects table.

    Repeated ids need no such step: they are found in the source and rejected before loading.
    """
    moved = 0
    if key := spec.natural_key:
        columns = sql.SQL(", ").join(sql.Identifier(column) for column in key)
        cursor.execute(
            sql.SQL("SELECT array_agg(ctid::text) FROM {} GROUP BY {} HAVING count(*) > 1").format(
                _target(spec), columns
            )
        )
        for ctids in [group for (group,) in cursor.fetchall()]:
            rows = []
            for ctid in ctids:
                cursor.execute(
                    sql.SQL(
                        "SELECT id::text, jsonb_build_object({}) FROM {} AS t WHERE ctid = %s::tid"
                    ).format(raw_json_fields(spec, "t"), _target(spec)),
                    (ctid,),
                )
                loaded_id, raw = cursor.fetchone()
                rows.append((rowid_of(loaded_id), ctid, loaded_id, raw))
            rows.sort()
            first = rows[0][0]
            for rowid, ctid, loaded_id, raw in rows[1:]:
                cursor.execute(sql.SQL("DELETE FROM {} WHERE ctid = %s::tid").format(_target(spec)), (ctid,))
                reason = f"{natural_key_label(spec)}: same as source rowid {first}"
                save_reject(cursor, spec.name, rowid, loaded_id, reason, raw)
                moved += 1
    return moved
