"""Chunk digests: the Python and SQL halves of the one row encoding agree, and any change shows."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg2.extensions
import pytest

from sqlite_to_postgres.digests import (
    CHUNK_ROWS,
    MAX_CHUNK_DIGITS,
    ChunkSummary,
    changed_chunks,
    chunk_digits,
    source_summary,
    summarise,
    target_summary,
)
from sqlite_to_postgres.models import Genre
from sqlite_to_postgres.tables import Column, Kind, TableSpec
from sqlite_to_postgres.verify.normalise import Invalid, normaliser

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
    return source_summary(source_rows, PROBE, digits), target_summary(target, PROBE, digits)


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

    assert changed_chunks(source_summary(legacy_spelling, PROBE, 1), target_summary(target, PROBE, 1)) == {"0"}


@pytest.mark.parametrize(
    ("stored", "source"),
    [
        ("infinity", "infinity"),
        ("-infinity", "-infinity"),
        ("10000-01-01 00:00:00+00", "10000-01-01 00:00:00+00"),
        ("0044-03-15 12:00:00+00 BC", "0044-03-15 12:00:00+00 BC"),
    ],
)
def test_a_timestamp_the_check_cannot_read_never_matches_its_own_spelling(
    target: psycopg2.extensions.connection, stored: str, source: str
) -> None:
    """PostgreSQL prints it, the full check cannot parse it: equal text must not pass for equal rows."""
    _create_probe(target, LEGACY_ROWS)
    _update(target, f"UPDATE probe SET at = '{stored}' WHERE score = 8.5")
    with target.cursor() as cursor:
        cursor.execute("SET TimeZone = 'UTC'; SELECT at::text FROM probe WHERE score = 8.5")
        assert cursor.fetchone()[0] == source  # the source holds exactly PostgreSQL's spelling
    target.rollback()
    same_spelling = [(rowid, *row) for rowid, row in enumerate(LEGACY_ROWS, start=1)]
    same_spelling[0] = (1, *LEGACY_ROWS[0][:3], source, *LEGACY_ROWS[0][4:])

    assert changed_chunks(source_summary(same_spelling, PROBE, 1), target_summary(target, PROBE, 1)) == {"0"}


def test_a_value_holding_a_comma_cannot_pass_for_three(target: psycopg2.extensions.connection) -> None:
    """The source's timestamp spells the target's timestamp, double and date, its double and date NULL."""
    _create_probe(target, LEGACY_ROWS)
    spliced = [(rowid, *row) for rowid, row in enumerate(LEGACY_ROWS, start=1)]
    first = LEGACY_ROWS[0]
    spliced[0] = (1, *first[:3], f"{first[3]},8.5,{first[5]}", None, None)

    assert changed_chunks(source_summary(spliced, PROBE, 1), target_summary(target, PROBE, 1)) == {"0"}


def _digest(kinds: Sequence[Kind], *values: object, nullable: bool = True) -> ChunkSummary:
    columns = [Column(f"c{i}", f"c{i}", kind, nullable) for i, kind in enumerate(kinds)]
    return summarise([("0", values)], columns)


def test_encoding_tells_null_from_empty_and_cannot_be_spliced() -> None:
    text, two_texts = [Kind.TEXT], [Kind.TEXT, Kind.TEXT]
    assert _digest(text, None) != _digest(text, "")
    assert _digest(text, None) != _digest(text, ":")
    assert _digest(two_texts, "a", "bc") != _digest(two_texts, "ab", "c")
    assert _digest(two_texts, "a\t", "b") != _digest(two_texts, "a", "\tb")
    assert _digest(two_texts, "1:", None) != _digest(two_texts, None, "1:")
    assert _digest(two_texts, "ü", "") != _digest(two_texts, "", "ü")  # lengths are bytes, written the same
    assert _digest([Kind.UUID, Kind.UUID], "a", None) != _digest([Kind.UUID, Kind.UUID], None, "a")
    assert _digest([Kind.FLOAT], 2.0) == _digest([Kind.FLOAT], 2) != _digest([Kind.FLOAT], None)


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (Kind.TEXT, 42),  # the migration refuses a number where it wants text
        (Kind.TEXT, b"blob"),
        (Kind.UUID, ""),  # would spell NULL
        (Kind.UUID, 12345),
        (Kind.TIMESTAMP, ""),
        (Kind.TIMESTAMP, "infinity"),
        (Kind.DATE, "-infinity"),
        (Kind.DATE, 20210616),
        (Kind.FLOAT, "8.5"),  # text, where the migration wants a number
        (Kind.FLOAT, b"\x00"),
    ],
)
def test_a_value_the_check_would_not_read_as_postgresql_prints_it_marks_the_row(kind: Kind, value: object) -> None:
    marked = summarise([("0", [b"blob"])], [Column("c", "c", Kind.TEXT)])
    assert _digest([kind, Kind.TEXT], value, "rest") == marked


def test_null_in_a_required_column_marks_the_row() -> None:
    marked = summarise([("0", [b"blob"])], [Column("c", "c", Kind.TEXT)])
    assert _digest([Kind.TEXT], None, nullable=False) == marked
    assert _digest([Kind.UUID], None, nullable=False) == marked
    assert _digest([Kind.TEXT], None, nullable=True) != marked


def test_a_value_no_column_can_hold_matches_no_text() -> None:
    unparsable = normaliser(Column("at", "at", Kind.TIMESTAMP))("yesterday")
    assert isinstance(unparsable, Invalid)

    for value in (unparsable, b"blob"):
        assert _digest([Kind.TEXT], value) == _digest([Kind.TEXT], b"other")  # both the mark
        assert all(_digest([Kind.TEXT], value) != _digest([Kind.TEXT], text) for text in ("\x00", "", None))


def test_a_digest_does_not_depend_on_row_order() -> None:
    columns = [Column("id", "id", Kind.UUID), Column("value", "value", Kind.TEXT)]
    rows = [(f"{i % 3}", (f"id{i}", f"value {i}")) for i in range(20)]

    assert summarise(rows, columns) == summarise(reversed(rows), columns)


def test_chunks_hold_about_chunk_rows_rows() -> None:
    assert chunk_digits(0) == chunk_digits(CHUNK_ROWS * 4) == 1
    assert chunk_digits(10**15) == MAX_CHUNK_DIGITS
    for rows in (CHUNK_ROWS * 16, 200_000):
        assert CHUNK_ROWS / 4 <= rows / 16 ** chunk_digits(rows) <= CHUNK_ROWS * 4, rows
    assert chunk_digits(1_300_000) == chunk_digits(10**9) == MAX_CHUNK_DIGITS  # at most 4,096 chunks
