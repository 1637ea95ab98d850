"""Chunk digests: the Python and SQL halves of the one row encoding agree, and any change shows."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg2.extensions
import pytest
from psycopg2 import sql

from sqlite_to_postgres.digests import (
    CHUNK_ROWS,
    MAX_CHUNK_DIGITS,
    ChunkSummary,
    changed_chunks,
    chunk_digits,
    fetch_summary,
    source_summary,
    summarise,
    summary_query,
    target_summary,
)
from sqlite_to_postgres.models import Genre
from sqlite_to_postgres.tables import Column, Kind, TableSpec
from sqlite_to_postgres.verify.normalise import SQL_RENDER, Invalid, normaliser, uuid_key

PROBE = TableSpec(
    name="probe",
    model=Genre,  # unused here: digests read only the columns
    columns=(
        Column("id", "id", Kind.UUID, nullable=False),
        Column("name", "name", Kind.TEXT),
        Column("note", "note", Kind.TEXT),
        Column("at", "at", Kind.TIMESTAMP),
        Column("score", "score", Kind.FLOAT),
        Column("day", "day", Kind.DATE),
    ),
    target_schema="public",
)

# Rows as the legacy SQLite file holds them (id, name, note, at, score, day): NULL beside '', tabs,
# newlines and backslashes, text beyond the BMP, timestamps as the legacy writes them, awkward doubles.
LEGACY_ROWS: list[tuple[object, ...]] = [
    ("0a000000-0000-4000-8000-000000000001", "", None, "2021-06-16 20:14:09.309735+00", 8.5, "2021-06-16"),
    ("0b000000-0000-4000-8000-000000000002", None, "", "2021-06-16 20:14:09+00", 0.1, None),
    ("0c000000-0000-4000-8000-000000000003", "tab\there", "line\nbreak", None, 1e16, "0099-12-31"),
    (
        "1a000000-0000-4000-8000-000000000004",
        "back\\slash 'quote'",
        "\t",
        "1999-12-31 23:59:59.5+00",
        1e-07,
        None,
    ),
    ("1b000000-0000-4000-8000-000000000005", "ünïcödé ✓", "𝄞 music", None, 7.199999999999999, None),
    ("2a000000-0000-4000-8000-000000000006", "-", "1:x", None, 0.30000000000000004, None),
    ("2b000000-0000-4000-8000-000000000007", "a\tb", None, None, -0.0, None),
    ("2c000000-0000-4000-8000-000000000008", "a", "\tb", None, 2.0, None),
    ("3a000000-0000-4000-8000-000000000009", None, None, None, 3, None),
    ("3b000000-0000-4000-8000-00000000000a", None, None, None, None, None),
]


def _create_probe(target: psycopg2.extensions.connection, rows: Sequence[tuple[object, ...]]) -> None:
    """The probe table holding ``rows`` as PostgreSQL stores them, each value cast from the source's value."""
    with target.cursor() as cursor:
        # A timestamp without an offset is UTC, as the migration reads it.
        cursor.execute("SET LOCAL TimeZone = 'UTC'")
        cursor.execute(
            "CREATE TABLE probe (id uuid PRIMARY KEY, name text, note text, at timestamptz, score float8, day date)"
        )
        for row in rows:
            # As text, as the migration's COPY sends it (a float parameter would go as a numeric literal).
            as_text = [value if value is None or isinstance(value, str) else repr(value) for value in row]
            cursor.execute("INSERT INTO probe VALUES (%s, %s, %s, %s, %s, %s)", as_text)
    target.commit()


def _update(target: psycopg2.extensions.connection, statement: str) -> None:
    with target.cursor() as cursor:
        cursor.execute(statement)
        assert cursor.rowcount == 1
    target.commit()


def _rerun_sides(target: psycopg2.extensions.connection, digits: int) -> tuple[ChunkSummary, ChunkSummary]:
    source_rows = [(rowid, *row) for rowid, row in enumerate(LEGACY_ROWS, start=1)]
    return source_summary(source_rows, digits), target_summary(target, PROBE, digits)


@pytest.mark.parametrize("digits", [1, 2])
def test_rerun_digests_of_legacy_rows_agree(target: psycopg2.extensions.connection, digits: int) -> None:
    _create_probe(target, LEGACY_ROWS)

    source_side, target_side = _rerun_sides(target, digits)

    assert source_side == target_side
    assert sum(rows for rows, _ in source_side.values()) == len(LEGACY_ROWS)
    assert len(source_side) == (4 if digits == 1 else 10)


