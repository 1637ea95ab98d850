"""PostgreSQL unreachable or refusing a write: one clear error naming table and batch, earlier batches kept."""

from __future__ import annotations

from pathlib import Path

import psycopg2.extensions
import pytest

from sqlite_to_postgres.errors import TargetError
from sqlite_to_postgres.options import RunOptions
from sqlite_to_postgres.pipeline import migrate
from sqlite_to_postgres.schema import apply_schema
from tests.support.crafted import (
    checkpoint,
    error_lines,
    film,
    person,
    rejects,
    run_cli,
    small_catalog,
    write_catalog,
)

CLOSED_PORT_DSN = "host=127.0.0.1 port=1 user=postgres dbname=movies_database connect_timeout=3"


def _prepare(target: psycopg2.extensions.connection, *statements: str) -> None:
    """The target schema, then a change made to it behind the migration's back."""
    apply_schema(target)
    with target.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
    target.commit()


def _column(target: psycopg2.extensions.connection, query: str) -> list[object]:
    with target.cursor() as cursor:
        cursor.execute(query)
        values = [row[0] for row in cursor.fetchall()]
    target.commit()
    return values


def test_unreachable_server_gives_one_clear_line_and_exit_1(tmp_path: Path) -> None:
    source = write_catalog(tmp_path / "source.sqlite", small_catalog())

    result = run_cli("migrate", "--sqlite", source, "--dsn", CLOSED_PORT_DSN)

    assert result.returncode == 1
    [line] = error_lines(result.stderr)
    assert line.startswith("error: cannot reach PostgreSQL (")
    assert "port=1" in line and "Connection refused" in line
    assert "Traceback" not in result.stderr


def test_migrate_raises_target_error_for_an_unreachable_server(tmp_path: Path) -> None:
    source = write_catalog(tmp_path / "source.sqlite", small_catalog())

    with pytest.raises(
        TargetError, match=r"cannot connect to PostgreSQL \(.*port=1.*\): .*Connection refused"
    ):
        migrate(source, CLOSED_PORT_DSN)


FORBID_A_TITLE = "ALTER TABLE content.film_work ADD CONSTRAINT no_forbidden CHECK (title <> 'Forbidden')"


def _films_with_forbidden_fifth(path: Path) -> Path:
    """Nine films; with batches of 3, the fifth one (refused by FORBID_A_TITLE) falls in batch 2."""
    return write_catalog(
        path, {"film_work": [film(n, title="Forbidden" if n == 5 else f"Film {n}") for n in range(1, 10)]}
    )


def test_a_refused_write_gives_one_line_naming_table_and_batch(
    tmp_path: Path, target_dsn: str, target: psycopg2.extensions.connection
) -> None:
    _prepare(target, FORBID_A_TITLE)
    source = _films_with_forbidden_fifth(tmp_path / "source.sqlite")

    result = run_cli(
        "migrate", "--sqlite", source, "--dsn", target_dsn, "--tables", "film_work", "--batch-size", 3
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [line] = error_lines(result.stderr)
    assert 'violates check constraint "no_forbidden"' in line
    assert line.startswith("error: table film_work, batch 2: PostgreSQL refused the write: ")


@pytest.mark.parametrize(
    "older",
    ["DROP TABLE migration.range_digests", "ALTER TABLE migration.checkpoint DROP COLUMN finished_snapshot"],
)
def test_no_schema_against_an_older_schema_says_to_apply_it(
    tmp_path: Path, target_dsn: str, target: psycopg2.extensions.connection, older: str
) -> None:
    _prepare(target, older)
    source = write_catalog(tmp_path / "source.sqlite", small_catalog())

    result = run_cli("migrate", "--sqlite", source, "--dsn", target_dsn, "--no-schema")

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [line] = error_lines(result.stderr)
    assert line.startswith("error: table genre: the target's tables are not as this version's schema makes them (")
    assert line.endswith("apply ddl/movies_database.ddl, or run once without --no-schema")
    # Applying the schema, as the message says, mends it.
    assert run_cli("migrate", "--sqlite", source, "--dsn", target_dsn).returncode == 0


def test_a_refused_write_keeps_earlier_batches_and_nothing_of_the_failing_one(
    tmp_path: Path, target_dsn: str, target: psycopg2.extensions.connection
) -> None:
    _prepare(target, FORBID_A_TITLE)
    source = _films_with_forbidden_fifth(tmp_path / "source.sqlite")

    with pytest.raises(
        TargetError, match=r"^table film_work\b.*PostgreSQL refused the write: .*no_forbidden"
    ):
        migrate(source, target_dsn, RunOptions(tables=["film_work"], batch_size=3))

    # Batch 1 (rows 1-3) stays committed; nothing of batch 2 (rows 4-6) is left, not even its checkpoint.
    assert sorted(_column(target, "SELECT title FROM content.film_work")) == ["Film 1", "Film 2", "Film 3"]
    state = checkpoint(target, "film_work")
    assert state is not None
    assert (state["last_rowid"], state["rows_read"], state["finished"]) == (3, 3, False)
    assert rejects(target) == []


def test_a_changed_column_type_fails_the_batch_and_keeps_earlier_batches(
    tmp_path: Path, target_dsn: str, target: psycopg2.extensions.connection
) -> None:
    _prepare(target, "ALTER TABLE content.person ALTER COLUMN full_name TYPE varchar(10)")
    persons = [person(n, full_name="A name far too long" if n == 4 else f"Person {n}") for n in range(1, 6)]
    source = write_catalog(tmp_path / "source.sqlite", {"person": persons})

    with pytest.raises(TargetError, match=r"^table person\b.*PostgreSQL refused the write: value too long"):
        migrate(source, target_dsn, RunOptions(tables=["person"], batch_size=2))

    assert sorted(_column(target, "SELECT full_name FROM content.person")) == ["Person 1", "Person 2"]
    assert _column(target, "SELECT last_rowid FROM migration.checkpoint WHERE table_name = 'person'") == [2]


def test_a_connection_lost_at_every_attempt_fails_after_the_retries(
    tmp_path: Path, target_dsn: str, target: psycopg2.extensions.connection
) -> None:
    # A trigger that ends its own session: every attempt at batch 1 loses the connection.
    _prepare(
        target,
        "CREATE FUNCTION content.drop_session() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NEW; END $$",
        "CREATE TRIGGER drop_session BEFORE INSERT ON content.person "
        "FOR EACH ROW EXECUTE FUNCTION content.drop_session()",
    )
    source = write_catalog(tmp_path / "source.sqlite", small_catalog())

    with pytest.raises(
        TargetError, match=r"^table person\b.*lost the connection to PostgreSQL: .*; gave up after 1 retries$"
    ):
        migrate(source, target_dsn, RunOptions(tables=["person"], retries=1))

    assert _column(target, "SELECT count(*) FROM content.person") == [0]
