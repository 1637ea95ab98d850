"""Chunk digests: each side of a table summarised per chunk of ids, so only chunks that differ are read again.

Two users, the same digests: a re-run parses and loads only the chunks whose digests differ, and
``check --fast`` compares row by row only those chunks (verify/compare.py). The source side is the raw
SQLite values written out by SQLite itself (``sqlite_summary_query``), summed over ranges of rowids
by the worker processes (``source_range_summary``, ``merge_summaries``); the target side is each value
as ``::text``, summed by PostgreSQL in one scan meanwhile (``target_summary``, ``text_summary``).

A chunk is the rows whose id starts with the same ``chunk_digits`` hex digits. Its digest is
(row count, sum of a 64-bit hash of each row): a sum does not depend on row order, so the source is
read in whatever order it lies and PostgreSQL needs no sort. Equal digests mean equal rows, bar a
64-bit hash collision; unequal digests only cost reading the chunk again, never a wrong answer.

The row encoding is written three times, in Python (``summarise``, the reference), in PostgreSQL
(``_row_hash_sql``) and in SQLite (``_sqlite_value_sql``), side by side below; tests/test_digests.py
and tests/test_check_speed_paths.py prove them equal on values chosen to trip them up.
"""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
from collections.abc import Iterable, Sequence

import psycopg2.extensions
from psycopg2 import sql

from .errors import SourceError
from .extract import SourceRow, quote, tolerant_text
from .tables import TableSpec

# A differing chunk costs parsing and writing its rows again (a re-run) or comparing them row by row
# (check --fast). Ids are random, so a change of 0.01% of the rows touches that many chunks: chunks of
# tens of rows keep the rows read again near the rows changed. At 13 M rows that is 65,536 chunks,
# about 15 MB per side's summary.
CHUNK_ROWS = 64
# A chunk is a prefix of the uuid before its first hyphen, so a range of ids is at most 8 hex digits.
MAX_CHUNK_DIGITS = 8
# The chunk of an id that is not text: it can match no chunk of the target, so its rows always load.
NO_CHUNK = "?"

ChunkSummary = dict[str, tuple[int, int]]
"""Chunk (the ids' leading hex digits) -> (rows, sum of the rows' 64-bit hashes)."""


def chunk_digits(rows: int) -> int:
    """How many leading hex digits of the id make chunks of about CHUNK_ROWS rows."""
    return max(1, min(MAX_CHUNK_DIGITS, round(math.log(max(rows / CHUNK_ROWS, 1), 16))))


def chunk_of(source_id: object, digits: int) -> str:
    """The chunk a source row falls in: the leading digits of its id as written (so an id in capitals
    falls in a chunk the target cannot have, and its rows load as usual)."""
    return source_id[:digits] if type(source_id) is str else NO_CHUNK


# --------------------------------------------------------------------------- the row encoding
#
# A row is written as a JSON array, without spaces, of its values' text, NULL as null: JSON's escaping
# keeps any text from passing for two values or for NULL, and all three writers have it built in
# (Python's json, SQLite's json_array, PostgreSQL's to_json), which escape alike (tests/test_digests.py,
# tests/test_check_speed_paths.py). A value that is no text and no number is the empty object {}, which
# no column's text can be. The row's hash is the first 8 bytes of the md5 of that text (UTF-8), read as
# a signed 64-bit integer, which PostgreSQL's bigint holds and sums exactly (as numeric).

# Python side.

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def summarise(rows: Iterable[tuple[str, Iterable[object]]]) -> ChunkSummary:
    """The digest of each chunk of ``(chunk, values)`` rows, in one pass in any order."""
    md5 = hashlib.md5
    counts: dict[str, int] = {}
    sums: dict[str, int] = {}
    for chunk, values in rows:
        # A re-run's per-row loop: kept flat, with text and NULL (most values) passed as they are.
        text = _dumps([value if value is None or type(value) is str else _not_text(value) for value in values])
        row_hash = int.from_bytes(
            md5(text.encode("utf-8", "surrogateescape"), usedforsecurity=False).digest()[:8],
            "big",
            signed=True,
        )
        counts[chunk] = counts.get(chunk, 0) + 1
        sums[chunk] = sums.get(chunk, 0) + row_hash
    return {chunk: (count, sums[chunk]) for chunk, count in counts.items()}


def _not_text(value: object) -> object:
    if type(value) is float:
        # PostgreSQL prints 9.0 as "9" and otherwise (below 1e15) the same shortest text as repr.
        return repr(value).removesuffix(".0")
    if type(value) is int:
        return str(value)
    # A blob, text that is not UTF-8, a value verify could not parse: {} is no column's text, so the
    # chunk always differs and is read again.
    return {}


