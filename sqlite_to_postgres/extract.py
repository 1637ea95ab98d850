"""Extract: stream a source table out of SQLite in batches, in rowid order."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

from .errors import SourceError
from .tables import TableSpec

log = logging.getLogger(__name__)

# Every read starts after this bound. SQLite's rowids are signed 64-bit integers and may be zero or
# negative (a row given one explicitly): a start after 0 lost those rows without a word. The one rowid
# no bound is below, -2**63 itself, is refused by name (check_source_table).
BEFORE_FIRST_ROWID = -(2**63)
# Which rows a read yields: raised whenever a change lets it yield rows an earlier version's did not, so
# that checkpoints of those versions no longer match the file (connections.source_fingerprint) and the
# rows they missed are loaded. 2: rowids at or below 0.
READ_FORMAT = 2

# (rowid, *source column values): the rowid orders the read and is the resume point.
SourceRow = tuple[Any, ...]


def quote(identifier: str) -> str:
    """A SQLite identifier, quoted."""
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
    """Fail early, naming the columns, when the source table lacks a mapped column (or has a row no read
    can start before)."""
    present = set(source_columns(connection, spec.name))
    missing = [column for column in spec.source_columns if column not in present]
    if missing:
        raise SourceError(f"the SQLite table lacks column(s) {', '.join(missing)}", table=spec.name)
    try:
        lowest = connection.execute(f"SELECT 1 FROM {quote(spec.name)} WHERE rowid = ?", (BEFORE_FIRST_ROWID,)).fetchone()
    except sqlite3.DatabaseError as error:
        raise SourceError(f"cannot read rowids: {error}", table=spec.name) from error
    if lowest is not None:
        raise SourceError(
            f"a row has rowid {BEFORE_FIRST_ROWID}, the lowest SQLite allows, which no read can start before: "
            "give it another rowid (UPDATE ... SET rowid = ...)",
            table=spec.name,
        )


def check_source(connection: sqlite3.Connection, specs: Iterable[TableSpec]) -> None:
    """Before anything is written: the file is sound SQLite and has every table and column to be read."""
    specs = list(specs)
    for spec in specs:
        check_source_table(connection, spec)
    # Each table with its indexes, not the whole file: the pages the migration reads are the ones that count.
    for spec in specs:
        raise_if_corrupt(quick_check(connection, spec.name))


def quick_check(connection: sqlite3.Connection, table: str) -> list[str]:
    """What ``PRAGMA quick_check`` finds in one table and its indexes: ["ok"] when they are sound.

    quick_check reads every page (about 0.6 s for the 360 MB of 100 times the real catalog) but not
    the indexes' agreement with the tables, which a read-only migration does not need. Without it a
    corrupt page in the last table would fail the run after the first tables were written.
    """
    try:
        return [row[0] for row in connection.execute(f"PRAGMA quick_check({quote(table)})").fetchmany(5)]
    except sqlite3.DatabaseError as error:
        # Damage that stops the table's check itself ("malformed"): the whole file's check says where.
        try:
            found = [row[0] for row in connection.execute("PRAGMA quick_check(5)")]
        except sqlite3.DatabaseError:
            found = ["ok"]
        return [f"{error}"] if found == ["ok"] else found


def raise_if_corrupt(problems: list[str]) -> None:
    """The one error for what ``quick_check`` found, if anything."""
    if problems != ["ok"]:
        details = [line for text in problems for line in text.splitlines() if not line.startswith("***")]
        raise SourceError(f"the SQLite file is corrupt: {'; '.join(details[:3])}")


def count_rows(connection: sqlite3.Connection, spec: TableSpec, after_rowid: int = BEFORE_FIRST_ROWID) -> int:
    """How many rows a read from ``after_rowid`` will yield, for progress reporting."""
    # Without a bound SQLite counts the cells of its smallest b-tree: a quarter of the time.
    where, parameters = ("", ()) if after_rowid == BEFORE_FIRST_ROWID else (" WHERE rowid > ?", (after_rowid,))
    try:
        return int(connection.execute(f"SELECT count(*) FROM {quote(spec.name)}{where}", parameters).fetchone()[0])
    except sqlite3.DatabaseError as error:
        raise SourceError(f"cannot count rows: {error}", table=spec.name) from error


def rowid_of(connection: sqlite3.Connection, spec: TableSpec, loaded_id: str) -> int:
    """The rowid of the source row whose id reads as the uuid ``loaded_id`` (canonical text)."""
    id_column = quote(spec.columns[0].source)
    table = quote(spec.name)
    found = connection.execute(f"SELECT rowid FROM {table} WHERE {id_column} = ?", (loaded_id,)).fetchone()
    if found is None:  # written another way (capitals, no hyphens): a scan, for rows that are rare
        key = _normalised_id(id_column)
        found = connection.execute(
            f"SELECT rowid FROM {table} WHERE {key} = ?", (loaded_id.replace("-", ""),)
        ).fetchone()
    if found is None:
        raise SourceError(f"no source row has id {loaded_id}", table=spec.name)
    return int(found[0])


def unmapped_data(connection: sqlite3.Connection, spec: TableSpec) -> dict[str, int]:
    """Source columns with no target column that hold data: column -> non-NULL rows."""
    present = set(source_columns(connection, spec.name))
    known = set(spec.source_columns)
    extra = [column for column in present if column not in known]
    counts: dict[str, int] = {}
    for column in extra:
        sql = f"SELECT count(*) FROM {quote(spec.name)} WHERE {quote(column)} IS NOT NULL"
        non_null = int(connection.execute(sql).fetchone()[0])
        if non_null:
            counts[column] = non_null
    return counts


def _normalised_id(id_column: str) -> str:
    """SQL for an id as 32 lowercase hex digits, however it was written (capitals, hyphens, braces)."""
    return f"lower(replace(replace(replace({id_column}, '-', ''), '{{', ''), '}}', ''))"


def unique_as_written(connection: sqlite3.Connection, spec: TableSpec) -> bool:
    """Whether a unique index keeps the source's ids distinct as written (capitals and hyphens count)."""
    return _has_unique_index(connection, spec.name, spec.columns[0].source)