@pytest.mark.parametrize(
    ("change", "chunk"),
    [
        ("UPDATE probe SET note = '' WHERE name = E'a\\tb'", "2"),  # NULL becomes ''
        ("UPDATE probe SET name = NULL WHERE name = ''", "0"),  # '' becomes NULL
        ("UPDATE probe SET name = 'a', note = E'\\tb' WHERE name = E'a\\tb'", "2"),  # a tab moves over
        ("UPDATE probe SET at = at + interval '1 microsecond' WHERE score = 8.5", "0"),
        ("UPDATE probe SET score = score * (1 + 2.220446049250313e-16) WHERE score = 8.5", "0"),  # last bit
        ("UPDATE probe SET score = 0 WHERE name = E'a\\tb'", "2"),  # -0 becomes 0
        ("UPDATE probe SET note = '𝄞 musiC' WHERE note = '𝄞 music'", "1"),
        ("DELETE FROM probe WHERE score = 0.1", "0"),
        ("INSERT INTO probe (id) VALUES ('3c000000-0000-4000-8000-00000000000b')", "3"),
    ],
)
def test_rerun_digests_see_any_change_in_its_own_chunk(
    target: psycopg2.extensions.connection, change: str, chunk: str
) -> None:
    _create_probe(target, LEGACY_ROWS)
    _update(target, change)

    assert changed_chunks(*_rerun_sides(target, 1)) == {chunk}


def test_rerun_digests_read_again_a_timestamp_not_written_as_postgresql_prints_it(
    target: psycopg2.extensions.connection,
) -> None:
    """The same instant spelled with another offset: the re-run reloads its chunk (a cost, never a miss)."""
    _create_probe(target, LEGACY_ROWS)
    _update(target, "UPDATE probe SET at = '2021-06-16 23:14:09.309735+03' WHERE score = 8.5")
    legacy_spelling = [(rowid, *row) for rowid, row in enumerate(LEGACY_ROWS, start=1)]
    legacy_spelling[0] = (1, *LEGACY_ROWS[0][:3], "2021-06-16 23:14:09.309735+03", *LEGACY_ROWS[0][4:])

    assert changed_chunks(source_summary(legacy_spelling, 1), target_summary(target, PROBE, 1)) == {"0"}


# Source values that verify reduces to canonical text first: ids in capitals or braces, timestamps
# with any offset or none, a float given as an integer.
CHECK_ROWS: list[tuple[object, ...]] = [
    *LEGACY_ROWS,
    ("4A000000-0000-4000-8000-00000000000B", "x", None, "2021-06-16 23:14:09.3+03", 8, "2021-06-16"),
    ("{4b000000-0000-4000-8000-00000000000c}", "y", None, "2021-01-01T23:59:59-05:30", 1e15, None),
    ("4c000000-0000-4000-8000-00000000000d", "z", None, "2021-06-16 20:14:09", 123456789.123456789, None),
]


def _canonical_source_side(rows: Sequence[tuple[object, ...]], digits: int) -> ChunkSummary:
    normalisers = [normaliser(column) for column in PROBE.columns]
    canonical = [
        tuple(normalise(value) for normalise, value in zip(normalisers, row, strict=True)) for row in rows
    ]
    return summarise(
        (str(uuid_key(row[0]))[:digits], values) for row, values in zip(rows, canonical, strict=True)
    )


def _canonical_target_side(target: psycopg2.extensions.connection, digits: int) -> ChunkSummary:
    rendered = [
        sql.SQL(SQL_RENDER[column.kind]).format(c=sql.Identifier(column.target)) for column in PROBE.columns
    ]
    with target.cursor() as cursor:
        return fetch_summary(cursor, summary_query(PROBE, rendered), digits)


def test_check_digests_of_canonical_rows_agree(target: psycopg2.extensions.connection) -> None:
    _create_probe(target, CHECK_ROWS)

    assert _canonical_source_side(CHECK_ROWS, 1) == _canonical_target_side(target, 1)

    _update(target, "UPDATE probe SET at = at + interval '1 microsecond' WHERE name = 'y'")
    assert changed_chunks(_canonical_source_side(CHECK_ROWS, 1), _canonical_target_side(target, 1)) == {"4"}


def test_encoding_tells_null_from_empty_and_cannot_be_spliced() -> None:
    def digest(*values: object) -> ChunkSummary:
        return summarise([("0", values)])

    assert digest(None) != digest("")
    assert digest(None) != digest("-")
    assert digest("a", "bc") != digest("ab", "c")
    assert digest("a\t", "b") != digest("a", "\tb")
    assert digest(2.0) == digest("2") and digest(3) == digest("3")


def test_a_value_no_column_can_hold_matches_no_text() -> None:
    unparsable = normaliser(Column("at", "at", Kind.TIMESTAMP))("yesterday")
    assert isinstance(unparsable, Invalid)

    for value in (unparsable, b"blob"):
        assert summarise([("0", [value])]) == summarise([("0", [b"other"])])  # both the mark "!"
        assert all(
            summarise([("0", [value])]) != summarise([("0", [text])]) for text in ("!", "1:!", "", None)
        )


def test_a_digest_does_not_depend_on_row_order() -> None:
    rows = [(f"{i % 3}", (f"id{i}", f"value {i}")) for i in range(20)]

    assert summarise(rows) == summarise(reversed(rows))


def test_chunks_hold_about_chunk_rows_rows() -> None:
    assert chunk_digits(0) == chunk_digits(CHUNK_ROWS * 4) == 1
    assert chunk_digits(10**15) == MAX_CHUNK_DIGITS
    for rows in (CHUNK_ROWS * 16, 200_000, 1_300_000, 10**9):
        assert CHUNK_ROWS / 4 <= rows / 16 ** chunk_digits(rows) <= CHUNK_ROWS * 4, rows