# SQL side: ``values`` are text expressions, one per column.


def _row_hash_sql(values: Sequence[sql.Composable]) -> sql.Composable:
    text = sql.SQL("'[' || concat_ws(',', {}) || ']'").format(
        sql.SQL(", ").join(sql.SQL("coalesce(to_json({})::text, 'null')").format(value) for value in values)
    )
    return sql.SQL("('x' || left(md5({}), 16))::bit(64)::bigint").format(text)


def summary_query(spec: TableSpec, values: Sequence[sql.Composable]) -> sql.Composable:
    """The query for the digest of each chunk of the target table, ``values`` rendering its columns as
    text; its one parameter is the chunk digits. Rows: (chunk, rows, sum of hashes)."""
    # Each value is mentioned once in the encoding, so it is rendered once with no subquery fence, and
    # PostgreSQL may split the scan and the sums over parallel workers.
    return sql.SQL("SELECT left(id::text, %s), count(*), sum({row_hash}) FROM {table} GROUP BY 1").format(
        row_hash=_row_hash_sql(values), table=sql.Identifier(spec.target_schema, spec.name)
    )


def fetch_summary(cursor: psycopg2.extensions.cursor, query: sql.Composable, digits: int) -> ChunkSummary:
    """Run a ``summary_query`` and collect its rows."""
    cursor.execute(query, (digits,))
    return {chunk: (int(count), int(total)) for chunk, count, total in cursor}


# SQLite side, for a re-run: the same text built by SQLite from the raw values, so Python only hashes
# it (less than half the per-row cost of ``summarise``). Text, integers and NULL are written exactly
# as ``summarise`` writes them. A double is written with 15 significant digits when they give it back
# exactly, which then is the shortest spelling repr and PostgreSQL give, else with 17 (exact, but
# spelled unlike PostgreSQL: its chunk is read again). A blob, or a zero double (SQLite prints -0.0
# as 0.0), is {}. So different values always encode differently, and a spelling PostgreSQL would not
# print only costs reading a chunk again.


def _sqlite_value_sql(column: str) -> str:
    # SQLite writes 9.0 as "9.0" and 1e-07 as "1.0e-07", where repr and PostgreSQL write "9" and "1e-07".
    real = f"replace(CAST({column} AS TEXT), '.0e', 'e')"
    shortest = (
        f"CASE WHEN {column} = 0 THEN json('{{}}') WHEN CAST({real} AS REAL) = {column} "
        f"THEN (CASE WHEN {real} LIKE '%.0' THEN substr({real}, 1, length({real}) - 2) ELSE {real} END) "
        f"ELSE printf('%!.17g', {column}) END"
    )
    return (
        f"CASE typeof({column}) WHEN 'text' THEN {column} WHEN 'null' THEN NULL "
        f"WHEN 'integer' THEN CAST({column} AS TEXT) WHEN 'real' THEN {shortest} ELSE json('{{}}') END"
    )


def sqlite_summary_query(spec: TableSpec, digits: int) -> str:
    """SQLite: (chunk, the row's encoded text as UTF-8 bytes) for the rows ``rowid > ? AND rowid <= ?``."""
    columns = [quote(column) for column in spec.source_columns]
    source_id = columns[0]
    chunk = f"CASE typeof({source_id}) WHEN 'text' THEN substr({source_id}, 1, {int(digits)}) ELSE '{NO_CHUNK}' END"
    text = f"json_array({', '.join(_sqlite_value_sql(column) for column in columns)})"
    return (
        f"SELECT {chunk}, CAST({text} AS BLOB) FROM {quote(spec.name)} WHERE rowid > ? AND rowid <= ?"
    )


def sqlite_chunk_condition(spec: TableSpec, digits: int, chunks: frozenset[str]) -> tuple[str, tuple[object, ...]]:
    """SQLite condition (and its parameter) for the rows a re-run parses: those in ``chunks``, and every
    row whose id does not start with ``digits`` lowercase hex digits (no chunk of the target, as
    ``chunk_of`` sees it, so always read; the rare id not UTF-8 is among them)."""
    source_id = quote(spec.source_columns[0])
    prefix = f"substr({source_id}, 1, {int(digits)})"
    hex_prefix = "[0-9a-f]" * int(digits)
    return (
        f"typeof({source_id}) <> 'text' OR {prefix} NOT GLOB '{hex_prefix}' "
        f"OR {prefix} IN (SELECT value FROM json_each(?))",
        (json.dumps(sorted(chunks)),),
    )


# --------------------------------------------------------------------------- the re-run's digests


