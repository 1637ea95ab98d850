"""Keys and indexes built after a first load rather than maintained row by row during it.

Into an empty table PostgreSQL builds an index by sorting once, which costs a fraction of inserting
a million random uuids into a b-tree one at a time (docs/BENCHMARKS.md). So a first load drops the
table's primary key, unique constraints and indexes, and rebuilds them when the table is loaded.

Crash-safe: the statements that rebuild them are committed in the table's checkpoint row in the same
transaction that drops them, and any later run rebuilds them before it touches the table.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import psycopg2
import psycopg2.errors
import psycopg2.extensions
from psycopg2 import sql

from .load import CHECKPOINT, SAVE_REJECT, natural_key_label, raw_json_fields, transaction
from .tables import TableSpec

log = logging.getLogger(__name__)


def _target(spec: TableSpec) -> sql.Identifier:
    return sql.Identifier(spec.target_schema, spec.name)


def defer_keys(connection: psycopg2.extensions.connection, spec: TableSpec) -> bool:
    """Drop the empty table's keys and indexes, recording how to rebuild them; False when that is not safe.

    Not safe when the table has rows, when a table pointing at its primary key has rows (its foreign
    key would have to be checked again), or when this role does not own the tables.
    """
    # The table's name as regclass input: quoted, so it is read exactly as the identifier it is.
    table = _target(spec).as_string(connection)
    try:
        with transaction(connection), connection.cursor() as cursor:
            cursor.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(_target(spec)))
            cursor.execute(sql.SQL("SELECT EXISTS (SELECT FROM {})").format(_target(spec)))
            if cursor.fetchone()[0]:
                return False
            # Keys of the table itself, primary key first.
            cursor.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = %s::regclass AND contype IN ('p', 'u') ORDER BY contype <> 'p', conname",
                (table,),
            )
            keys = cursor.fetchall()
            # Indexes that back no constraint.
            cursor.execute(
                "SELECT n.nspname, c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index AS i "
                "JOIN pg_class AS c ON c.oid = i.indexrelid JOIN pg_namespace AS n ON n.oid = c.relnamespace "
                "WHERE i.indrelid = %s::regclass AND NOT EXISTS (SELECT FROM pg_constraint AS k "
                "WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid) ORDER BY c.relname",
                (table,),
            )
            indexes = cursor.fetchall()
            # Foreign keys of other tables that point here: dropping the primary key drops them too.
            cursor.execute(
                "SELECT n.nspname, c.relname, k.conname, pg_get_constraintdef(k.oid) FROM pg_constraint AS k "
                "JOIN pg_class AS c ON c.oid = k.conrelid JOIN pg_namespace AS n ON n.oid = c.relnamespace "
                "WHERE k.confrelid = %s::regclass AND k.contype = 'f' AND k.conrelid <> k.confrelid "
                "ORDER BY c.relname, k.conname",
                (table,),
            )
            referencing = cursor.fetchall()
            for schema, name, *_ in referencing:
                cursor.execute(sql.SQL("SELECT EXISTS (SELECT FROM {})").format(sql.Identifier(schema, name)))
                if cursor.fetchone()[0]:
                    return False
            if not keys and not indexes:
                return False
            rebuild = [
                sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                    _target(spec), sql.Identifier(name), sql.SQL(definition)
                )
                for name, definition in keys
            ]
            rebuild += [sql.SQL(definition) for _, _, definition in indexes]
            rebuild += [
                sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                    sql.Identifier(schema, name), sql.Identifier(constraint), sql.SQL(definition)
                )
                for schema, name, constraint, definition in referencing
            ]
            cursor.execute(
                sql.SQL("UPDATE {} SET deferred_ddl = %s WHERE table_name = %s").format(CHECKPOINT),
                ([statement.as_string(connection) for statement in rebuild], spec.name),
            )
            if cursor.rowcount != 1:  # no checkpoint row to keep the statements in: keep the keys
                return False
            for name, _ in keys:
                cursor.execute(
                    sql.SQL("ALTER TABLE {} DROP CONSTRAINT {} CASCADE").format(
                        _target(spec), sql.Identifier(name)
                    )
                )
            for schema, name, _ in indexes:
                cursor.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(schema, name)))
    except psycopg2.errors.InsufficientPrivilege:
        log.info("%s: this role may not drop the table's keys; they are kept during the load", spec.name)
        return False
    log.info("%s: keys and indexes are built after the load", spec.name)
    return True


def keys_deferred(connection: psycopg2.extensions.connection, spec: TableSpec) -> bool:
    """Whether a first load of the table dropped its keys and has not rebuilt them yet."""
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("SELECT deferred_ddl IS NOT NULL FROM {} WHERE table_name = %s").format(CHECKPOINT),
            (spec.name,),
        )
        row = cursor.fetchone()
    connection.rollback()
    return bool(row and row[0])


def restore_keys(
    connection: psycopg2.extensions.connection, spec: TableSpec, rowid_of: Callable[[str], int]
) -> int:
    """Rebuild the keys and indexes a first load deferred; returns how many rows were moved to the rejects.

    Rows that repeat a unique key (the natural key of a link table) would fail the rebuild: the later
    source row of each such pair is moved to the rejects, as a load with the keys in place does.
    """
    moved = 0
    with transaction(connection), connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("SELECT deferred_ddl FROM {} WHERE table_name = %s FOR UPDATE").format(CHECKPOINT),
            (spec.name,),
        )
        row = cursor.fetchone()
        if row is None or row[0] is None:
            return 0
        statements: list[str] = row[0]
        cursor.execute("SAVEPOINT rebuild")
        try:
            for statement in statements:
                cursor.execute(statement)
        except psycopg2.errors.UniqueViolation:
            # Clean data is the rule: pay for finding the repeats only when the rebuild refuses them.
            cursor.execute("ROLLBACK TO SAVEPOINT rebuild")
            moved = _reject_repeated_keys(cursor, spec, rowid_of)
            for statement in statements:
                cursor.execute(statement)
        cursor.execute(
            sql.SQL(
                "UPDATE {} SET deferred_ddl = NULL, inserted = inserted - %s, rejected = rejected + %s "
                "WHERE table_name = %s"
            ).format(CHECKPOINT),
            (moved, moved, spec.name),
        )
    log.info("%s: keys and indexes rebuilt", spec.name)
    return moved


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
                cursor.execute(SAVE_REJECT, (spec.name, rowid, loaded_id, reason, json.dumps(raw)))
                moved += 1
    return moved
