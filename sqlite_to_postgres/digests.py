"""Chunk digests: each side of a table summarised per chunk of ids, so only chunks that differ are read again.

Two users, the same digests: a re-run parses and loads only the chunks whose digests differ, and
``check`` compares row by row only those chunks (verify/compare.py). The source side is the raw
SQLite values written out by SQLite itself (``sqlite_summary_query``), summed over ranges of rowids
by the worker processes (``source_range_summary``, ``merge_summaries``); the target side is each value
as ``::text``, summed by PostgreSQL in one scan meanwhile (``target_summary``, ``text_summary``).

A chunk is the rows whose id starts with the same ``chunk_digits`` hex digits. Its digest is
(row count, sum of a 64-bit hash of each row's encoding): a sum does not depend on row order, so the
source is read in whatever order it lies and PostgreSQL needs no sort.

Why equal digests mean rows the full comparison finds equal (bar a 64-bit hash collision):

* PostgreSQL's encoding is injective: text columns first, each ``<UTF-8 length>:<text>`` (NULL ``:``),
  then the others, each ``<text>,`` (NULL ``,``). The lengths are read from the front, and the rest
  splits at its commas: a uuid, date, timestamp or double never prints a comma, nor nothing.
* So a source row encodes as a target row only where each value's text is the target's, and equal
  text is an equal value except where the full check would read the source's otherwise. Those values
  turn the row into ``\\0``, which PostgreSQL cannot write: a number, blob or text where the kind wants
  another, NULL in a required column, an empty uuid, a date or timestamp not starting with a digit, a
  zero double (SQLite prints -0 as 0). A comma in a source value needs no test: the target's tail holds
  one comma per column, so the source's would hold more.
* Dates and timestamps PostgreSQL prints but the check cannot read (before year 1, after 9999) hash
  as 0 there, as no source row does.

A differing digest only costs reading the chunk again, never a wrong answer: that is all a spelling
does that PostgreSQL would not print (an offset other than +00, an id in capitals, a double with 17
digits). The row's hash is the first 8 bytes of the md5 of its encoding (UTF-8), read as a signed
64-bit integer, which PostgreSQL's bigint holds and sums exactly (as numeric).

The encoding is written three times, in Python (``summarise``, the reference), in PostgreSQL
(``summary_query``) and in SQLite (``sqlite_summary_query``), side by side below; tests/test_digests.py
and tests/test_check_speed_paths.py prove them equal on values chosen to trip them up.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
import sqlite3
import struct
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from operator import itemgetter
from typing import Protocol, cast

import psycopg2.extensions
from psycopg2 import sql

from .errors import SourceError
from .extract import SourceRow, quote, tolerant_text
from .tables import Column, Kind, TableSpec

# A differing chunk costs parsing and writing its rows again (a re-run) or comparing them row by row
# (check). Ids are random, so a change of 0.01% of the rows touches that many chunks: chunks of
# tens of rows keep the rows read again near the rows changed.
CHUNK_ROWS = 64
# At most 4,096 chunks, so a summary stays about 1 MB per side at any size. With 65,536 chunks at 13 M
# rows (the real catalog times 1000) the check's peak memory grew by 88 MiB, 63%, against 10 times the
# catalog (measured), and PostgreSQL's grouping spilled to disk. The price: a chunk of a table past a
# quarter of a million rows holds more than 64 rows (1,400 at 5.8 M), all read again when it differs.
MAX_CHUNK_DIGITS = 3
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
# Text columns first, each <UTF-8 length>:<text>, then the others, each <text>, (module docstring). A
# row holding a value that could pass for another is MARK alone. The three writers follow.

MARK = b"\0"


def encoding_order(columns: Sequence[Column]) -> list[int]:
    """The positions of ``columns`` in the order the encoding writes them: text columns first."""
    return sorted(range(len(columns)), key=lambda index: columns[index].kind is not Kind.TEXT)


# Python side, the reference: any values, as sqlite3 reads them.


def _encode_value(column: Column, value: object) -> str | None:
    """The value's part of the row's encoding, or None when the row must be MARK."""
    text = column.kind is Kind.TEXT
    if value is None:
        return None if not column.nullable else ":" if text else ","
    if text:
        # Exactly str: text that is not UTF-8 comes as a subclass, and PostgreSQL holds none.
        return f"{len(value.encode('utf-8', 'surrogateescape'))}:{value}" if type(value) is str else None
    if column.kind is Kind.FLOAT:
        if type(value) is int:
            return f"{value},"
        # PostgreSQL prints 9.0 as "9" and otherwise (below 1e15) the same shortest text as repr. A zero is
        # written too, as PostgreSQL writes it; SQLite's writer marks it (it prints -0.0 as 0.0).
        return repr(value).removesuffix(".0") + "," if type(value) is float else None
    if type(value) is not str or value == "":
        return None
    # A date or timestamp as PostgreSQL prints one the full check can read starts with a digit.
    if column.kind is not Kind.UUID and not "0" <= value < ":":
        return None
    return value + ","


def encode_row(columns: Sequence[Column], values: Sequence[object]) -> bytes:
    """One row's encoding, ``values`` in the order of ``columns``."""
    parts = []
    for index in encoding_order(columns):
        part = _encode_value(columns[index], values[index])
        if part is None:
            return MARK
        parts.append(part)
    return "".join(parts).encode("utf-8", "surrogateescape")