def source_summary(rows: Iterable[SourceRow], digits: int) -> ChunkSummary:
    """The digests of ``(rowid, id, ...)`` source rows, from the raw SQLite values without parsing them.

    For a well-formed legacy row (a canonical lowercase uuid, ``+00`` timestamps as PostgreSQL prints
    them) the raw text is what ``target_summary`` renders; any other spelling only makes its chunk
    differ, and that chunk is loaded as usual: a mismatch costs time, never correctness.
    """
    return summarise((chunk_of(row[1], digits), row[1:]) for row in rows)


def source_range_summary(
    connection: sqlite3.Connection, spec: TableSpec, digits: int, after_rowid: int, last_rowid: int
) -> ChunkSummary:
    """``source_summary`` of the rows ``after_rowid < rowid <= last_rowid``, the text built by SQLite.

    Summaries of ranges add up (``merge_summaries``), so worker processes can each take some.
    """
    text_factory = connection.text_factory
    try:
        try:
            return _summarise_query(connection, spec, digits, after_rowid, last_rowid)
        except sqlite3.OperationalError as error:
            # An id that is not UTF-8: the range is read again, its chunk read as extract.read_rows reads it.
            if "decode" not in str(error):
                raise
            connection.text_factory = tolerant_text
            return _summarise_query(connection, spec, digits, after_rowid, last_rowid)
    except sqlite3.DatabaseError as error:
        raise SourceError(f"cannot read rows after rowid {after_rowid}: {error}", table=spec.name) from error
    finally:
        connection.text_factory = text_factory


# Rows fetched at a time by a summary: the memory a worker holds does not grow with the range.
_FETCH_ROWS = 1_000


def _summarise_query(
    connection: sqlite3.Connection, spec: TableSpec, digits: int, after_rowid: int, last_rowid: int
) -> ChunkSummary:
    md5 = hashlib.md5
    counts: dict[str, int] = {}
    sums: dict[str, int] = {}
    cursor = connection.execute(sqlite_summary_query(spec, digits), (after_rowid, last_rowid))
    while rows := cursor.fetchmany(_FETCH_ROWS):
        for chunk, text in rows:
            row_hash = int.from_bytes(md5(text, usedforsecurity=False).digest()[:8], "big", signed=True)
            counts[chunk] = counts.get(chunk, 0) + 1
            sums[chunk] = sums.get(chunk, 0) + row_hash
    return {chunk: (count, sums[chunk]) for chunk, count in counts.items()}


def merge_summaries(parts: Iterable[ChunkSummary]) -> ChunkSummary:
    """One summary of the rows of several, each row counted in exactly one of them."""
    merged: ChunkSummary = {}
    for part in parts:
        for chunk, (count, total) in part.items():
            earlier = merged.get(chunk, (0, 0))
            merged[chunk] = (earlier[0] + count, earlier[1] + total)
    return merged


def target_summary(connection: psycopg2.extensions.connection, spec: TableSpec, digits: int) -> ChunkSummary:
    """The same digests of the target table, each value as ``::text``, computed by PostgreSQL in one scan."""
    with connection.cursor() as cursor:
        summary = text_summary(cursor, spec, digits)
    connection.rollback()  # only reads
    return summary


def text_summary(cursor: psycopg2.extensions.cursor, spec: TableSpec, digits: int) -> ChunkSummary:
    """``target_summary`` inside the caller's transaction, whose settings it leaves as they were."""
    query = summary_query(
        spec, [sql.SQL("{}::text").format(sql.Identifier(column.target)) for column in spec.columns]
    )
    cursor.execute(f"SELECT {', '.join(f'current_setting({name!r})' for name, _ in _TEXT_SETTINGS)}")
    earlier = cursor.fetchone()
    # The renderings must match the source's text: UTC offsets as +00, ISO dates, shortest floats.
    _set_locally(cursor, [value for _, value in _TEXT_SETTINGS])
    summary = fetch_summary(cursor, query, digits)
    _set_locally(cursor, earlier)
    return summary


_TEXT_SETTINGS = (("TimeZone", "UTC"), ("DateStyle", "ISO"), ("extra_float_digits", "1"))


def _set_locally(cursor: psycopg2.extensions.cursor, values: Sequence[str]) -> None:
    calls = ", ".join(f"set_config({name!r}, %s, true)" for name, _ in _TEXT_SETTINGS)
    cursor.execute(f"SELECT {calls}", list(values))


def changed_chunks(source: ChunkSummary, target: ChunkSummary) -> set[str]:
    """Chunks whose rows differ between the two sides, either way."""
    return {chunk for chunk in source.keys() | target.keys() if source.get(chunk) != target.get(chunk)}
