"""The fast paths of issue 12: a re-run's source digests built by SQLite in worker processes, and only
the rows of changed chunks read again; each checked against the slow, plain way."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg2.extensions
import pytest

from sqlite_to_postgres.digests import (
    MARK,
    changed_chunks,
    encode_row,
    merge_summaries,
    source_range_summary,
    source_summary,
    sqlite_chunk_condition,
    sqlite_summary_query,
)
from sqlite_to_postgres.extract import read_rows
from sqlite_to_postgres.models import Genre
from sqlite_to_postgres.options import RunOptions
from sqlite_to_postgres.pipeline import migrate
from sqlite_to_postgres.tables import Column, Kind, TableSpec

PROBE = TableSpec(
    name="probe",
    model=Genre,  # unused here: digests read only the columns
    columns=(
        Column("id", "id", Kind.UUID, nullable=False),
        Column("name", "name", Kind.TEXT),
        Column("score", "score", Kind.FLOAT),
        Column("at", "at", Kind.TIMESTAMP),
    ),
    target_schema="public",
)

# Values as a legacy file may hold them: NULL beside '', tabs, text beyond the BMP, a number where
# text is expected, doubles whose shortest spelling has 1 to 15 digits, an id that is not text.
ROWS: list[tuple[object, ...]] = [
    ("0a000000-0000-4000-8000-000000000001", "", 8.5, "2021-06-16 20:14:09.309735+00"),
    ("0b000000-0000-4000-8000-000000000002", None, 0.1, None),
    ("0c000000-0000-4000-8000-000000000003", "tab\there", 9.0, ""),
    ("1a000000-0000-4000-8000-000000000004", "ünïcödé ✓ 𝄞", 1e16, None),
    ("1b000000-0000-4000-8000-000000000005", 42, 1e-07, None),
    ("2a000000-0000-4000-8000-000000000006", "-", 123456789.123456, None),
    ("2b000000-0000-4000-8000-000000000007", "1:x", 3, None),
    ("2c000000-0000-4000-8000-000000000008", "a,b", None, "2021-06-16 20:14:09+00"),
    (12345, "an id that is no text", None, None),
]


def _probe_file(tmp_path: Path, rows: list[tuple[object, ...]]) -> sqlite3.Connection:
    source = sqlite3.connect(tmp_path / "probe.sqlite")
    source.execute("CREATE TABLE probe (id, name, score, at)")
    source.executemany("INSERT INTO probe VALUES (?, ?, ?, ?)", rows)
    source.commit()
    return source


@pytest.mark.parametrize("digits", [1, 2])
def test_sqlite_builds_the_row_text_python_builds(tmp_path: Path, digits: int) -> None:
    source = _probe_file(tmp_path, ROWS)

    in_python = source_summary(read_rows(source, PROBE, 100), PROBE, digits)
    in_sqlite = source_range_summary(source, PROBE, digits, 0, len(ROWS))

    assert in_sqlite == in_python
    assert sum(count for count, _ in in_sqlite.values()) == len(ROWS)


# As the legacy file declares them, so SQLite's affinities apply (a date '2021' is stored as a number).
TYPED = TableSpec(
    name="typed",
    model=Genre,
    columns=(
        Column("id", "id", Kind.UUID, nullable=False),
        Column("name", "name", Kind.TEXT),
        Column("role", "role", Kind.TEXT, nullable=False),
        Column("score", "score", Kind.FLOAT),
        Column("at", "at", Kind.TIMESTAMP),
        Column("day", "day", Kind.DATE),
    ),
)
TYPED_ROW: tuple[object, ...] = (
    "0a000000-0000-4000-8000-000000000001", "name", "actor", 8.5, "2021-06-16 20:14:09.309735+00", "2021-06-16"
)
# Per column, values each written into TYPED_ROW in turn: well-formed ones, and ones that mark the row.
TYPED_VALUES: list[list[object]] = [
    ["0A000000-0000-4000-8000-000000000001", "", None, 12345, 1.5, b"blob", "a,b", "a\x00b"],
    ["", None, "tab\t", "ünïcödé ✓ 𝄞", "1:x", ",", ":", "a\x00b", 42, 4.5, b"x"],
    ["", None, "director", 42, b"x"],
    [None, 0.1, 9.0, 1e16, 1e-07, 123456789.123456, 3, -7, "8.5", "abc", b"x"],
    [None, "", "infinity", "-infinity", "yesterday", "2021-06-16T20:14:09Z", "x,y", 12, 1.5, b"x"],
    [None, "", "2021", "-infinity", "0099-12-31", "2021-06-16,", 20210616, b"x"],
]


@pytest.mark.parametrize("declared", [True, False], ids=["declared types", "no types"])
def test_sqlite_writes_the_bytes_python_writes(tmp_path: Path, declared: bool) -> None:
    source = sqlite3.connect(tmp_path / "typed.sqlite")
    types = ["TEXT", "TEXT", "TEXT", "FLOAT", "timestamp with time zone", "DATE"] if declared else [""] * 6
    source.execute(f"CREATE TABLE typed ({', '.join(f'{c.source} {t}' for c, t in zip(TYPED.columns, types, strict=True))})")
    rows = [TYPED_ROW] + [
        (*TYPED_ROW[:index], value, *TYPED_ROW[index + 1 :])
        for index, values in enumerate(TYPED_VALUES)
        for value in values
    ]
    source.executemany("INSERT INTO typed VALUES (?, ?, ?, ?, ?, ?)", rows)
    query = sqlite_summary_query(TYPED, 2)

    for rowid, *stored in source.execute("SELECT rowid, * FROM typed"):
        ((_, in_sqlite),) = source.execute(query, (rowid - 1, rowid)).fetchall()
        assert in_sqlite == encode_row(TYPED.columns, stored), stored

    # Declared, the column stores the date '2021' as a number, which the migration refuses.
    ((day,),) = source.execute("SELECT day FROM typed WHERE day IN (2021, '2021')").fetchall()
    assert (encode_row(TYPED.columns, (*TYPED_ROW[:5], day)) == MARK) is declared


@pytest.mark.parametrize("value", [0.30000000000000004, 7.199999999999999, 0.0, -0.0])
def test_a_double_sqlite_spells_otherwise_than_python_only_makes_its_chunk_differ(
    tmp_path: Path, value: float
) -> None:
    """16 or 17 digits, or a zero (SQLite prints -0.0 as 0.0): read again, never mistaken for another."""
    source = _probe_file(tmp_path, [*ROWS, ("3a000000-0000-4000-8000-000000000009", None, value, None)])

    in_python = source_summary(read_rows(source, PROBE, 100), PROBE, 1)
    in_sqlite = source_range_summary(source, PROBE, 1, 0, len(ROWS) + 1)

    if value == 0:
        assert changed_chunks(in_python, in_sqlite) == {"3"}
    else:  # SQLite may spell it as repr does (as 3.40 does here); at worst that chunk is read again
        assert changed_chunks(in_python, in_sqlite) <= {"3"}


def test_summaries_of_ranges_add_up_to_the_whole(tmp_path: Path) -> None:
    source = _probe_file(tmp_path, ROWS)
    parts = [source_range_summary(source, PROBE, 1, after, after + 3) for after in range(0, len(ROWS), 3)]

    assert merge_summaries(parts) == source_range_summary(source, PROBE, 1, 0, len(ROWS))


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE probe SET score = 0.30000000000000004 WHERE score = 0.1",  # 17 digits: not as PostgreSQL spells it
        "UPDATE probe SET score = 0.30000000000000004 + 1e-16 WHERE score = 0.1",  # then its last bit
        "UPDATE probe SET name = NULL WHERE name = ''",
        "UPDATE probe SET name = '42' WHERE name = 42",  # the number (refused where text is wanted) becomes text
        "UPDATE probe SET score = -0.0 WHERE score = 0.1",
        "UPDATE probe SET score = 0.0 WHERE score = 0.1",
        "UPDATE probe SET name = x'00' WHERE name = '-'",  # a blob
    ],
)
def test_any_change_of_a_value_changes_its_chunk(tmp_path: Path, change: str) -> None:
    source = _probe_file(tmp_path, ROWS)
    before = source_range_summary(source, PROBE, 1, 0, len(ROWS))
    source.execute(change)
    after = source_range_summary(source, PROBE, 1, 0, len(ROWS))

    assert len(changed_chunks(before, after)) == 1


def test_the_chunk_condition_keeps_the_changed_chunks_and_every_odd_id(tmp_path: Path) -> None:
    rows = [*ROWS, ("AB000000-0000-4000-8000-000000000008", "capitals", None, None), ("a", "short", None, None)]
    source = _probe_file(tmp_path, rows)

    kept = list(read_rows(source, PROBE, 100, condition=sqlite_chunk_condition(PROBE, 2, frozenset({"1a", "2b"}))))

    assert [row[1] for row in kept] == [
        "1a000000-0000-4000-8000-000000000004",
        "2b000000-0000-4000-8000-000000000007",
        12345,
        "AB000000-0000-4000-8000-000000000008",
        "a",
    ]


def test_a_rerun_in_worker_processes_updates_exactly_the_changed_rows(
    sample_sqlite: Path, target_dsn: str, target: psycopg2.extensions.connection
) -> None:
    # Small batches so every table goes through the worker processes, for its digests and its rows.
    options = RunOptions(batch_size=50, workers=2)
    migrate(sample_sqlite, target_dsn, options)
    with sqlite3.connect(sample_sqlite) as source:
        films = [row[0] for row in source.execute("SELECT id FROM film_work ORDER BY rowid DESC LIMIT 3")]
        person = source.execute("SELECT id FROM person ORDER BY rowid LIMIT 1").fetchone()[0]
        source.executemany("UPDATE film_work SET title = title || ' (renamed)' WHERE id = ?", [(f,) for f in films])
        source.execute("UPDATE person SET full_name = 'Someone Else' WHERE id = ?", (person,))
    source.close()

    summaries = {s.table: s for s in migrate(sample_sqlite, target_dsn, options)}

    assert summaries["film_work"].updated == 3
    assert summaries["person"].updated == 1
    assert sum(s.updated + s.inserted + s.rejected for s in summaries.values()) == 4
    assert all(s.rows_read == s.updated + s.unchanged for s in summaries.values())
    with target.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM content.film_work WHERE title LIKE '%% (renamed)'")
        assert cursor.fetchone()[0] == 3
        cursor.execute("SELECT full_name FROM content.person WHERE id = %s", (person,))
        assert cursor.fetchone()[0] == "Someone Else"
    target.commit()
