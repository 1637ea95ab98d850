"""Verify: prove that PostgreSQL holds what SQLite holds, row by row, in bounded memory.

>>> from sqlite_to_postgres.verify import check_consistency
>>> report = check_consistency(source, target)  # doctest: +SKIP
>>> print(report.format()); report.ok  # doctest: +SKIP

Both sides are reduced to one canonical text per column (``None`` for NULL) and
compared as two streams sorted by id, a merge join, so memory holds one batch
per side whatever the table size:

* uuid: lowercase canonical text, which sorts byte for byte like PostgreSQL's
  ``uuid`` (a memcmp of the 16 bytes); the source is ordered by the canonical
  form of its ids, computed by a SQL function registered on the SQLite
  connection, so ids written in upper case or with braces still line up;
* timestamptz: the instant in UTC to the microsecond, ISO 8601;
* date: ISO 8601;
* float: the 8 bytes of the IEEE double in hex, so the comparison is exact;
* text: the text itself; NULL stays distinct from ''.

Source values go through the same parsers as the migration
(``transform.PARSERS``); a value that does not parse is a difference, unless the
migration quarantined its row in ``migration.rejects``.

Fast mode hashes the same canonical rows per chunk of ids (the first hex digits
of the uuid) on each side, md5 on PostgreSQL and hashlib here, and fetches
only the rows of chunks whose hashes differ.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import math
import sqlite3
import struct
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal, TypeVar
from uuid import UUID

import psycopg2
import psycopg2.extensions
from psycopg2 import sql

from .errors import ConsistencyError, SourceError, TargetError
from .extract import check_source_table, quote, tolerant_text
from .state import REJECTS
from .tables import TABLE_NAMES, Column, Kind, TableSpec, get_table
from .transform import PARSERS, is_canonical_uuid, parse_timestamp

log = logging.getLogger(__name__)

# Rows per fetch on each side. Measured in bench/bench_check.py: 1,000 is as fast as 10,000 at 1.3 M rows
# and keeps the peak RSS flat from the real catalog's size up (a batch larger than the tables costs memory
# only on large catalogs).
DEFAULT_BATCH_SIZE = 1_000
# Differences listed per table; the counts always cover all of them.
SHOWN_DIFFERENCES = 5
# Fast mode aims at about this many rows per chunk: a differing chunk costs this many rows fetched again.
CHUNK_ROWS = 1024
# A chunk is a prefix of the uuid before its first hyphen, so a range of ids is at most 8 hex digits.
MAX_CHUNK_DIGITS = 8
# Registered on the SQLite connection; the name is long so it cannot shadow a user's function.
UUID_KEY_FUNCTION = "sqlite_to_postgres_verify_uuid_key"
_SHOWN_VALUE_CHARS = 60

DifferenceKind = Literal["differing", "missing", "extra"]
T = TypeVar("T")


# --------------------------------------------------------------------------- the report


@dataclass(slots=True, frozen=True)
class ColumnDifference:
    """One column of one row, as each side holds it (rendered for people)."""

    column: str
    source: str
    target: str


@dataclass(slots=True, frozen=True)
class RowDifference:
    """A row that differs, is missing in the target, or is extra in the target."""

    kind: DifferenceKind
    id: str
    source_rowid: int | None = None
    columns: tuple[ColumnDifference, ...] = ()
    note: str = ""


@dataclass(slots=True, frozen=True)
class TableReport:
    """The comparison of one table.

    ``source_rows`` = matched + differing + missing + rejected, and
    ``target_rows`` = matched + differing + extra.
    """

    table: str
    source_rows: int
    target_rows: int
    matched: int
    missing: int
    extra: int
    differing: int
    rejected: int
    # The first few differences, in id order.
    differences: tuple[RowDifference, ...] = ()
    # Fast mode only: chunks compared by hash, and how many had to be compared row by row.
    chunks: int | None = None
    chunks_differing: int | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.missing == 0 and self.extra == 0 and self.differing == 0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok, "seconds": round(self.seconds, 3)}


@dataclass(slots=True, frozen=True)
class ConsistencyReport:
    """The comparison of every table checked; ``ok`` when none has a missing, extra or differing row."""

    tables: tuple[TableReport, ...]
    fast: bool = False

    @property
    def ok(self) -> bool:
        return all(table.ok for table in self.tables)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "mode": "fast" if self.fast else "full",
            "tables": [table.as_dict() for table in self.tables],
        }

    def format(self) -> str:
        """A text table of the counts, then each table's first differences side by side."""
        headers = ["table", "source", "target", "matched", "missing", "extra", "differing", "rejected"]
        if self.fast:
            headers.append("chunks differing")
        headers.append("result")
        rows = []
        for table in self.tables:
            cells = [
                table.table,
                *(
                    f"{count:,}"
                    for count in (
                        table.source_rows,
                        table.target_rows,
                        table.matched,
                        table.missing,
                        table.extra,
                        table.differing,
                        table.rejected,
                    )
                ),
            ]
            if self.fast:
                cells.append(f"{table.chunks_differing or 0:,}/{table.chunks or 0:,}")
            cells.append("ok" if table.ok else "DIFFERS")
            rows.append(cells)
        widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]

        def line(cells: list[str]) -> str:
            # The table name reads best left-aligned, the counts right-aligned.
            return "  ".join(
                cell.ljust(width) if i == 0 else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
            ).rstrip()

        verdict = "consistent" if self.ok else "NOT consistent"
        out = [f"Consistency check ({'fast' if self.fast else 'full'}): {verdict}", line(headers)]
        out.append("  ".join("-" * width for width in widths))
        out.extend(line(row) for row in rows)
        for table in self.tables:
            if table.ok:
                continue
            problems = table.missing + table.extra + table.differing
            out.append("")
            out.append(
                f"{table.table}: {problems:,} {'row differs' if problems == 1 else 'rows differ'} "
                f"(showing {len(table.differences)}; source value | target value)"
            )
            for difference in table.differences:
                out.extend(_format_difference(difference))
        return "\n".join(out)


