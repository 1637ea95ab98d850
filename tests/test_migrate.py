"""The pipeline end to end on real databases: values, idempotency, updates, the CLI."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg2
import psycopg2.extensions
import pytest
from psycopg2.extensions import make_dsn, parse_dsn

from sqlite_to_postgres import connections
from sqlite_to_postgres.digests import changed_chunks, chunk_digits, source_summary, target_summary
from sqlite_to_postgres.extract import count_rows, read_rows
from sqlite_to_postgres.options import RunOptions
from sqlite_to_postgres.pipeline import migrate
from sqlite_to_postgres.tables import TABLE_NAMES, TABLES
from sqlite_to_postgres.transform import parse_date, parse_float, parse_timestamp, parse_uuid
from tests.support.real_catalog import REAL_COUNTS

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _counts(target: psycopg2.extensions.connection) -> dict[str, int]:
    with target.cursor() as cursor:
        counts = {}
        for table in TABLE_NAMES:
            cursor.execute(f"SELECT count(*) FROM content.{table}")
            counts[table] = cursor.fetchone()[0]
    target.commit()
    return counts


def _row_versions(target: psycopg2.extensions.connection, table: str) -> dict[str, str]:
    """id -> xmin: a row PostgreSQL rewrote gets a new xmin."""
    with target.cursor() as cursor:
        cursor.execute(f"SELECT id::text, xmin::text FROM content.{table}")
        versions = dict(cursor.fetchall())
    target.commit()
    return versions


def test_real_catalog_loads_every_row_with_equal_values(
    real_sqlite: Path, target_dsn: str, target: psycopg2.extensions.connection
) -> None:
    summaries = migrate(real_sqlite, target_dsn)

    assert {s.table: s.inserted for s in summaries} == REAL_COUNTS
    assert _counts(target) == REAL_COUNTS
    source = sqlite3.connect(real_sqlite)
    expected = {
        parse_uuid(row[0]): (
            row[1],
            row[2],
            row[3] and parse_date(row[3]),
            row[4] if row[4] is None else parse_float(row[4]),
            row[5],
            parse_timestamp(row[6]),
            parse_timestamp(row[7]),
        )
        for row in source.execute(
            "SELECT id, title, description, creation_date, rating, type, created_at, updated_at FROM film_work"
        )
    }
    with target.cursor() as cursor:
        cursor.execute(
            "SELECT id, title, description, creation_date, rating, type, created, modified FROM content.film_work"
        )
        loaded = {row[0]: tuple(row[1:]) for row in cursor}
    assert {str(key): value for key, value in expected.items()} == {
        str(key): value for key, value in loaded.items()
    }
    awkward = [values for values in loaded.values() if any(c in (values[1] or "") for c in '\t\n\\"')]
    assert awkward, "the real catalog has text with tabs, newlines, quotes or backslashes"


def test_second_run_inserts_and_rewrites_nothing(
    real_sqlite: Path, target_dsn: str, target: psycopg2.extensions.connection
) -> None:
    migrate(real_sqlite, target_dsn)
    before = {table: _row_versions(target, table) for table in TABLE_NAMES}

    summaries = migrate(real_sqlite, target_dsn)

    assert [(s.inserted, s.updated, s.unchanged) for s in summaries] == [
        (0, 0, n) for n in REAL_COUNTS.values()
    ]
    assert {table: _row_versions(target, table) for table in TABLE_NAMES} == before


def test_a_changed_title_updates_exactly_that_row(
    sample_sqlite: Path, target_dsn: str, target: psycopg2.extensions.connection
) -> None:
    migrate(sample_sqlite, target_dsn)
    before = _row_versions(target, "film_work")
    with sqlite3.connect(sample_sqlite) as source:
        film_id = source.execute("SELECT id FROM film_work ORDER BY id LIMIT 1").fetchone()[0]
        source.execute(
            "UPDATE film_work SET title = 'Renamed', updated_at = '2030-01-01 00:00:00.123+00' WHERE id = ?",
            (film_id,),
        )
    source.close()

    summaries = {s.table: s for s in migrate(sample_sqlite, target_dsn)}

    assert summaries["film_work"].updated == 1
    assert sum(s.updated + s.inserted for s in summaries.values()) == 1
    after = _row_versions(target, "film_work")
    assert {key for key in after if after[key] != before[key]} == {film_id}
    with target.cursor() as cursor:
        cursor.execute("SELECT title, modified::text FROM content.film_work WHERE id = %s", (film_id,))
        assert cursor.fetchone() == ("Renamed", "2030-01-01 00:00:00.123+00")


@pytest.mark.parametrize("batch_size", [1, 7, 100_000])
def test_batch_size_does_not_change_the_outcome(
    sample_sqlite: Path, target_dsn: str, target: psycopg2.extensions.connection, batch_size: int
) -> None:
    migrate(sample_sqlite, target_dsn, RunOptions(tables=["genre", "film_work", "genre_film_work"], batch_size=batch_size))
    with sqlite3.connect(sample_sqlite) as source:
        expected = {
            t: source.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("genre", "film_work", "genre_film_work")
        }
    source.close()
    counts = _counts(target)
    assert {t: counts[t] for t in expected} == expected
    assert counts["person"] == counts["person_film_work"] == 0


def test_cli_migrates_the_real_catalog_and_prints_the_summary(real_sqlite: Path, target_dsn: str) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sqlite_to_postgres",
            "migrate",
            "--sqlite",
            str(real_sqlite),
            "--dsn",
            target_dsn,
        ],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    total = next(line for line in result.stdout.splitlines() if line.startswith("total"))
    assert total.split()[1:4] == ["13,205", "13,205", "0"]
    assert "person_film_work" in result.stdout


def test_embedded_server_runs_a_migration(sample_sqlite: Path, tmp_path: Path) -> None:
    with connections.embedded_server(tmp_path / "pgdata") as server:
        target_dsn = connections.with_database(server, "movies_database")
        assert connections.ensure_database(target_dsn)
        summaries = migrate(sample_sqlite, target_dsn)
        assert sum(s.inserted for s in summaries) == sum(s.rows_read for s in summaries) > 0


def test_without_a_configured_or_local_server_the_embedded_one_is_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(connections.DSN_ENV, raising=False)
    monkeypatch.setattr(
        connections, "LOCAL_SERVER_DSN", "host=127.0.0.1 port=1 user=postgres connect_timeout=1"
    )
    monkeypatch.setattr(connections, "EMBEDDED_DIR", tmp_path / "pgdata")
    with connections.resolve_target() as dsn:
        assert str(tmp_path / "pgdata") in dsn
        assert psycopg2.connect(dsn).server_version >= 160000


def test_a_configured_dsn_wins(monkeypatch: pytest.MonkeyPatch, target_dsn: str) -> None:
    monkeypatch.setenv(connections.DSN_ENV, target_dsn)
    with connections.resolve_target() as dsn:
        assert dsn == target_dsn


def test_delete_missing_removes_rows_gone_from_the_source_only_when_asked(
    real_sqlite: Path, target_dsn: str, target: psycopg2.extensions.connection
) -> None:
    migrate(real_sqlite, target_dsn)
    with sqlite3.connect(real_sqlite) as source:
        person_id = source.execute("SELECT person_id FROM person_film_work LIMIT 1").fetchone()[0]
        links = source.execute(
            "SELECT count(*) FROM person_film_work WHERE person_id = ?", (person_id,)
        ).fetchone()[0]
        source.execute("DELETE FROM person_film_work WHERE person_id = ?", (person_id,))
        source.execute("DELETE FROM person WHERE id = ?", (person_id,))
    source.close()

    kept = {s.table: s.deleted for s in migrate(real_sqlite, target_dsn)}
    assert set(kept.values()) == {0}
    assert _counts(target)["person"] == REAL_COUNTS["person"]

    deleted = {s.table: s.deleted for s in migrate(real_sqlite, target_dsn, RunOptions(delete_missing=True))}
    assert deleted["person"] == 1
    # The links went with the person (ON DELETE CASCADE) before their own table was compared.
    assert deleted["person_film_work"] == 0
    counts = _counts(target)
    assert counts["person"] == REAL_COUNTS["person"] - 1
    assert counts["person_film_work"] == REAL_COUNTS["person_film_work"] - links


@pytest.mark.parametrize("catalog", ["sample_sqlite", "real_sqlite"])
def test_after_a_load_both_sides_summarise_alike_so_a_rerun_parses_nothing(
    catalog: str, request: pytest.FixtureRequest, target_dsn: str, target: psycopg2.extensions.connection
) -> None:
    path: Path = request.getfixturevalue(catalog)
    migrate(path, target_dsn)
    source = sqlite3.connect(path)
    for table in TABLE_NAMES:
        spec = TABLES[table]
        digits = chunk_digits(count_rows(source, spec))
        source_side = source_summary(read_rows(source, spec, 1000), spec, digits)
        assert changed_chunks(source_side, target_summary(target, spec, digits)) == set(), table

    source.execute("UPDATE person SET full_name = full_name || '!' WHERE rowid = 1")
    person = TABLES["person"]
    digits = chunk_digits(count_rows(source, person))
    changed = changed_chunks(
        source_summary(read_rows(source, person, 1000), person, digits), target_summary(target, person, digits)
    )
    source.close()
    assert len(changed) == 1


def test_links_to_missing_rows_are_rejected_whether_or_not_the_role_may_skip_triggers(
    sample_sqlite: Path,
    target_dsn: str,
    target: psycopg2.extensions.connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A superuser's first load checks links once at the end; any other role's, row by row."""
    caplog.set_level(logging.INFO, logger="sqlite_to_postgres")
    with sqlite3.connect(sample_sqlite) as source:
        source.execute("UPDATE genre_film_work SET genre_id = ? WHERE rowid = 3", (str(uuid.uuid4()),))
    source.close()
    with target.cursor() as cursor:
        cursor.execute("CREATE ROLE plain_loader LOGIN")
        cursor.execute(f"GRANT ALL ON DATABASE {parse_dsn(target_dsn)['dbname']} TO plain_loader")
    target.commit()
    try:
        for dsn, may_skip in ((target_dsn, True), (make_dsn(target_dsn, user="plain_loader"), False)):
            caplog.clear()
            with target.cursor() as cursor:
                cursor.execute("DROP SCHEMA IF EXISTS content, migration CASCADE")
            target.commit()
            summaries = {s.table: s for s in migrate(sample_sqlite, dsn)}

            links = summaries["genre_film_work"]
            assert (links.rejected, links.inserted) == (1, links.rows_read - 1)
            with target.cursor() as cursor:
                cursor.execute("SELECT source_rowid, reason FROM migration.rejects")
                [(rowid, reason)] = cursor.fetchall()
            target.commit()
            assert rowid == 3
            assert reason.startswith("genre_id ") and reason.endswith(" does not exist in genre")
            assert ("may not skip foreign-key triggers" in caplog.text) is not may_skip
    finally:
        with target.cursor() as cursor:
            cursor.execute("DROP SCHEMA IF EXISTS content, migration CASCADE")
            cursor.execute(f"REVOKE ALL ON DATABASE {parse_dsn(target_dsn)['dbname']} FROM plain_loader")
            cursor.execute("DROP ROLE plain_loader")
        target.commit()


