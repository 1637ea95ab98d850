"""``check_consistency`` catches each kind of difference and names the table, the id and the column.

Each test migrates db.sqlite, tampers with one side, and runs the check in both modes: digests first
(the default) and every row (full).
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2.extensions
import pytest

from sqlite_to_postgres.cli import main
from sqlite_to_postgres.connections import open_source
from sqlite_to_postgres.errors import TargetError
from sqlite_to_postgres.pipeline import migrate
from sqlite_to_postgres.verify import ConsistencyReport, RowDifference, TableReport, check_consistency

MODES = pytest.mark.parametrize("full", [True, False], ids=["full", "digests"])


@pytest.fixture
def catalog(sample_sqlite: Path, target_dsn: str) -> Path:
    """db.sqlite (a private copy, free to edit), migrated into this test's database."""
    migrate(sample_sqlite, target_dsn)
    return sample_sqlite


def _check(catalog: Path, target: psycopg2.extensions.connection, full: bool, **options: Any) -> ConsistencyReport:
    with open_source(catalog) as source:
        report = check_consistency(source, target, full=full, **options)
    assert report.fast is not full
    return report


def _target(target: psycopg2.extensions.connection, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    with target.cursor() as cursor:
        cursor.execute(statement, params)
        rows = cursor.fetchall() if cursor.description else []
    target.commit()
    return rows


def _source(catalog: Path, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    connection = sqlite3.connect(catalog)
    try:
        rows = connection.execute(statement, params).fetchall()
        connection.commit()
    finally:
        connection.close()
    return rows


def _some_id(target: psycopg2.extensions.connection, table: str, where: str = "true") -> str:
    # The middle of the table: neither the first nor the last row, so the merge must find it mid-stream.
    rows = _target(target, f"SELECT id::text FROM content.{table} WHERE {where} ORDER BY id")
    assert rows, f"no {table} row where {where}"
    return str(rows[len(rows) // 2][0])


def _only_failing(report: ConsistencyReport, table: str) -> TableReport:
    assert not report.ok
    failing = [table_report for table_report in report.tables if not table_report.ok]
    assert [table_report.table for table_report in failing] == [table], report.format()
    return failing[0]


def _differences(table_report: TableReport) -> Iterator[tuple[str, str, tuple[str, ...]]]:
    for difference in table_report.differences:
        yield difference.kind, difference.id, tuple(column.column for column in difference.columns)


@MODES
def test_changed_value_is_reported_with_both_values(
    catalog: Path, target: psycopg2.extensions.connection, full: bool
) -> None:
    film_id = _some_id(target, "film_work")
    _target(target, "UPDATE content.film_work SET title = title || ' (tampered)' WHERE id = %s", film_id)

    report = _check(catalog, target, full)

    film_work = _only_failing(report, "film_work")
    assert (film_work.differing, film_work.missing, film_work.extra) == (1, 0, 0)
    assert list(_differences(film_work)) == [("differing", film_work.differences[0].id, ("title",))]
    assert film_work.differences[0].id == film_id
    column = film_work.differences[0].columns[0]
    assert column.target == column.source[:-1] + " (tampered)'"
    text = report.format()
    assert "film_work" in text and film_id in text and "title" in text and "(tampered)" in text


@MODES
def test_missing_row_is_reported(catalog: Path, target: psycopg2.extensions.connection, full: bool) -> None:
    link_id = _some_id(target, "person_film_work")
    _target(target, "DELETE FROM content.person_film_work WHERE id = %s", link_id)

    report = _check(catalog, target, full)

    links = _only_failing(report, "person_film_work")
    assert (links.missing, links.extra, links.differing) == (1, 0, 0)
    assert links.source_rows == links.target_rows + 1
    assert list(_differences(links)) == [("missing", link_id, ())]
    assert links.differences[0].source_rowid is not None
    assert link_id in report.format()


@MODES
def test_extra_row_is_reported(catalog: Path, target: psycopg2.extensions.connection, full: bool) -> None:
    extra_id = str(uuid.uuid4())
    _target(target, "INSERT INTO content.genre (id, name) VALUES (%s, 'Not in the source')", extra_id)

    report = _check(catalog, target, full)

    genre = _only_failing(report, "genre")
    assert (genre.extra, genre.missing, genre.differing) == (1, 0, 0)
    assert list(_differences(genre)) == [("extra", extra_id, ())]
    assert "extra in target" in report.format()


@MODES
def test_timestamp_one_microsecond_off_is_reported(
    catalog: Path, target: psycopg2.extensions.connection, full: bool
) -> None:
    person_id = _some_id(target, "person", "modified IS NOT NULL")
    _target(target, "UPDATE content.person SET modified = modified + interval '1 microsecond' WHERE id = %s", person_id)

    report = _check(catalog, target, full)

    person = _only_failing(report, "person")
    assert person.differing == 1
    assert list(_differences(person)) == [("differing", person_id, ("modified",))]
    column = person.differences[0].columns[0]
    assert column.source != column.target and column.source[:-12] == column.target[:-12]


@MODES
def test_null_turned_into_empty_string_is_reported(
    catalog: Path, target: psycopg2.extensions.connection, full: bool
) -> None:
    film_id = _some_id(target, "film_work", "description IS NULL")
    _target(target, "UPDATE content.film_work SET description = '' WHERE id = %s", film_id)

    report = _check(catalog, target, full)

    film_work = _only_failing(report, "film_work")
    assert list(_differences(film_work)) == [("differing", film_id, ("description",))]
    column = film_work.differences[0].columns[0]
    assert (column.source, column.target) == ("NULL", "''")


@MODES
def test_float_changed_in_its_last_bit_is_reported(
    catalog: Path, target: psycopg2.extensions.connection, full: bool
) -> None:
    film_id = _some_id(target, "film_work", "rating IS NOT NULL AND rating > 0")
    # The next double up: equal to 15 significant digits, so only an exact comparison sees it.
    _target(
        target,
        "UPDATE content.film_work SET rating = rating * (1 + 2.220446049250313e-16) WHERE id = %s",
        film_id,
    )
    (changed,) = _target(target, "SELECT rating::text FROM content.film_work WHERE id = %s", film_id)[0]
    (original,) = _source(catalog, "SELECT rating FROM film_work WHERE lower(id) = ?", film_id)[0]
    assert float(changed) != original

    report = _check(catalog, target, full)

    film_work = _only_failing(report, "film_work")
    assert list(_differences(film_work)) == [("differing", film_id, ("rating",))]


@MODES
def test_every_kind_at_once_is_counted(catalog: Path, target: psycopg2.extensions.connection, full: bool) -> None:
    """Counts cover every difference even when only the first few are shown."""
    ids = [str(row[0]) for row in _target(target, "SELECT id::text FROM content.person ORDER BY id LIMIT 7")]
    _target(target, "UPDATE content.person SET full_name = full_name || '!' WHERE id = ANY(%s::uuid[])", ids)

    report = _check(catalog, target, full)

    person = _only_failing(report, "person")
    assert person.differing == 7
    assert [difference.id for difference in person.differences] == ids[:5]
    assert person.matched == person.source_rows - 7
    assert person.as_dict()["differing"] == 7 and report.as_dict()["ok"] is False


@MODES
def test_source_value_that_does_not_parse_is_a_difference(
    catalog: Path, target: psycopg2.extensions.connection, full: bool
) -> None:
    person_id = _some_id(target, "person")
    _source(catalog, "UPDATE person SET created_at = 'yesterday' WHERE id = ?", person_id)

    report = _check(catalog, target, full)

    person = _only_failing(report, "person")
    assert list(_differences(person)) == [("differing", person_id, ("created",))]
    assert "'yesterday'" in person.differences[0].columns[0].source


@MODES
def test_rows_the_migration_rejected_are_accounted_not_missing(
    sample_sqlite: Path, target_dsn: str, target: psycopg2.extensions.connection, full: bool
) -> None:
    (rowid, person_id) = _source(sample_sqlite, "SELECT rowid, id FROM person ORDER BY rowid LIMIT 1 OFFSET 10")[0]
    _source(sample_sqlite, "UPDATE person SET updated_at = 'not a time' WHERE rowid = ?", rowid)
    # Its film links are rejected too, as pointing at a person the target does not have.
    links = _source(sample_sqlite, "SELECT count(*) FROM person_film_work WHERE person_id = ?", person_id)[0][0]
    migrate(sample_sqlite, target_dsn)

    report = _check(sample_sqlite, target, full)

    assert report.ok, report.format()
    by_table = {table.table: table for table in report.tables}
    assert (by_table["person"].rejected, by_table["person"].missing) == (1, 0)
    assert by_table["person_film_work"].rejected == links

    # Without the quarantine record, the same row is a difference again.
    _target(target, "DELETE FROM migration.rejects WHERE table_name = 'person'")
    person = _only_failing(_check(sample_sqlite, target, full), "person")
    assert list(_differences(person)) == [("missing", person_id, ())]


@MODES
def test_source_ids_in_upper_case_or_braces_still_line_up(
    sample_sqlite: Path, target_dsn: str, target: psycopg2.extensions.connection, full: bool
) -> None:
    """Raw text order of such ids is not uuid order: the check must sort by the canonical id."""
    _source(sample_sqlite, "UPDATE person SET id = upper(id) WHERE rowid % 2 = 0")
    _source(sample_sqlite, "UPDATE person SET id = '{' || id || '}' WHERE rowid % 3 = 0")
    _source(sample_sqlite, "UPDATE person_film_work SET person_id = upper(person_id), id = upper(id)")
    migrate(sample_sqlite, target_dsn)

    report = _check(sample_sqlite, target, full, batch_size=100)

    assert report.ok, report.format()
    assert all(table.matched == table.source_rows for table in report.tables)


@MODES
@pytest.mark.parametrize("spelling", ["{{{}}}", "{}"], ids=["braces", "as written"])
def test_a_source_row_the_target_lacks_is_missing_however_its_id_is_written(
    catalog: Path, target: psycopg2.extensions.connection, full: bool, spelling: str
) -> None:
    """The digests file a row in braces under the chunk as written, the target has none such: still found."""
    new_id = str(uuid.uuid4())
    _source(catalog, "INSERT INTO genre (id, name) VALUES (?, 'New in the source')", spelling.format(new_id))

    genre = _only_failing(_check(catalog, target, full), "genre")

    assert list(_differences(genre)) == [("missing", new_id, ())]
    assert genre.matched == genre.target_rows


@MODES
def test_a_source_id_that_is_no_uuid_is_a_difference(
    catalog: Path, target: psycopg2.extensions.connection, full: bool
) -> None:
    _source(catalog, "INSERT INTO genre (id, name) VALUES ('abc', 'Not a uuid')")

    genre = _only_failing(_check(catalog, target, full), "genre")

    assert genre.differing == 1 and genre.matched == genre.target_rows
    assert genre.differences[0].note == "the source id is not a uuid"


@MODES
def test_duplicate_source_id_is_reported_as_missing(
    catalog: Path, target: psycopg2.extensions.connection, full: bool
) -> None:
    # A second copy of a genre under the first one's id, in another spelling the target cannot tell apart.
    (genre_id,) = _source(catalog, "SELECT id FROM genre ORDER BY rowid LIMIT 1")[0]
    _source(catalog, "CREATE TABLE genre_copy AS SELECT * FROM genre WHERE id = ?", genre_id)
    _source(catalog, "INSERT INTO genre SELECT upper(id), name, description, created_at, updated_at FROM genre_copy")

    report = _check(catalog, target, full)

    genre = _only_failing(report, "genre")
    assert genre.missing == 1
    difference: RowDifference = genre.differences[0]
    assert (difference.kind, difference.id) == ("missing", genre_id.lower())
    assert "same id" in difference.note


@MODES
def test_text_that_is_not_utf8_is_a_difference(catalog: Path, target: psycopg2.extensions.connection, full: bool) -> None:
    person_id = _some_id(target, "person")
    _source(catalog, "UPDATE person SET full_name = CAST(X'4D6172FF' AS TEXT) WHERE id = ?", person_id)

    person = _only_failing(_check(catalog, target, full), "person")

    assert list(_differences(person)) == [("differing", person_id, ("full_name",))]
    assert "not valid UTF-8" in person.differences[0].columns[0].source


@MODES
def test_text_that_is_not_utf8_is_accounted_when_rejected(
    sample_sqlite: Path, target_dsn: str, target: psycopg2.extensions.connection, full: bool
) -> None:
    (rowid,) = _source(sample_sqlite, "SELECT rowid FROM person ORDER BY rowid LIMIT 1 OFFSET 20")[0]
    _source(sample_sqlite, "UPDATE person SET full_name = CAST(X'4D6172FF' AS TEXT) WHERE rowid = ?", rowid)
    migrate(sample_sqlite, target_dsn)

    report = _check(sample_sqlite, target, full)

    assert report.ok, report.format()
    assert report.tables[1].table == "person" and report.tables[1].rejected == 1


def test_only_the_tables_asked_for_are_checked(catalog: Path, target: psycopg2.extensions.connection) -> None:
    report = _check(catalog, target, False, tables=["person_film_work", "genre"])

    assert [table.table for table in report.tables] == ["genre", "person_film_work"]


def test_check_leaves_the_connection_as_it_found_it(catalog: Path, target: psycopg2.extensions.connection) -> None:
    _check(catalog, target, False)

    assert target.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_IDLE
    target.autocommit = True
    _check(catalog, target, True)
    assert target.autocommit is True


def test_missing_rejects_table_means_no_rejects(catalog: Path, target: psycopg2.extensions.connection) -> None:
    _target(target, "DROP SCHEMA migration CASCADE")

    report = _check(catalog, target, True)

    assert report.ok and all(table.rejected == 0 for table in report.tables)


@pytest.mark.parametrize(("options", "fast"), [({}, True), ({"fast": True}, True), ({"fast": False}, False)])
def test_fast_is_the_default_and_its_old_switch_still_works(
    catalog: Path, target: psycopg2.extensions.connection, options: dict[str, bool], fast: bool
) -> None:
    """fast=True, once needed for the digests, changes nothing; fast=False still asks for every row."""
    with open_source(catalog) as source:
        report = check_consistency(source, target, **options)

    assert report.ok and report.fast is fast
    assert all((table.chunks is not None) is fast for table in report.tables)


@pytest.mark.parametrize(("flags", "mode"), [([], "fast"), (["--fast"], "fast"), (["--full"], "full")])
def test_the_check_command_says_which_mode_ran(
    catalog: Path, target_dsn: str, capsys: pytest.CaptureFixture[str], flags: list[str], mode: str
) -> None:
    assert main(["check", "--sqlite", str(catalog), "--dsn", target_dsn, *flags]) == 0

    assert capsys.readouterr().out.startswith(f"Consistency check ({mode}): consistent")


def test_a_table_the_target_refuses_to_read_is_named_and_the_connection_left_usable(
    catalog: Path, target: psycopg2.extensions.connection, target_dsn: str
) -> None:
    # PostgreSQL's digests of every table are read in a thread meanwhile: film_work's failure must come
    # out as film_work's, with nothing of that thread left on the connection.
    role = f"checker_{uuid.uuid4().hex[:8]}"
    _target(target, f"CREATE ROLE {role} LOGIN")
    try:
        _target(target, f"GRANT USAGE ON SCHEMA content, migration TO {role}")
        _target(target, f"GRANT SELECT ON ALL TABLES IN SCHEMA content, migration TO {role}")
        _target(target, f"REVOKE SELECT ON content.film_work FROM {role}")
        limited = psycopg2.connect(psycopg2.extensions.make_dsn(target_dsn, user=role))
        try:
            with open_source(catalog) as source, pytest.raises(TargetError, match="permission denied") as raised:
                check_consistency(source, limited)
            assert raised.value.table == "film_work"
            assert limited.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_IDLE
            with open_source(catalog) as source:
                assert check_consistency(source, limited, tables=["genre", "person"]).ok
        finally:
            limited.close()
    finally:
        _target(target, f"DROP OWNED BY {role}")
        _target(target, f"DROP ROLE {role}")