def _format_difference(difference: RowDifference) -> list[str]:
    where = f" (source rowid {difference.source_rowid})" if difference.source_rowid is not None else ""
    label = {"differing": "differs", "missing": "missing in target", "extra": "extra in target"}[
        difference.kind
    ]
    note = f": {difference.note}" if difference.note else ""
    lines = [f"  id {difference.id}{where}: {label}{note}"]
    if difference.columns:
        column_width = max(len(column.column) for column in difference.columns)
        value_width = max(len(column.source) for column in difference.columns)
        lines.extend(
            f"      {column.column.ljust(column_width)}  {column.source.ljust(value_width)} | {column.target}"
            for column in difference.columns
        )
    return lines


# --------------------------------------------------------------------------- canonical values


@dataclass(slots=True, frozen=True)
class _Invalid:
    """A source value the migration's parsers refuse; equal to no target value."""

    raw: object
    reason: str


Canonical = str | None | _Invalid


def _float_bits(value: float) -> str:
    # The bits, not a decimal spelling: Python and PostgreSQL print doubles differently but store them alike.
    return struct.pack(">d", value).hex()


def _utc_instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _same_text(value: str) -> str:
    return value


_RENDER: dict[Kind, Callable[[Any], str]] = {
    Kind.UUID: str,
    Kind.TEXT: _same_text,
    Kind.DATE: date.isoformat,
    Kind.FLOAT: _float_bits,
    Kind.TIMESTAMP: _utc_instant,
}

# The same renderings in PostgreSQL; ``{c}`` is the column. Infinite dates and timestamps have no
# to_char; they are spelled as PostgreSQL prints them, which matches no source value.
_SQL_RENDER: dict[Kind, str] = {
    Kind.UUID: "{c}::text",
    Kind.TEXT: "{c}::text",
    Kind.DATE: "CASE WHEN isfinite({c}) THEN to_char({c}, 'YYYY-MM-DD') ELSE {c}::text END",
    Kind.FLOAT: "encode(float8send({c}), 'hex')",
    Kind.TIMESTAMP: (
        "CASE WHEN isfinite({c}) "
        "THEN to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"') "
        "ELSE {c}::text END"
    ),
}


# The same test in SQLite's GLOB (case-sensitive), so canonical ids sort without calling into Python.
_CANONICAL_UUID_GLOB = "-".join("[0-9a-f]" * digits for digits in (8, 4, 4, 4, 12))


