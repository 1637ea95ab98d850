"""Fingerprints of a table on both sides, so a re-run reloads only the parts that changed.

Rows are grouped into chunks by the first hex digits of their id, and each
chunk is summarised as (row count, sum of a 64-bit hash of every row). The
source side hashes the raw SQLite values without parsing them; the target side
hashes the stored values rendered with ``::text`` in UTC. For a well-formed
legacy row (a canonical lowercase uuid, ``+00`` timestamps as PostgreSQL prints
them) both renderings are the same text, so equal summaries mean equal chunks.
Any other spelling only makes a chunk differ, and that chunk is loaded as
usual: a mismatch costs time, never correctness.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from decimal import Decimal

import psycopg2.extensions
from psycopg2 import sql

from .extract import SourceRow
from .tables import TableSpec

# A changed row costs reloading its chunk: chunks of about this many rows keep that cheap.
CHUNK_ROWS = 2_000
# Each value is written as <length>:<text> and NULL as "-", so no text can pass for two values or for NULL.
_NULL = "-"
# The chunk of an id that is not text: it can match no chunk of the target, so its rows always load.
NO_CHUNK = "?"

ChunkSummary = dict[str, tuple[int, int]]


def chunk_digits(rows: int) -> int:
    """How many leading hex digits of the id make chunks of about CHUNK_ROWS rows."""
    return max(1, min(8, round(math.log(max(rows / CHUNK_ROWS, 1), 16))))


def chunk_of(source_id: object, digits: int) -> str:
    """The chunk a source row falls in: the leading digits of its id as written (so an id in capitals
    falls in a chunk the target cannot have, and its rows load as usual)."""
    return source_id[:digits] if type(source_id) is str else NO_CHUNK


def source_summary(rows: Iterable[SourceRow], digits: int) -> ChunkSummary:
    """(count, hash sum) per chunk of ``(rowid, id, ...)`` source rows, in one pass."""
    md5 = hashlib.md5
    counts: dict[str, int] = {}
    sums: dict[str, int] = {}
    for row in rows:
        # The per-row loop of a re-run: kept flat, with floats and NULL the only values not already text.
        text = "\t".join(
            [f"{len(value)}:{value}" if type(value) is str else _render(value) for value in row[1:]]
        )
        row_hash = int.from_bytes(
            md5(text.encode("utf-8", "surrogateescape")).digest()[:8], "big", signed=True
        )
        chunk = chunk_of(row[1], digits)
        counts[chunk] = counts.get(chunk, 0) + 1
        sums[chunk] = sums.get(chunk, 0) + row_hash
    return {chunk: (count, sums[chunk]) for chunk, count in counts.items()}


def _render(value: object) -> str:
    if value is None:
        return _NULL
    # PostgreSQL prints 9.0 as "9" and otherwise the same shortest text as repr.
    text = repr(value).removesuffix(".0") if type(value) is float else str(value)
    return f"{len(text)}:{text}"


def target_summary(connection: psycopg2.extensions.connection, spec: TableSpec, digits: int) -> ChunkSummary:
    """The same summary of the target table, computed by PostgreSQL in one scan."""
    rendered = sql.SQL(" || E'\\t' || ").join(
        sql.SQL("CASE WHEN {c} IS NULL THEN {null} ELSE length({c}::text) || ':' || {c}::text END").format(
            c=sql.Identifier(column.target), null=sql.Literal(_NULL)
        )
        for column in spec.columns
    )
    query = sql.SQL(
        "SELECT left(id::text, %s), count(*), sum(('x' || left(md5({rendered}), 16))::bit(64)::bigint) "
        "FROM {target} GROUP BY 1"
    ).format(rendered=rendered, target=sql.Identifier(spec.target_schema, spec.name))
    with connection.cursor() as cursor:
        # The renderings must match the source's text: UTC offsets as +00, ISO dates, shortest floats.
        cursor.execute(
            "SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO'; SET LOCAL extra_float_digits = 1"
        )
        cursor.execute(query, (digits,))
        summary = {chunk: (int(count), int(Decimal(total))) for chunk, count, total in cursor}
    connection.rollback()  # only reads, and SET LOCAL must not outlive them
    return summary


def changed_chunks(source: ChunkSummary, target: ChunkSummary) -> set[str]:
    """Chunks whose rows differ between the two sides, either way."""
    return {chunk for chunk in source.keys() | target.keys() if source.get(chunk) != target.get(chunk)}
