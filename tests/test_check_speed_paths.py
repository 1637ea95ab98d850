"""The fast paths of issue 12: a re-run's source digests built by SQLite in worker processes, and only
the rows of changed chunks read again; each checked against the slow, plain way."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg2.extensions
import pytest

from sqlite_to_postgres.digests import (
    changed_chunks,
    merge_summaries,
    source_range_summary,
    source_summary,
    sqlite_chunk_condition,
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

    in_python = source_summary(read_rows(source, PROBE, 100), digits)
    in_sqlite = source_range_summary(source, PROBE, digits, 0, len(ROWS))

    assert in_sqlite == in_python
    assert sum(count for count, _ in in_sqlite.values()) == len(ROWS)


@pytest.mark.parametrize("value", [0.30000000000000004, 7.199999999999999, 0.0, -0.0])
def test_a_double_sqlite_spells_otherwise_than_python_only_makes_its_chunk_differ(
    tmp_path: Path, value: float
) -> None:
    """16 or 17 digits, or a zero (SQLite prints -0.0 as 0.0): read again, never mistaken for another."""
    source = _probe_file(tmp_path, [*ROWS, ("3a000000-0000-4000-8000-000000000009", None, value, None)])

    in_python = source_summary(read_rows(source, PROBE, 100), 1)
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
        "UPDATE probe SET name = '42' WHERE name = 42",  # the number becomes text: the same digest, as PostgreSQL holds it
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
    if "'42'" in change:
        # A text '42' and a number 42 load as the same text: neither side could tell them apart.
        assert changed_chunks(before, after) == set()
    else:
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