def _normaliser(column: Column) -> Callable[[object], Canonical]:
    """Source value -> canonical text, through the migration's own parser for the column's kind."""
    # Timestamps are compared as instants, parsed here apart from the text the migration passes on.
    parse = parse_timestamp if column.kind is Kind.TIMESTAMP else PARSERS[column.kind]
    render = _RENDER[column.kind]
    is_uuid = column.kind is Kind.UUID

    def normalise(value: object) -> Canonical:
        if value is None:
            return None if column.nullable else _Invalid(value, "NULL where the target requires a value")
        # Canonical uuid text is its own canonical form: the parse (the check's hottest path) is skipped.
        if is_uuid and type(value) is str and is_canonical_uuid(value):
            return value
        try:
            return render(parse(value))
        except (ValueError, OverflowError) as error:  # InvalidValue is a ValueError
            return _Invalid(value, str(error))

    return normalise


def _uuid_key(value: object) -> str | None:
    """The canonical text of a source id, or None when it is no uuid (such rows sort first)."""
    if type(value) is not str:
        return None
    try:
        return str(UUID(value))
    except ValueError:
        return None


def _clip(text: str) -> str:
    return text if len(text) <= _SHOWN_VALUE_CHARS else text[: _SHOWN_VALUE_CHARS - 3] + "..."


def _display(kind: Kind, value: Canonical) -> str:
    """A canonical value for people: NULL spelled out, text quoted so '' and whitespace show."""
    if value is None:
        return "NULL"
    if isinstance(value, _Invalid):
        return f"{_clip(repr(value.raw))} (does not parse: {_clip(value.reason)})"
    if kind is Kind.FLOAT:
        return repr(struct.unpack(">d", bytes.fromhex(value))[0])
    if kind is Kind.TEXT:
        return _clip(repr(value))
    return value


def _row_text(values: Sequence[Canonical]) -> str:
    """One row as hashed on both sides: each value length-prefixed, so no two rows render alike."""
    parts = []
    for value in values:
        if value is None:
            parts.append("-")
        elif isinstance(value, _Invalid):
            parts.append("!")  # PostgreSQL never renders "!" first, so the chunk is always fetched
        else:
            parts.append(f"{len(value)}:{value}")
    return "".join(parts)


# --------------------------------------------------------------------------- the two sides


@dataclass(slots=True, frozen=True)
class _Row:
    """One row of either side: its sort key (canonical id, '' when it has none) and canonical values."""

    key: str
    values: tuple[Canonical, ...]
    source_rowid: int | None = None
    raw_id: object = None


@dataclass(slots=True, frozen=True)
class _Chunk:
    prefix: str
    rows: int
    digest: str


class _UndecodableSource(Exception):
    """The table holds text that is not UTF-8: it must be read again with the tolerant decoder."""


class _Source:
    """The SQLite side of one table: rows in canonical id order, quarantined rows set aside."""

    def __init__(
        self, connection: sqlite3.Connection, spec: TableSpec, rejects: dict[int, str | None], batch_size: int
    ) -> None:
        self.connection = connection
        self.spec = spec
        self.rejects = rejects
        self.batch_size = batch_size
        self.normalisers = [_normaliser(column) for column in spec.columns]
        id_column = _id_column(spec)
        columns = ", ".join(quote(column) for column in spec.source_columns)
        source_id = quote(id_column.source)
        # typeof: GLOB would match a blob holding the same bytes, which the migration refuses as no uuid.
        sort_key = (
            f"CASE WHEN typeof({source_id}) = 'text' AND {source_id} GLOB '{_CANONICAL_UUID_GLOB}' "
            f"THEN {source_id} ELSE {UUID_KEY_FUNCTION}({source_id}) END"
        )
        self.query = (
            f"SELECT {sort_key} AS sort_key, rowid, {columns} "
            f"FROM {quote(spec.name)} ORDER BY sort_key COLLATE BINARY"
        )
        self.id_index = spec.columns.index(id_column)

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

    def rows(self, rejected: list[int]) -> Iterator[_Row]:
        """Every row not quarantined, sorted by canonical id; ``rejected[0]`` counts the quarantined ones.

        Rows whose id is no uuid come first, with key ''.
        """
        try:
            # SQLite sorts with its external sorter (bounded memory, spilling to temp files) on the key.
            cursor = self.connection.execute(self.query)
            while batch := cursor.fetchmany(self.batch_size):
                for sort_key, rowid, *values in batch:
                    raw_id = values[self.id_index]
                    if self._is_rejected(rowid, raw_id, sort_key):
                        rejected[0] += 1
                        continue
                    canonical = tuple(
                        normalise(value) for normalise, value in zip(self.normalisers, values, strict=True)
                    )
                    yield _Row(sort_key or "", canonical, rowid, raw_id)
        except sqlite3.OperationalError as error:
            if "decode" in str(error) and self.connection.text_factory is not tolerant_text:
                raise _UndecodableSource from error
            raise SourceError(f"cannot read rows: {error}", table=self.spec.name) from error
        except sqlite3.DatabaseError as error:
            raise SourceError(f"cannot read rows: {error}", table=self.spec.name) from error

    def chunks(self, digits: int, rejected: list[int]) -> Iterator[_Chunk]:
        """Per-prefix row counts and md5 of the rows' canonical text, in prefix order."""
        prefix: str | None = None
        rows = 0
        digest = hashlib.md5(usedforsecurity=False)
        for row in self.rows(rejected):
            row_prefix = row.key[:digits]
            if row_prefix != prefix:
                if prefix is not None:
                    yield _Chunk(prefix, rows, digest.hexdigest())
                prefix, rows, digest = row_prefix, 0, hashlib.md5(usedforsecurity=False)
            rows += 1
            digest.update(_row_text(row.values).encode("utf-8"))
        if prefix is not None:
            yield _Chunk(prefix, rows, digest.hexdigest())