def test_a_rerun_with_nothing_changed_on_either_side_skips_every_table(
    sample_sqlite: Path, target_dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sqlite_to_postgres")
    first = migrate(sample_sqlite, target_dsn)
    caplog.clear()

    again = migrate(sample_sqlite, target_dsn)

    assert caplog.text.count("neither the source file nor the table changed") == len(TABLE_NAMES)
    assert [(s.rows_read, s.unchanged, s.inserted, s.updated) for s in again] == [
        (s.rows_read, s.rows_read, 0, 0) for s in first
    ]


@pytest.mark.parametrize(
    ("tampering", "inserted", "updated"),
    [
        (
            "UPDATE content.film_work SET title = 'tampered' WHERE id = (SELECT id FROM content.film_work ORDER BY id LIMIT 1)",
            0,
            1,
        ),
        (
            "DELETE FROM content.film_work WHERE id = (SELECT id FROM content.film_work ORDER BY id LIMIT 1)",
            1,
            0,
        ),
        ("INSERT INTO content.genre (id, name) VALUES (gen_random_uuid(), 'extra')", 0, 0),
    ],
    ids=["updated row", "deleted row", "extra row"],
)
def test_a_rerun_repairs_a_target_changed_behind_its_back(
    sample_sqlite: Path,
    target_dsn: str,
    target: psycopg2.extensions.connection,
    tampering: str,
    inserted: int,
    updated: int,
) -> None:
    migrate(sample_sqlite, target_dsn)
    with target.cursor() as cursor:
        cursor.execute(tampering)
    target.commit()

    summaries = {s.table: s for s in migrate(sample_sqlite, target_dsn)}

    table = "genre" if "genre" in tampering else "film_work"
    assert (summaries[table].inserted, summaries[table].updated) == (inserted, updated)
    with target.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM content.film_work WHERE title = 'tampered'")
        assert cursor.fetchone()[0] == 0
    target.commit()


def test_a_write_from_a_transaction_older_than_the_load_is_not_mistaken_for_none(
    sample_sqlite: Path, target_dsn: str, target: psycopg2.extensions.connection
) -> None:
    migrate(sample_sqlite, target_dsn, RunOptions(tables=["film_work"]))
    writer = psycopg2.connect(target_dsn)
    try:
        with writer.cursor() as cursor:
            cursor.execute("SELECT txid_current()")  # this transaction now predates the next load's end
        with sqlite3.connect(sample_sqlite) as source:
            source.execute("UPDATE film_work SET rating = 1.5 WHERE rowid = 2")  # a change: a new fingerprint
        source.close()
        migrate(sample_sqlite, target_dsn, RunOptions(tables=["film_work"]))
        with writer.cursor() as cursor:
            cursor.execute(
                "UPDATE content.film_work SET title = 'tampered' "
                "WHERE id = (SELECT id FROM content.film_work ORDER BY id LIMIT 1)"
            )
        writer.commit()
    finally:
        writer.close()

    [summary] = migrate(sample_sqlite, target_dsn, RunOptions(tables=["film_work"]))

    assert summary.updated == 1
