"""Extract: stream a source table out of SQLite in batches, in rowid order."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

from .errors import SourceError
from .tables import TableSpec

# (rowid, *source column values): the rowid orders the read and is the resume point.
SourceRow = tuple[Any, ...]


def _quote(identifier: str) -> str:
    # SQLite has no driver-side identifier quoting; double quotes with doubled inner quotes is its rule.
    return '"' + identifier.replace('"', '""') + '"'


def source_columns(connection: sqlite3.Connection, table: str) -> list[str]:
    """The columns the source table really has; SourceError when the table is missing."""
    try:
        rows = connection.execute(f"SELECT name FROM pragma_table_info({_quote_literal(table)})").fetchall()
    except sqlite3.DatabaseError as error:
        raise SourceError(f"cannot read the schema: {error}", table=table) from error
    if not rows:
        raise SourceError("the SQLite file has no such table", table=table)
    return [row[0] for row in rows]


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def check_source_table(connection: sqlite3.Connection, spec: TableSpec) -> None:
    """Fail early, naming the columns, when the source table lacks a mapped column."""
    present = set(source_columns(connection, spec.name))
    missing = [column for column in spec.source_columns if column not in present]
    if missing:
        raise SourceError(f"the SQLite table lacks column(s) {', '.join(missing)}", table=spec.name)


def count_rows(connection: sqlite3.Connection, spec: TableSpec, after_rowid: int = 0) -> int:
    """How many rows a read from ``after_rowid`` will yield, for progress reporting."""
    sql = f"SELECT count(*) FROM {_quote(spec.name)} WHERE rowid > ?"
    try:
        return int(connection.execute(sql, (after_rowid,)).fetchone()[0])
    except sqlite3.DatabaseError as error:
        raise SourceError(f"cannot count rows: {error}", table=spec.name) from error


def unmapped_data(connection: sqlite3.Connection, spec: TableSpec) -> dict[str, int]:
    """Source columns with no target column that hold data: column -> non-NULL rows."""
    present = set(source_columns(connection, spec.name))
    known = set(spec.source_columns)
    extra = [column for column in present if column not in known]
    counts: dict[str, int] = {}
    for column in extra:
        sql = f"SELECT count(*) FROM {_quote(spec.name)} WHERE {_quote(column)} IS NOT NULL"
        non_null = int(connection.execute(sql).fetchone()[0])
        if non_null:
            counts[column] = non_null
    return counts


def read_rows(
    connection: sqlite3.Connection, spec: TableSpec, batch_size: int, after_rowid: int = 0
) -> Iterator[SourceRow]:
    """Yield ``(rowid, *columns)`` for every row after ``after_rowid``, fetching ``batch_size`` at a time."""
    columns = ", ".join(_quote(column) for column in spec.source_columns)
    sql = f"SELECT rowid, {columns} FROM {_quote(spec.name)} WHERE rowid > ? ORDER BY rowid"
    try:
        cursor = connection.execute(sql, (after_rowid,))
        while rows := cursor.fetchmany(batch_size):
            yield from rows
    except sqlite3.DatabaseError as error:
        raise SourceError(f"cannot read rows: {error}", table=spec.name) from error