_cursor_numbers = itertools.count()


class _Target:
    """The PostgreSQL side of one table, read through server-side cursors."""

    def __init__(self, connection: psycopg2.extensions.connection, spec: TableSpec, batch_size: int) -> None:
        self.connection = connection
        self.spec = spec
        self.batch_size = batch_size
        self.table = sql.Identifier(spec.target_schema, spec.name)
        # Rendered columns are aliased c0, c1...: the hash query aggregates over them by these names.
        self.aliases = [sql.Identifier(f"c{i}") for i in range(len(spec.columns))]
        self.rendered = sql.SQL(", ").join(
            sql.SQL("{} AS {}").format(
                sql.SQL(_SQL_RENDER[column.kind]).format(c=sql.Identifier(column.target)), alias
            )
            for column, alias in zip(spec.columns, self.aliases, strict=True)
        )

    def exists(self) -> bool:
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL", (self.table.as_string(self.connection),))
            return bool(cursor.fetchone()[0])

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

    def rows(self, prefixes: Sequence[str] | None = None, digits: int = 0) -> Iterator[_Row]:
        """Every row (or those whose id starts with one of ``prefixes``) sorted by id, as canonical text."""
        where = sql.SQL("")
        params: list[Any] = []
        if prefixes is not None:
            where = sql.SQL("WHERE left(id::text, %s) = ANY(%s)")
            params = [digits, list(prefixes)]
        query = sql.SQL("SELECT id::text, {rendered} FROM {table} {where} ORDER BY id").format(
            rendered=self.rendered, table=self.table, where=where
        )
        for key, *values in self._stream(query, params, "rows"):
            yield _Row(key, tuple(values))

    def chunks(self, digits: int) -> Iterator[_Chunk]:
        """Per-prefix row counts and md5 of the rows' canonical text, computed by PostgreSQL."""
        field_text = sql.SQL(" || ").join(
            sql.SQL("coalesce(length({c})::text || ':' || {c}, '-')").format(c=alias)
            for alias in self.aliases
        )
        query = sql.SQL(
            'SELECT left(id::text, %s) COLLATE "C" AS prefix, count(*), '
            "md5(convert_to(string_agg({row_text}, '' ORDER BY id), 'UTF8')) "
            "FROM (SELECT id, {rendered} FROM {table}) AS rendered GROUP BY 1 ORDER BY 1"
        ).format(row_text=field_text, rendered=self.rendered, table=self.table)
        for prefix, rows, digest in self._stream(query, [digits], "chunks"):
            yield _Chunk(prefix, rows, digest)


def _id_column(spec: TableSpec) -> Column:
    for column in spec.columns:
        if column.target == "id":
            return column
    raise ConsistencyError("the table has no id column to order rows by", table=spec.name)


def _rejects(target: psycopg2.extensions.connection, table: str) -> dict[int, str | None]:
    """Source rowid -> source id of the rows the migration quarantined; none when there is no rejects table."""
    with target.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", (REJECTS.as_string(target),))
        if not cursor.fetchone()[0]:
            return {}
        cursor.execute(
            sql.SQL("SELECT source_rowid, source_id FROM {} WHERE table_name = %s").format(REJECTS), (table,)
        )
        # Held in memory: bounded by the migration's reject limit (1% of rows by default), not by table size.
        return {int(rowid): source_id for rowid, source_id in cursor}