def _has_unique_index(connection: sqlite3.Connection, table: str, column: str) -> bool:
    for _, index, unique, *_ in connection.execute(f"PRAGMA index_list({quote(table)})"):
        if unique and [info[2] for info in connection.execute(f"PRAGMA index_info({quote(index)})")] == [
            column
        ]:
            return True
    return False


def duplicate_ids(connection: sqlite3.Connection, spec: TableSpec) -> dict[int, int]:
    """Rows whose id is an earlier row's id once read as a UUID (case, hyphens): rowid -> that earlier rowid.

    PostgreSQL would fold them into one row, losing one silently, so they must be rejected before loading.
    A full grouping of the table: the pipeline calls it only when repeats are possible (see
    ``unique_as_written``).
    """
    id_column = quote(spec.columns[0].source)
    table = quote(spec.name)
    key = _normalised_id(id_column)
    rows = connection.execute(
        f"SELECT rowid, first FROM (SELECT rowid, min(rowid) OVER (PARTITION BY {key}) AS first FROM {table}) "
        "WHERE rowid <> first"
    )
    return dict(rows.fetchall())


class UndecodableText(str):
    """Text from a source row that is not valid UTF-8, kept with its bad bytes escaped so it can be reported."""


def tolerant_text(data: bytes) -> str:
    """A text factory for sqlite3 that keeps undecodable text, marked, instead of failing the fetch."""
    try:
        return data.decode()
    except UnicodeDecodeError:
        return UndecodableText(data.decode("utf-8", "surrogateescape"))