def summarise(rows: Iterable[tuple[str, Sequence[object]]], columns: Sequence[Column]) -> ChunkSummary:
    """The digest of each chunk of ``(chunk, values)`` rows, in one pass in any order."""
    return _sum_hashes([((chunk, encode_row(columns, values)) for chunk, values in rows)])


# The first 8 bytes of an md5 digest as a signed big-endian integer.
_ROW_HASH = struct.Struct(">q8x")


class _Digest(Protocol):
    def digest(self) -> bytes: ...


def _md5_function() -> Callable[[bytes], _Digest]:
    try:
        # Python's own md5 costs a quarter less than OpenSSL's for inputs this short (measured); not
        # every Python is built with it.
        builtin = importlib.import_module("_md5")
    except ImportError:
        return partial(hashlib.md5, usedforsecurity=False)
    return cast("Callable[[bytes], _Digest]", builtin.md5)


_md5 = _md5_function()


def _sum_hashes(batches: Iterable[Iterable[tuple[str, bytes]]]) -> ChunkSummary:
    """The digests of ``(chunk, encoding)`` rows, taken a batch at a time."""
    md5 = _md5
    digests: defaultdict[str, bytearray] = defaultdict(bytearray)
    for batch in batches:
        for chunk, encoding in batch:
            # Gathering the digests and summing them per chunk at the end costs a quarter less per
            # row than adding each one up (measured); 16 bytes per row of a worker's range.
            digests[chunk] += md5(encoding).digest()
    return {
        chunk: (len(gathered) // 16, sum(map(itemgetter(0), _ROW_HASH.iter_unpack(gathered))))
        for chunk, gathered in digests.items()
    }


# PostgreSQL side: ``values`` are text expressions, one per column, joined with || (5 to 10% cheaper
# than format(), measured at scale 100): a text column's NULL is ":" and another's ",".


def _row_hash_sql(spec: TableSpec, values: Sequence[sql.Composable]) -> sql.Composable:
    parts: list[sql.Composable] = []
    for index in encoding_order(spec.columns):
        value = values[index]
        if spec.columns[index].kind is Kind.TEXT:
            parts.append(sql.SQL("coalesce(octet_length({value}) || ':' || {value}, ':')").format(value=value))
        else:
            parts.append(sql.SQL("coalesce({}, '') || ','").format(value))
    text = sql.SQL(" || ").join(parts)
    row_hash = sql.SQL("('x' || left(md5({}), 16))::bit(64)::bigint").format(text)
    unreadable = [_unreadable_sql(column) for column in spec.columns if column.kind in _READABLE]
    if not unreadable:
        return row_hash
    return sql.SQL("CASE WHEN {} THEN 0 ELSE {} END").format(sql.SQL(" OR ").join(unreadable), row_hash)


# The dates and timestamps whose text the full check can read (Python's years 1 to 9999): PostgreSQL
# prints others too (infinity, BC, five-digit years), which hash as 0 so their chunk differs.
_READABLE = {
    Kind.DATE: ("0001-01-01", "10000-01-01"),
    Kind.TIMESTAMP: ("0001-01-01 00:00:00+00", "10000-01-01 00:00:00+00"),
}


def _unreadable_sql(column: Column) -> sql.Composable:
    low, high = _READABLE[column.kind]
    return sql.SQL("{column} < {low} OR {column} >= {high}").format(
        column=sql.Identifier(column.target), low=sql.Literal(low), high=sql.Literal(high)
    )


def summary_query(spec: TableSpec, values: Sequence[sql.Composable]) -> sql.Composable:
    """The query for the digest of each chunk of the target table, ``values`` rendering its columns as
    text; its one parameter is the chunk digits. Rows: (chunk, rows, sum of hashes)."""
    # Each value is mentioned once in the encoding (a text column's twice, where ::text costs nothing),
    # so it is rendered once with no subquery fence.
    return sql.SQL("SELECT left(id::text, %s), count(*), sum({row_hash}) FROM {table} GROUP BY 1").format(
        row_hash=_row_hash_sql(spec, values), table=sql.Identifier(spec.target_schema, spec.name)
    )


def fetch_summary(cursor: psycopg2.extensions.cursor, query: sql.Composable, digits: int) -> ChunkSummary:
    """Run a ``summary_query`` and collect its rows."""
    cursor.execute(query, (digits,))
    return {chunk: (int(count), int(total)) for chunk, count, total in cursor}


# SQLite side, for a re-run and the check: the same bytes built by SQLite from the raw values, so Python
# only hashes them. Which values make a row MARK is one test per column, all comparisons (no function
# call; a function per value per row costs as much as the encoding): ``+c`` drops the column's affinity,
# which would read '0' as a number, BINARY any collation the file declares (one this process may not
# know, or one that orders text otherwise), and in SQLite's order numbers < text < blobs, while NULL
# compares as NULL and so never marks. A double is written with 15 significant digits when they give it back
# exactly, which then is the shortest spelling repr and PostgreSQL give, else with 17 (exact, but
# spelled unlike PostgreSQL: its chunk is read again). || keeps a NUL inside text, where printf stops.


def _sqlite_value_sql(column: Column) -> tuple[str, str]:
    """For one column: (its part of the encoding, the test that marks the row)."""
    name = quote(column.source)
    plain = f"+{name} COLLATE BINARY"
    if column.kind is Kind.TEXT:
        part = f"length(CAST({name} AS BLOB)) || ':' || {name}"
        null = "':'"
        # Anything but text.
        test = f"{plain} < '' OR {plain} >= x''"
    else:
        value = name
        null = "','"
        if column.kind is Kind.FLOAT:
            # SQLite writes 9.0 as "9.0" and 1e-07 as "1.0e-07", where repr and PostgreSQL write "9" and "1e-07".
            real = f"replace(CAST({name} AS TEXT), '.0e', 'e')"
            value = (
                f"(CASE WHEN {name} IS NULL THEN NULL WHEN CAST({real} AS REAL) = {name} "
                f"THEN (CASE WHEN {real} LIKE '%.0' THEN substr({real}, 1, length({real}) - 2) ELSE {real} END) "
                f"ELSE printf('%!.17g', {name}) END)"
            )
            # Text, a blob, or a zero (SQLite prints -0.0 as 0.0).
            test = f"{plain} >= '' OR {plain} = 0"
        elif column.kind is Kind.UUID:
            # Anything but text that is not empty.
            test = f"{plain} <= '' OR {plain} >= x''"
        else:
            # A date or timestamp: anything but text starting with a digit.
            test = f"{plain} < '0' OR {plain} >= ':'"
        part = f"{value} || ','"
    if column.nullable:
        return f"ifnull({part}, {null})", test
    return part, f"{name} IS NULL OR {test}"


def sqlite_summary_query(spec: TableSpec, digits: int) -> str:
    """SQLite: (chunk, the row's encoding as bytes) for the rows ``rowid > ? AND rowid <= ?``."""
    parts, tests = zip(*(_sqlite_value_sql(spec.columns[index]) for index in encoding_order(spec.columns)), strict=True)
    encoding = f"CASE WHEN {' OR '.join(tests)} THEN x'00' ELSE CAST({' || '.join(parts)} AS BLOB) END"
    source_id = quote(spec.source_columns[0])
    is_text = f"+{source_id} COLLATE BINARY >= '' AND +{source_id} COLLATE BINARY < x''"
    chunk = f"CASE WHEN {is_text} THEN substr({source_id}, 1, {int(digits)}) ELSE '{NO_CHUNK}' END"
    return f"SELECT {chunk}, {encoding} FROM {quote(spec.name)} WHERE rowid > ? AND rowid <= ?"


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


def source_summary(rows: Iterable[SourceRow], spec: TableSpec, digits: int) -> ChunkSummary:
    """The digests of ``(rowid, id, ...)`` source rows, from the raw SQLite values without parsing them.

    For a well-formed legacy row (a canonical lowercase uuid, ``+00`` timestamps as PostgreSQL prints
    them) the encoding is what ``target_summary`` encodes; any other spelling only makes its chunk
    differ, and that chunk is loaded as usual: a mismatch costs time, never correctness.
    """
    return summarise(((chunk_of(row[1], digits), row[1:]) for row in rows), spec.columns)


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
    cursor = connection.execute(sqlite_summary_query(spec, digits), (after_rowid, last_rowid))
    return _sum_hashes(iter(lambda: cursor.fetchmany(_FETCH_ROWS), []))


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
    cursor.execute(f"SELECT {', '.join(f'current_setting({name!r})' for name, _ in _SETTINGS)}")
    earlier = cursor.fetchone()
    _set_locally(cursor, [value for _, value in _SETTINGS])
    summary = fetch_summary(cursor, query, digits)
    _set_locally(cursor, earlier)
    return summary


_SETTINGS = (
    # The renderings must match the source's text: UTC offsets as +00, ISO dates, shortest floats.
    ("TimeZone", "UTC"),
    ("DateStyle", "ISO"),
    ("extra_float_digits", "1"),
    # The source's worker processes hash at the same time: on 2 cores, parallel workers only took CPU
    # from them (the check at scale 100: 4.0 s against 4.2 s; jit on or off made no difference).
    ("max_parallel_workers_per_gather", "0"),
)


def _set_locally(cursor: psycopg2.extensions.cursor, values: Sequence[str]) -> None:
    calls = ", ".join(f"set_config({name!r}, %s, true)" for name, _ in _SETTINGS)
    cursor.execute(f"SELECT {calls}", list(values))


def changed_chunks(source: ChunkSummary, target: ChunkSummary) -> set[str]:
    """Chunks whose rows differ between the two sides, either way."""
    return {chunk for chunk in source.keys() | target.keys() if source.get(chunk) != target.get(chunk)}