# --------------------------------------------------------------------------- comparing


def _merge(
    left: Iterable[T], right: Iterable[T], key: Callable[[T], str]
) -> Iterator[tuple[T | None, T | None]]:
    """Pair the items of two streams sorted by ``key``: both when keys match, else the one that is alone."""
    left_items, right_items = iter(left), iter(right)
    left_item, right_item = next(left_items, None), next(right_items, None)
    while left_item is not None or right_item is not None:
        if right_item is None or (left_item is not None and key(left_item) < key(right_item)):
            yield left_item, None
            left_item = next(left_items, None)
        elif left_item is None or key(right_item) < key(left_item):
            yield None, right_item
            right_item = next(right_items, None)
        else:
            yield left_item, right_item
            left_item, right_item = next(left_items, None), next(right_items, None)


def _row_key(row: _Row) -> str:
    return row.key


def _chunk_key(chunk: _Chunk) -> str:
    return chunk.prefix


@dataclass(slots=True)
class _Tally:
    matched: int = 0
    missing: int = 0
    extra: int = 0
    differing: int = 0
    shown: list[RowDifference] = field(default_factory=list)

    def note(self, difference: RowDifference) -> None:
        if difference.kind == "missing":
            self.missing += 1
        elif difference.kind == "extra":
            self.extra += 1
        else:
            self.differing += 1
        if len(self.shown) < SHOWN_DIFFERENCES:
            self.shown.append(difference)


def _compare_rows(
    spec: TableSpec, source_rows: Iterator[_Row], target_rows: Iterator[_Row], tally: _Tally
) -> None:
    """Merge-join the two sorted streams and tally every row."""
    id_index = spec.columns.index(_id_column(spec))
    last_matched = None
    for source_row, target_row in _merge(source_rows, target_rows, _row_key):
        if source_row is None:
            assert target_row is not None
            tally.note(RowDifference("extra", target_row.key))
        elif not source_row.key:
            id_value = source_row.values[id_index]
            tally.note(
                RowDifference(
                    "differing",
                    _clip(repr(source_row.raw_id)),
                    source_row.source_rowid,
                    (
                        ColumnDifference(
                            spec.columns[id_index].target, _display(Kind.UUID, id_value), "(no row)"
                        ),
                    ),
                    "the source id is not a uuid",
                )
            )
        elif target_row is None:
            duplicate = source_row.key == last_matched
            tally.note(
                RowDifference(
                    "missing",
                    source_row.key,
                    source_row.source_rowid,
                    note="a second source row with the same id" if duplicate else "",
                )
            )
        else:
            last_matched = source_row.key
            columns = tuple(
                ColumnDifference(column.target, _display(column.kind, ours), _display(column.kind, theirs))
                for column, ours, theirs in zip(
                    spec.columns, source_row.values, target_row.values, strict=True
                )
                if ours != theirs
            )
            if columns:
                tally.note(RowDifference("differing", source_row.key, source_row.source_rowid, columns))
            else:
                tally.matched += 1


def _chunk_digits(rows: int) -> int:
    """Hex digits of the id prefix that make chunks of about CHUNK_ROWS rows."""
    if rows <= CHUNK_ROWS:
        return 1
    return max(1, min(MAX_CHUNK_DIGITS, math.ceil(math.log(rows / CHUNK_ROWS, 16))))


def _check_table(
    source: sqlite3.Connection,
    target: psycopg2.extensions.connection,
    table: str,
    batch_size: int,
    fast: bool,
) -> TableReport:
    started = time.monotonic()
    spec = get_table(table)
    check_source_table(source, spec)
    target_side = _Target(target, spec, batch_size)
    if not target_side.exists():
        raise ConsistencyError(f"the target has no table {spec.target_schema}.{spec.name}", table=table)
    source_side = _Source(source, spec, _rejects(target, table), batch_size)
    source_rows, target_rows = source_side.count(), target_side.count()
    text_factory = source.text_factory
    try:
        try:
            tally, rejected, chunks = _compare_table(
                spec, source_side, target_side, max(source_rows, target_rows), fast
            )
        except _UndecodableSource:
            # sqlite3's C decoder fails a whole fetch on one bad byte; decoding in Python is slower, so it is
            # used only for a table that needs it, read again from the start.
            log.warning("%s: text that is not UTF-8; comparing again with a tolerant decoder", table)
            source.text_factory = tolerant_text
            tally, rejected, chunks = _compare_table(
                spec, source_side, target_side, max(source_rows, target_rows), fast
            )
    finally:
        source.text_factory = text_factory
    report = TableReport(
        table=table,
        source_rows=source_rows,
        target_rows=target_rows,
        matched=tally.matched,
        missing=tally.missing,
        extra=tally.extra,
        differing=tally.differing,
        rejected=rejected,
        differences=tuple(tally.shown),
        chunks=chunks[0] if chunks else None,
        chunks_differing=chunks[1] if chunks else None,
        seconds=time.monotonic() - started,
    )
    log.info(
        "%s: %d source rows, %d target rows, %d matched, %d missing, %d extra, %d differing, %d rejected in %.2f s",
        table,
        source_rows,
        target_rows,
        report.matched,
        report.missing,
        report.extra,
        report.differing,
        report.rejected,
        report.seconds,
    )
    return report


