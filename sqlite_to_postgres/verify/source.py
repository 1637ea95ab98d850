"""The SQLite side of a check: one table's rows in canonical id order, less the rows set aside."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Iterator

from ..errors import ConsistencyError, SourceError
from ..extract import quote, tolerant_text
from ..tables import Column, TableSpec
from .normalise import CANONICAL_UUID_GLOB, Row, normaliser

# Registered on the SQLite connection; the name is long so it cannot shadow a user's function.
UUID_KEY_FUNCTION = "sqlite_to_postgres_verify_uuid_key"


def _hex_digits(digits: int) -> re.Pattern[str]:
    return re.compile(f"[0-9a-f]{{{int(digits)}}}")


class UndecodableSource(Exception):
    """The table holds text that is not UTF-8: it must be read again with the tolerant decoder."""


def id_column(spec: TableSpec) -> Column:
    """The column rows are ordered and matched by."""
    for column in spec.columns:
        if column.target == "id":
            return column
    raise ConsistencyError("the table has no id column to order rows by", table=spec.name)


class Source:
    """One table of the SQLite file, ``rejects`` (source rowid -> source id) being the rows set aside."""

    def __init__(
        self, connection: sqlite3.Connection, spec: TableSpec, rejects: dict[int, str | None], batch_size: int
    ) -> None:
        self.connection = connection
        self.spec = spec
        self.rejects = rejects
        self.batch_size = batch_size
        self.normalisers = [normaliser(column) for column in spec.columns]
        ids = id_column(spec)
        self.id_index = spec.columns.index(ids)
        columns = ", ".join(quote(column) for column in spec.source_columns)
        self.source_id = quote(ids.source)
        # typeof: GLOB would match a blob holding the same bytes, which the migration refuses as no uuid.
        sort_key = (
            f"CASE WHEN typeof({self.source_id}) = 'text' AND {self.source_id} GLOB '{CANONICAL_UUID_GLOB}' "
            f"THEN {self.source_id} ELSE {UUID_KEY_FUNCTION}({self.source_id}) END"
        )
        self.query = f"SELECT {sort_key} AS sort_key, rowid, {columns} FROM {quote(spec.name)}"

    def count(self) -> int:
        try:
            return int(self.connection.execute(f"SELECT count(*) FROM {quote(self.spec.name)}").fetchone()[0])
        except sqlite3.DatabaseError as error:
            raise SourceError(f"cannot count rows: {error}", table=self.spec.name) from error

    def _is_rejected(self, rowid: int, raw_id: object, key: str | None) -> bool:
        if rowid not in self.rejects:
            return False
        # The rowid alone could name another row if the file changed since the migration; the id confirms it.
        source_id = self.rejects[rowid]
        return source_id is None or source_id in (raw_id, key)

    def _in_raw_chunks(self, digits: int, chunks: Iterable[str], other_spellings: bool) -> tuple[str, str]:
        """The rows whose id as written starts with one of ``chunks`` (those of lowercase hex digits),
        and with ``other_spellings`` every row whose id does not start so (a few rows' worth of tests:
        ids in capitals, braces or no text at all are rare): (this query, its parameter)."""
        prefix = f"substr({self.source_id}, 1, {int(digits)})"
        condition = f"{prefix} IN (SELECT value FROM json_each(?))"
        if other_spellings:
            condition += f" OR typeof({self.source_id}) <> 'text' OR {prefix} NOT GLOB '{'[0-9a-f]' * int(digits)}'"
        hex_chunks = sorted(chunk for chunk in chunks if _hex_digits(digits).fullmatch(chunk))
        return f"{self.query} WHERE {condition}", json.dumps(hex_chunks)

    def rows(
        self,
        rejected: list[int],
        *,
        prefixes: frozenset[str] | None = None,
        digits: int = 0,
        other_spellings: bool = True,
    ) -> Iterator[Row]:
        """Every row not set aside (or only those whose canonical id starts with one of ``prefixes``, ''
        for no uuid), sorted by canonical id; ``rejected[0]`` counts the ones set aside.

        Rows whose id is no uuid come first, with key ''. Without ``other_spellings`` the caller knows
        that every id written otherwise than canonically starts with one of ``prefixes`` as written.
        """
        query = self.query
        parameters: tuple[str, ...] = ()
        if prefixes is not None:
            # Filtered in SQLite, so rows of other chunks are neither fetched, normalised nor sorted; first
            # by the id as written, cheap and without the canonical sort key of every row.
            raw, chunks = self._in_raw_chunks(digits, prefixes, other_spellings)
            query = (
                f"SELECT * FROM ({raw}) WHERE coalesce(substr(sort_key, 1, {int(digits)}), '') "
                "IN (SELECT value FROM json_each(?))"
            )
            parameters = (chunks, json.dumps(sorted(prefixes)))
        # SQLite sorts with its external sorter (bounded memory, spilling to temp files) on the key.
        query = f"{query} ORDER BY sort_key COLLATE BINARY"
        try:
            cursor = self.connection.execute(query, parameters)
            while batch := cursor.fetchmany(self.batch_size):
                for sort_key, rowid, *values in batch:
                    raw_id = values[self.id_index]
                    if self._is_rejected(rowid, raw_id, sort_key):
                        rejected[0] += 1
                        continue
                    canonical = tuple(
                        normalise(value) for normalise, value in zip(self.normalisers, values, strict=True)
                    )
                    yield Row(sort_key or "", canonical, rowid, raw_id)
        except sqlite3.OperationalError as error:
            if "decode" in str(error) and self.connection.text_factory is not tolerant_text:
                raise UndecodableSource from error
            raise SourceError(f"cannot read rows: {error}", table=self.spec.name) from error
        except sqlite3.DatabaseError as error:
            raise SourceError(f"cannot read rows: {error}", table=self.spec.name) from error

    def odd_prefixes(self, digits: int, raw_chunks: frozenset[str]) -> set[str]:
        """The canonical chunks ('' for no uuid) of rows whose id is not written as a canonical uuid: their
        raw chunk is not their canonical one, so both are compared row by row.

        Such a row's chunk as written always differs (the target's ids are canonical, so it lacks that
        chunk or the row's text), so only the rows of ``raw_chunks``, those that differ, are searched.
        """
        source_id = self.source_id
        # An id not starting with hex digits has a chunk of other characters: only then are they searched.
        other_spellings = not all(_hex_digits(digits).fullmatch(chunk) for chunk in raw_chunks)
        raw, chunks = self._in_raw_chunks(digits, raw_chunks, other_spellings)
        query = (
            f"SELECT DISTINCT coalesce(substr(sort_key, 1, {int(digits)}), '') FROM ({raw}) "
            f"WHERE NOT (typeof({source_id}) = 'text' AND {source_id} GLOB '{CANONICAL_UUID_GLOB}')"
        )
        try:
            return {prefix for (prefix,) in self.connection.execute(query, (chunks,))}
        except sqlite3.DatabaseError as error:
            raise SourceError(f"cannot read ids: {error}", table=self.spec.name) from error
