"""The sample catalog: the real catalog's shape at scale 1, exact multiples above, reproducible."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from sqlite_to_postgres.errors import MigrationError
from sqlite_to_postgres.sample import expected_counts, generate_catalog
from sqlite_to_postgres.sample.recipes import RECIPES
from sqlite_to_postgres.tables import TABLES
from tests.conftest import SAMPLE_SQLITE
from tests.support.real_catalog import REAL_COUNTS

TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.(\d{3,6})\+00")
# Characters a text protocol such as COPY must escape.
CONTROL = re.compile(r"[\t\n\r\\]")
QUOTE = re.compile(r"['\"]")


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sqlite3.Connection]:
    """One scale-1 catalog shared by the read-only tests of this module."""
    path = tmp_path_factory.mktemp("catalog") / "db.sqlite"
    generate_catalog(path)
    connection = sqlite3.connect(path)
    yield connection
    connection.close()


def _count(connection: sqlite3.Connection, table: str) -> int:
    return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def _dump(path: Path) -> list[tuple[object, ...]]:
    connection = sqlite3.connect(path)
    try:
        return [
            (table, *row)
            for table in TABLES
            for row in connection.execute(f"SELECT rowid, * FROM {table} ORDER BY rowid")
        ]
    finally:
        connection.close()


def test_scale_1_has_the_real_row_counts(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    assert generate_catalog(path) == REAL_COUNTS
    connection = sqlite3.connect(path)
    assert {table: _count(connection, table) for table in TABLES} == REAL_COUNTS
    connection.close()


def test_every_table_has_a_recipe_and_the_counts_follow_the_real_ones() -> None:
    assert set(RECIPES) == set(TABLES)
    assert expected_counts(1) == REAL_COUNTS
    assert expected_counts(3) == {table: 3 * count for table, count in REAL_COUNTS.items()}


def test_scale_2_doubles_every_table(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    expected = {table: 2 * count for table, count in REAL_COUNTS.items()}
    assert generate_catalog(path, scale=2) == expected
    connection = sqlite3.connect(path)
    assert {table: _count(connection, table) for table in TABLES} == expected
    names = [name for (name,) in connection.execute("SELECT name FROM genre")]
    assert len(set(names)) == 52
    connection.close()


def test_same_seed_and_scale_give_identical_content(tmp_path: Path) -> None:
    first, second = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    generate_catalog(first, scale=2, seed=7)
    generate_catalog(second, scale=2, seed=7)
    assert _dump(first) == _dump(second)


def test_scale_1_seed_0_is_the_projects_db_sqlite(catalog: sqlite3.Connection) -> None:
    sample = sqlite3.connect(SAMPLE_SQLITE)
    try:
        for table in TABLES:
            query = f"SELECT rowid, * FROM {table} ORDER BY rowid"
            assert catalog.execute(query).fetchall() == sample.execute(query).fetchall(), table
    finally:
        sample.close()


def test_another_seed_gives_other_content(tmp_path: Path) -> None:
    first, second = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    generate_catalog(first, seed=0)
    generate_catalog(second, seed=1)
    assert _dump(first) != _dump(second)


def test_timestamps_are_postgres_text_with_3_to_6_fraction_digits(catalog: sqlite3.Connection) -> None:
    lengths: set[int] = set()
    for table in TABLES:
        columns = "created_at, updated_at" if table in {"genre", "person", "film_work"} else "created_at"
        for row in catalog.execute(f"SELECT {columns} FROM {table}"):
            for value in row:
                match = TIMESTAMP.fullmatch(value)
                assert match, f"{table}: {value!r}"
                lengths.add(len(value))
            if len(row) == 2:
                assert datetime.fromisoformat(row[1] + ":00") > datetime.fromisoformat(row[0] + ":00")
    # Trimmed trailing zeros, as PostgreSQL prints them: every length from 26 to 29 occurs.
    assert lengths == {26, 27, 28, 29}


def test_ids_are_lowercase_uuid4_text(catalog: sqlite3.Connection) -> None:
    uuid4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
    for table in TABLES:
        ids = [value for (value,) in catalog.execute(f"SELECT id FROM {table}")]
        assert all(uuid4.fullmatch(value) for value in ids), table


def test_links_point_at_existing_rows_and_pairs_are_unique(catalog: sqlite3.Connection) -> None:
    orphans = {
        "genre_film_work.film_work_id": "SELECT count(*) FROM genre_film_work l"
        " LEFT JOIN film_work f ON f.id = l.film_work_id WHERE f.id IS NULL",
        "genre_film_work.genre_id": "SELECT count(*) FROM genre_film_work l"
        " LEFT JOIN genre g ON g.id = l.genre_id WHERE g.id IS NULL",
        "person_film_work.film_work_id": "SELECT count(*) FROM person_film_work l"
        " LEFT JOIN film_work f ON f.id = l.film_work_id WHERE f.id IS NULL",
        "person_film_work.person_id": "SELECT count(*) FROM person_film_work l"
        " LEFT JOIN person p ON p.id = l.person_id WHERE p.id IS NULL",
    }
    assert {name: catalog.execute(sql).fetchone()[0] for name, sql in orphans.items()} == dict.fromkeys(
        orphans, 0
    )
    assert catalog.execute(
        "SELECT count(*) FROM (SELECT DISTINCT film_work_id, genre_id FROM genre_film_work)"
    ).fetchone() == (REAL_COUNTS["genre_film_work"],)
    assert catalog.execute(
        "SELECT count(*) FROM (SELECT DISTINCT film_work_id, person_id, role FROM person_film_work)"
    ).fetchone() == (REAL_COUNTS["person_film_work"],)
    # Every person is credited somewhere, and some are credited twice on one film (director-writers).
    assert catalog.execute(
        "SELECT count(*) FROM person WHERE id NOT IN (SELECT person_id FROM person_film_work)"
    ).fetchone() == (0,)
    shared = catalog.execute(
        "SELECT count(*) FROM (SELECT 1 FROM person_film_work GROUP BY film_work_id, person_id"
        " HAVING count(*) > 1)"
    ).fetchone()[0]
    assert 300 < shared < 500


def test_film_columns_have_the_real_nulls_and_values(catalog: sqlite3.Connection) -> None:
    row = catalog.execute(
        "SELECT count(creation_date), count(file_path), sum(description IS NULL), sum(rating IS NULL),"
        " min(rating), max(rating), group_concat(DISTINCT type) FROM film_work"
    ).fetchone()
    assert row[:4] == (0, 0, 249, 1)
    assert 1.0 <= row[4] <= row[5] <= 9.6
    assert row[6] == "movie"
    ratings = [value for (value,) in catalog.execute("SELECT rating FROM film_work WHERE rating IS NOT NULL")]
    assert all(round(value, 1) == value for value in ratings)
    roles = {role for (role,) in catalog.execute("SELECT DISTINCT role FROM person_film_work")}
    assert roles == {"actor", "director", "writer"}


def test_seventy_films_carry_quotes_and_escapable_characters(catalog: sqlite3.Connection) -> None:
    films = catalog.execute("SELECT id, title, coalesce(description, '') FROM film_work").fetchall()
    quoted_titles = {film for film, title, _ in films if QUOTE.search(title)}
    escapable = {film for film, title, description in films if CONTROL.search(title + description)}
    assert len(quoted_titles) == 70
    assert escapable == quoted_titles
    text = "".join(title + description for _, title, description in films)
    for needle in ("\t", "\n", "\r\n", "\\", "\\N", '"', "'"):
        assert needle in text, repr(needle)


def test_some_names_have_accents_and_apostrophes(catalog: sqlite3.Connection) -> None:
    names = [name for (name,) in catalog.execute("SELECT full_name FROM person")]
    assert len(set(names)) == len(names)
    accented = sum(not name.isascii() for name in names)
    assert 0.02 * len(names) < accented < 0.08 * len(names)
    assert any("'" in name for name in names)


def test_result_is_an_ordinary_sqlite_file(catalog: sqlite3.Connection) -> None:
    assert catalog.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    assert catalog.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_refuses_to_overwrite_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    path.write_bytes(b"precious")
    with pytest.raises(MigrationError, match="already exists"):
        generate_catalog(path)
    assert path.read_bytes() == b"precious"
    assert list(tmp_path.iterdir()) == [path]


def test_overwrites_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    path.write_bytes(b"old")
    assert generate_catalog(path, overwrite=True) == REAL_COUNTS
    assert list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("scale", [0, -1, 1.5, True])
def test_rejects_a_scale_below_1_or_not_whole(tmp_path: Path, scale: object) -> None:
    with pytest.raises(MigrationError, match="scale"):
        generate_catalog(tmp_path / "db.sqlite", scale=scale)  # type: ignore[arg-type]
    assert not list(tmp_path.iterdir())


def test_rejects_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match="does not exist"):
        generate_catalog(tmp_path / "missing" / "db.sqlite")
