"""The PostgreSQL side of a check: one table's rows in id order as canonical text, and the rows set aside."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg2.extensions
from psycopg2 import sql

from ..digests import ChunkSummary, text_summary
from ..tables import TableSpec
from .normalise import SQL_RENDER, Row

_cursor_numbers = itertools.count()


class Target:
    """One table of the target database, read through server-side cursors."""

    def __init__(self, connection: psycopg2.extensions.connection, spec: TableSpec, batch_size: int) -> None:
        self.connection = connection
        self.spec = spec
        self.batch_size = batch_size
        self.table = sql.Identifier(spec.target_schema, spec.name)
        # Each column as canonical text, in the spec's column order.
        self.rendered = [
            sql.SQL(SQL_RENDER[column.kind]).format(c=sql.Identifier(column.target))
            for column in spec.columns
        ]

    def exists(self) -> bool:
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL", (self.table.as_string(self.connection),))
            return bool(cursor.fetchone()[0])

    def estimated_rows(self) -> int:
        """The planner's estimate of the table's rows (0 before it was first analysed)."""
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples FROM pg_class WHERE oid = %s::regclass",
                (self.table.as_string(self.connection),),
            )
            return max(0, int(cursor.fetchone()[0]))

    def count(self) -> int:
        with self.connection.cursor() as cursor:
            cursor.execute(sql.SQL("SELECT count(*) FROM {}").format(self.table))
            return int(cursor.fetchone()[0])

    def _stream(self, query: sql.Composable, params: Sequence[Any], name: str) -> Iterator[tuple[Any, ...]]:
        # A named cursor keeps the result on the server and fetches ``itersize`` rows per round trip.
        # Numbered: a stream abandoned by an error stays open until its generator is collected.
        with self.connection.cursor(name=f"verify_{self.spec.name}_{name}_{next(_cursor_numbers)}") as cursor:
            cursor.itersize = self.batch_size
            cursor.execute(query, params)
            yield from cursor

    def rows(self, prefixes: Sequence[str] | None = None, digits: int = 0) -> Iterator[Row]:
        """Every row (or those whose id starts with one of ``prefixes``) sorted by id, as canonical text."""
        where = sql.SQL("")
        params: list[Any] = []
        if prefixes is not None:
            where = sql.SQL("WHERE left(id::text, %s) = ANY(%s)")
            params = [digits, list(prefixes)]
        query = sql.SQL("SELECT id::text, {rendered} FROM {table} {where} ORDER BY id").format(
            rendered=sql.SQL(", ").join(self.rendered), table=self.table, where=where
        )
        for key, *values in self._stream(query, params, "rows"):
            yield Row(key, tuple(values))

    def text_chunks(self, digits: int) -> ChunkSummary:
        """The digest of each chunk of the rows as ``::text``, as a re-run's raw source rows are written."""
        with self.connection.cursor() as cursor:
            return text_summary(cursor, self.spec, digits)
