"""After a migration, PostgreSQL holds every row of the SQLite file, value for value.

Written apart from ``verify`` on purpose: both sides are read here and normalised
with the standard library only, so these tests also check the checker, which must
agree with them (``test_check_passes_right_after_a_migration``).
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg2.extensions
import pytest

from sqlite_to_postgres.connections import open_source
from sqlite_to_postgres.pipeline import migrate
from sqlite_to_postgres.verify import check_consistency

CATALOGS = ["sample_sqlite", pytest.param("real_sqlite", marks=pytest.mark.real_data)]


def _uuid(text: str) -> uuid.UUID:
    return uuid.UUID(text)


def _instant(text: str | None) -> datetime | None:
    if text is None:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _day(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)


def _same(value: Any) -> Any:
    return value


def _number(value: float | int | None) -> float | None:
    return None if value is None else float(value)


# table -> (source column, target column, normaliser of the source value), id first.
EXPECTED_COLUMNS: dict[str, list[tuple[str, str, Callable[[Any], Any]]]] = {
    "genre": [
        ("id", "id", _uuid), ("name", "name", _same), ("description", "description", _same),
        ("created_at", "created", _instant), ("updated_at", "modified", _instant),
    ],
    "person": [
        ("id", "id", _uuid), ("full_name", "full_name", _same),
        ("created_at", "created", _instant), ("updated_at", "modified", _instant),
    ],
    "film_work": [
        ("id", "id", _uuid), ("title", "title", _same), ("description", "description", _same),
        ("creation_date", "creation_date", _day), ("rating", "rating", _number), ("type", "type", _same),
        ("created_at", "created", _instant), ("updated_at", "modified", _instant),
    ],
    "genre_film_work": [
        ("id", "id", _uuid), ("film_work_id", "film_work_id", _uuid), ("genre_id", "genre_id", _uuid),
        ("created_at", "created", _instant),
    ],
    "person_film_work": [
        ("id", "id", _uuid), ("film_work_id", "film_work_id", _uuid), ("person_id", "person_id", _uuid),
        ("role", "role", _same), ("created_at", "created", _instant),
    ],
}


def _source_rows(path: Path, table: str) -> dict[uuid.UUID, tuple[Any, ...]]:
    columns = EXPECTED_COLUMNS[table]
    connection = sqlite3.connect(path)
    try:
        raw = connection.execute(f"SELECT {', '.join(source for source, _, _ in columns)} FROM {table}").fetchall()
    finally:
        connection.close()
    rows = {}
    for values in raw:
        row = tuple(normalise(value) for (_, _, normalise), value in zip(columns, values, strict=True))
        rows[row[0]] = row
    assert len(rows) == len(raw), f"{table}: the source repeats an id"
    return rows


def _target_rows(target: psycopg2.extensions.connection, table: str) -> dict[uuid.UUID, tuple[Any, ...]]:
    columns = EXPECTED_COLUMNS[table]
    with target.cursor() as cursor:
        # psycopg2 returns uuid as text (made UUID below); timestamptz as tz-aware datetimes, float as float.
        cursor.execute(f"SELECT {', '.join(target_column for _, target_column, _ in columns)} FROM content.{table}")
        fetched = cursor.fetchall()
    target.commit()
    rows = {}
    for values in fetched:
        row = tuple(
            uuid.UUID(value) if normalise is _uuid else value
            for (_, _, normalise), value in zip(columns, values, strict=True)
        )
        rows[row[0]] = row
    return rows


def _describe(table: str, source: dict[Any, Any], target: dict[Any, Any]) -> str:
    missing = sorted(str(key) for key in source.keys() - target.keys())[:3]
    extra = sorted(str(key) for key in target.keys() - source.keys())[:3]
    differing = [
        f"{key}: {source[key]!r} != {target[key]!r}"
        for key in sorted(source.keys() & target.keys())
        if source[key] != target[key]
    ][:3]
    return f"{table}: missing {missing}, extra {extra}, differing {differing}"


@pytest.fixture(params=CATALOGS)
def migrated(request: pytest.FixtureRequest, target_dsn: str) -> Path:
    """A source catalog (db.sqlite or the real one), migrated into this test's database."""
    path: Path = request.getfixturevalue(request.param)
    migrate(path, target_dsn)
    return path


@pytest.mark.parametrize("table", list(EXPECTED_COLUMNS))
def test_target_holds_every_source_row_with_equal_values(
    migrated: Path, target: psycopg2.extensions.connection, table: str
) -> None:
    source_rows = _source_rows(migrated, table)
    target_rows = _target_rows(target, table)

    assert len(target_rows) == len(source_rows)
    assert target_rows == source_rows, _describe(table, source_rows, target_rows)


def test_nulls_and_empty_strings_survive_as_they_were(migrated: Path, target: psycopg2.extensions.connection) -> None:
    connection = sqlite3.connect(migrated)
    try:
        null, empty = connection.execute(
            "SELECT count(*) FILTER (WHERE description IS NULL), count(*) FILTER (WHERE description = '') "
            "FROM film_work"
        ).fetchone()
    finally:
        connection.close()
    with target.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE description IS NULL), count(*) FILTER (WHERE description = '') "
            "FROM content.film_work"
        )
        assert cursor.fetchone() == (null, empty)


@pytest.mark.parametrize("full", [True, False], ids=["full", "digests"])
def test_check_passes_right_after_a_migration(
    migrated: Path, target: psycopg2.extensions.connection, full: bool
) -> None:
    with open_source(migrated) as source:
        report = check_consistency(source, target, full=full)

    assert report.ok, report.format()
    counts = {table.table: (table.source_rows, table.target_rows, table.matched) for table in report.tables}
    # The checker's counts agree with the independent reading above.
    for table in EXPECTED_COLUMNS:
        rows = len(_source_rows(migrated, table))
        assert counts[table] == (rows, rows, rows)