def _compare_table(
    spec: TableSpec, source_side: _Source, target_side: _Target, rows: int, fast: bool
) -> tuple[_Tally, int, tuple[int, int] | None]:
    """Tally every row of one table: (tally, rejected source rows, (chunks, differing chunks) in fast mode)."""
    tally = _Tally()
    rejected = [0]
    if not fast:
        _compare_rows(spec, source_side.rows(rejected), target_side.rows(), tally)
        return tally, rejected[0], None
    digits = _chunk_digits(rows)
    chunks = 0
    differing_chunks: list[str] = []
    for ours, theirs in _merge(source_side.chunks(digits, rejected), target_side.chunks(digits), _chunk_key):
        chunks += 1
        if (
            ours is not None
            and theirs is not None
            and (ours.rows, ours.digest) == (theirs.rows, theirs.digest)
        ):
            tally.matched += ours.rows
        else:
            differing_chunks.append(next(chunk.prefix for chunk in (ours, theirs) if chunk is not None))
    if len(differing_chunks) * 2 > chunks:
        # Most chunks differ: filtering by chunk would cost more than it saves, so read every row again.
        # Quarantined rows were counted by the hash pass; this second pass must not count them again.
        _compare_rows(spec, source_side.rows([0]), target_side.rows(), tally)
    elif differing_chunks:
        wanted = set(differing_chunks)
        _compare_rows(
            spec,
            (row for row in source_side.rows([0]) if row.key[:digits] in wanted),
            target_side.rows(differing_chunks, digits),
            tally,
        )
    return tally, rejected[0], (chunks, len(differing_chunks))


@contextmanager
def _read_only_snapshot(target: psycopg2.extensions.connection) -> Iterator[None]:
    """One repeatable-read transaction for the whole check, ended afterwards, when the caller has none open.

    Named cursors need a transaction, and one snapshot makes the tables agree with each other.
    A caller already inside a transaction keeps it: the check reads within it and leaves it open.
    """
    was_autocommit = target.autocommit
    idle = was_autocommit or target.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_IDLE
    if not idle:
        yield
        return
    target.autocommit = False
    try:
        with target.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield
    finally:
        if not target.closed:
            target.rollback()
            target.autocommit = was_autocommit


def check_consistency(
    source: sqlite3.Connection,
    target: psycopg2.extensions.connection,
    tables: Sequence[str] | None = None,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    fast: bool = False,
) -> ConsistencyReport:
    """Compare ``tables`` (all, in TABLE_NAMES order, by default) between SQLite and PostgreSQL.

    Counts rows, then compares every mapped column of every row; ``fast`` compares per-chunk
    hashes first and reads rows only in chunks that differ. Memory holds one batch of
    ``batch_size`` rows per side. Registers a SQL function on ``source`` to sort its ids.
    """
    if batch_size < 1:
        raise ConsistencyError(f"batch size must be at least 1, not {batch_size}")
    names = [get_table(name).name for name in (tables or TABLE_NAMES)]
    names.sort(key=TABLE_NAMES.index)
    source.create_function(UUID_KEY_FUNCTION, 1, _uuid_key, deterministic=True)
    reports = []
    with _read_only_snapshot(target):
        for table in names:
            try:
                reports.append(_check_table(source, target, table, batch_size, fast))
            except psycopg2.Error as error:
                message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                raise TargetError(f"cannot read the target: {message}", table=table) from error
    return ConsistencyReport(tuple(reports), fast=fast)