def read_rows(
    connection: sqlite3.Connection,
    spec: TableSpec,
    batch_size: int,
    after_rowid: int = BEFORE_FIRST_ROWID,
    up_to_rowid: int | None = None,
    condition: tuple[str, tuple[object, ...]] = ("", ()),
) -> Iterator[SourceRow]:
    """Yield ``(rowid, *columns)`` for every row after ``after_rowid`` (up to ``up_to_rowid``), ``batch_size`` at a time.

    ``condition``, SQL and its parameters, keeps only the rows it holds for (a re-run's changed chunks).
    """
    columns = ", ".join(quote(column) for column in spec.source_columns)
    where, parameters = condition
    where = f" AND ({where})" if where else ""
    sql = f"SELECT rowid, {columns} FROM {quote(spec.name)} WHERE rowid > ? AND rowid <= ?{where} ORDER BY rowid"
    last_rowid = after_rowid
    # SQLite's rowids are signed 64-bit integers.
    end = (1 << 63) - 1 if up_to_rowid is None else up_to_rowid
    try:
        while True:
            try:
                cursor = connection.execute(sql, (last_rowid, end, *parameters))
                while rows := cursor.fetchmany(batch_size):
                    yield from rows
                    last_rowid = rows[-1][0]
                return
            except sqlite3.OperationalError as error:
                # sqlite3's fast decoding fails the whole fetch on one bad byte; decoding in Python is
                # slower but lets that row be rejected alone, so it is used only once a file needs it.
                if "decode" not in str(error) or connection.text_factory is tolerant_text:
                    raise
                log.warning(
                    "%s: text that is not UTF-8 after rowid %d; reading on with a tolerant decoder",
                    spec.name,
                    last_rowid,
                )
                connection.text_factory = tolerant_text
    except sqlite3.DatabaseError as error:
        raise SourceError(f"cannot read rows after rowid {last_rowid}: {error}", table=spec.name) from error
    finally:
        connection.text_factory = str


def count_range(connection: sqlite3.Connection, spec: TableSpec, after_rowid: int, last_rowid: int) -> int:
    """How many rows have ``after_rowid < rowid <= last_rowid``."""
    sql = f"SELECT count(*) FROM {quote(spec.name)} WHERE rowid > ? AND rowid <= ?"
    try:
        return int(connection.execute(sql, (after_rowid, last_rowid)).fetchone()[0])
    except sqlite3.DatabaseError as error:
        raise SourceError(f"cannot count rows after rowid {after_rowid}: {error}", table=spec.name) from error


def rowid_ranges(
    connection: sqlite3.Connection,
    spec: TableSpec,
    batch_size: int,
    after_rowid: int = BEFORE_FIRST_ROWID,
    up_to_rowid: int | None = None,
) -> Iterator[tuple[int, int]]:
    """Split the rows after ``after_rowid`` (up to ``up_to_rowid``) into ranges ``(after, last]`` of
    ``batch_size`` rows each, in order.

    Each step walks ``batch_size`` entries of the rowid b-tree inside SQLite, without reading the rows,
    so ranges can be handed to other processes that read them.
    """
    table = quote(spec.name)
    bound = "" if up_to_rowid is None else f" AND rowid <= {int(up_to_rowid)}"
    sql = f"SELECT rowid FROM {table} WHERE rowid > ?{bound} ORDER BY rowid LIMIT 1 OFFSET ?"
    last_rowid = after_rowid
    try:
        if after_rowid == BEFORE_FIRST_ROWID:
            # The first range starts just below the lowest rowid: range digests cut a range into slots
            # by rowid value, and from -2**63 every row of the first batch would fall in its last slot.
            lowest = connection.execute(f"SELECT min(rowid) FROM {table} WHERE rowid > ?{bound}", (after_rowid,))
            found = lowest.fetchone()[0]
            if found is None:
                return
            last_rowid = int(found) - 1
        while True:
            found = connection.execute(sql, (last_rowid, batch_size - 1)).fetchone()
            if found is None:
                end = connection.execute(
                    f"SELECT max(rowid) FROM {table} WHERE rowid > ?{bound}", (last_rowid,)
                ).fetchone()[0]
                if end is not None:
                    yield last_rowid, int(end)
                return
            yield last_rowid, int(found[0])
            last_rowid = int(found[0])
    except sqlite3.DatabaseError as error:
        raise SourceError(f"cannot read rowids after {last_rowid}: {error}", table=spec.name) from error


def read_ids(connection: sqlite3.Connection, spec: TableSpec, batch_size: int) -> Iterator[object]:
    """Yield the id of every source row, ``batch_size`` at a time."""
    id_column = spec.columns[0].source
    try:
        cursor = connection.execute(f"SELECT {quote(id_column)} FROM {quote(spec.name)}")
        while rows := cursor.fetchmany(batch_size):
            for (source_id,) in rows:
                yield source_id
    except sqlite3.DatabaseError as error:
        raise SourceError(f"cannot read ids: {error}", table=spec.name) from error
