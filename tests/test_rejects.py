"""Bad rows go to migration.rejects with their reason while every good row loads; limits; unmapped data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg2.extensions
import pytest

from sqlite_to_postgres.errors import RejectThresholdExceeded
from sqlite_to_postgres.options import RunOptions
from sqlite_to_postgres.pipeline import migrate
from tests.support.crafted import (
    SMALL_COUNTS,
    NotUtf8,
    content_counts,
    error_lines,
    execute,
    film,
    genre,
    genre_link,
    person,
    person_link,
    read_table,
    rejects,
    run_cli,
    small_catalog,
    uid,
    write_catalog,
)

# case -> (table, bad row appended after the good ones, text the reason must contain, batch size, strict DDL)
BAD_ROWS: dict[str, Any] = {
    "id not a UUID": ("genre", genre(9, id="not-a-uuid"), "id: 'not-a-uuid' is not a UUID", 100, True),
    "NULL in a NOT NULL column": (
        "person",
        person(9, full_name=None),
        "full_name: NULL where the target requires a value",
        100,
        False,
    ),
    "timestamp that does not parse": (
        "film_work",
        film(9, created_at="yesterday"),
        "created_at: 'yesterday' is not a timestamp",
        100,
        True,
    ),
    "number that does not parse": (
        "film_work",
        film(9, rating="high"),
        "rating: expected a number, found text 'high'",
        100,
        True,
    ),
    "date that does not parse": (
        "film_work",
        film(9, creation_date="2021-13-45"),
        "creation_date: '2021-13-45' is not a date",
        100,
        True,
    ),
    "blob in a text column": (
        "person",
        person(9, full_name=b"\xff\x00"),
        "full_name: expected text, found a blob",
        100,
        True,
    ),
    "NUL in text": pytest.param(
        "film_work",
        film(9, title="Nul\x00title"),
        "title: text contains a NUL character",
        100,
        True,
    ),
    "text that is not UTF-8": (
        "person",
        person(9, full_name=NotUtf8(b"J\xffA")),
        "full_name: text is not valid UTF-8",
        100,
        True,
    ),
    "rejected row holding an infinite number": (
        "film_work",
        film(9, id="bad-id", rating=float("inf")),
        "id: 'bad-id' is not a UUID",
        100,
        True,
    ),
    "link to a missing film": (
        "genre_film_work",
        genre_link(9, 99, 1),
        f"film_work_id {uid('film', 99)} does not exist in film_work",
        100,
        True,
    ),
    "link to a missing genre": (
        "genre_film_work",
        genre_link(9, 1, 99),
        f"genre_id {uid('genre', 99)} does not exist in genre",
        100,
        True,
    ),
    "link to a missing person": (
        "person_film_work",
        person_link(9, 1, 99),
        f"person_id {uid('person', 99)} does not exist in person",
        100,
        True,
    ),
    "duplicate natural key in the same batch": (
        "person_film_work",
        person_link(9, 1, 1),
        "duplicate (film_work_id, person_id, role): same as source rowid 1",
        100,
        False,
    ),
    "duplicate natural key in a later batch": (
        "genre_film_work",
        genre_link(9, 1, 1),
        # A first load finds it as it builds the table's keys, after the rows.
        "duplicate (film_work_id, genre_id): same as source rowid 1",
        1,
        False,
    ),
    "duplicate id in the same batch": (
        "person",
        person(1, full_name="Impostor"),
        "duplicate id: same as source rowid 1",
        100,
        False,
    ),
    "duplicate id in a later batch": pytest.param(
        "person",
        person(1, full_name="Impostor"),
        "duplicate id",
        1,
        False,
    ),
    "same id in capitals in a later batch": pytest.param(
        "person",
        person(1, id=uid("person", 1).upper(), full_name="Impostor"),
        "duplicate id",
        1,
        True,
    ),
}


@pytest.mark.parametrize(
    ("table", "bad_row", "reason", "batch_size", "strict"), BAD_ROWS.values(), ids=BAD_ROWS
)
def test_bad_row_is_rejected_with_its_reason_and_good_rows_load(
    tmp_path: Path,
    target_dsn: str,
    target: psycopg2.extensions.connection,
    table: str,
    bad_row: dict[str, Any],
    reason: str,
    batch_size: int,
    strict: bool,
) -> None:
    source = write_catalog(tmp_path / "bad.sqlite", small_catalog(**{table: [bad_row]}), strict=strict)

    summaries = {
        s.table: s for s in migrate(source, target_dsn, RunOptions(batch_size=batch_size, max_reject_fraction=None))
    }

    assert content_counts(target) == SMALL_COUNTS
    [(rejected_table, rowid, source_id, rejected_reason)] = rejects(target)
    assert (rejected_table, rowid) == (table, SMALL_COUNTS[table] + 1)
    assert source_id == (bad_row["id"] if isinstance(bad_row["id"], str) else None)
    assert reason in rejected_reason
    assert (summaries[table].rows_read, summaries[table].rejected) == (SMALL_COUNTS[table] + 1, 1)
    with target.cursor() as cursor:
        cursor.execute("SELECT full_name FROM content.person WHERE id = %s", (uid("person", 1),))
        assert cursor.fetchone() == ("Person 1",)  # a duplicate never replaces the row loaded first


def test_a_link_repeating_a_pair_loaded_by_an_earlier_run_is_rejected(
    tmp_path: Path, target_dsn: str, target: psycopg2.extensions.connection
) -> None:
    migrate(write_catalog(tmp_path / "first.sqlite", small_catalog()), target_dsn)
    source = write_catalog(
        tmp_path / "second.sqlite", small_catalog(genre_film_work=[genre_link(9, 1, 1)]), strict=False
    )

    [summary] = migrate(source, target_dsn, RunOptions(tables=["genre_film_work"], max_reject_fraction=None))

    assert (summary.inserted, summary.rejected) == (0, 1)
    [(_, rowid, _, reason)] = rejects(target)
    assert rowid == SMALL_COUNTS["genre_film_work"] + 1
    assert reason == f"duplicate (film_work_id, genre_id): already loaded as id {uid('genre_film_work', 1)}"


def test_source_rows_equal_loaded_plus_rejected_in_every_table(
    tmp_path: Path, target_dsn: str, target: psycopg2.extensions.connection
) -> None:
    bad_rows = {
        "genre": [genre(8, name=None), genre(9, id="g-9")],
        "person": [person(9, updated_at="later")],
        "film_work": [film(7, rating="n/a"), film(8, type=None), film(9, title=b"blob")],
        "genre_film_work": [genre_link(8, 7, 1), genre_link(9, 1, 8)],
        "person_film_work": [person_link(9, 9, 1)],
    }
    source = write_catalog(tmp_path / "mixed.sqlite", small_catalog(**bad_rows), strict=False)

    for run in ("first", "second"):
        summaries = migrate(source, target_dsn, RunOptions(batch_size=2, max_reject_fraction=None))

        loaded = content_counts(target)
        rejected = {table: sum(1 for r in rejects(target) if r[0] == table) for table in SMALL_COUNTS}
        for summary in summaries:
            source_rows = len(read_table(source, summary.table, "id"))
            assert summary.rows_read == source_rows == loaded[summary.table] + rejected[summary.table], run
            assert summary.rejected == rejected[summary.table] == len(bad_rows[summary.table]), run
            assert summary.inserted + summary.updated + summary.unchanged + summary.rejected == source_rows, (
                run
            )
        assert loaded == SMALL_COUNTS


def _persons_with_bad(tmp_path: Path, good: int, bad: int) -> Path:
    rows = [person(n) for n in range(1, good + 1)] + [person(100 + n, id=f"bad-{n}") for n in range(bad)]
    return write_catalog(tmp_path / "persons.sqlite", {"person": rows})


def test_more_rejects_than_the_absolute_limit_fail_the_table(tmp_path: Path, target_dsn: str) -> None:
    source = _persons_with_bad(tmp_path, good=7, bad=3)

    with pytest.raises(
        RejectThresholdExceeded, match=r"table person, batch 1: 3 rows rejected, more than the limit of 2"
    ):
        migrate(source, target_dsn, RunOptions(tables=["person"], max_rejects=2, max_reject_fraction=None))
    [summary] = migrate(source, target_dsn, RunOptions(tables=["person"], max_rejects=3, max_reject_fraction=None))
    assert summary.rejected == 3


def test_a_larger_rejected_fraction_than_allowed_fails_the_table(tmp_path: Path, target_dsn: str) -> None:
    source = _persons_with_bad(tmp_path, good=8, bad=2)

    with pytest.raises(
        RejectThresholdExceeded, match=r"table person: 2 of 10 rows rejected, more than the limit of 10\.0%"
    ):
        migrate(source, target_dsn, RunOptions(tables=["person"], max_reject_fraction=0.1))
    [summary] = migrate(source, target_dsn, RunOptions(tables=["person"], max_reject_fraction=0.2))
    assert summary.rejected == 2


@pytest.mark.parametrize(
    ("limit_options", "message"),
    [
        (["--max-rejects", "1"], "error: table person, batch 1: 2 rows rejected, more than the limit of 1"),
        ([], "error: table person: 2 of 10 rows rejected, more than the limit of 1.0%"),  # the default fraction
    ],
    ids=["absolute", "fraction"],
)
def test_cli_exits_non_zero_with_one_line_when_rejects_exceed_the_limit(
    tmp_path: Path, target_dsn: str, limit_options: list[str], message: str
) -> None:
    source = _persons_with_bad(tmp_path, good=8, bad=2)

    result = run_cli("migrate", "--sqlite", source, "--dsn", target_dsn, "--tables", "person", *limit_options)

    assert result.returncode == 1
    assert [line.startswith(message) for line in error_lines(result.stderr)] == [True]
    assert "see migration.rejects" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_refuses_a_negative_reject_limit(tmp_path: Path, target_dsn: str) -> None:
    source = write_catalog(tmp_path / "empty.sqlite")

    result = run_cli(
        "migrate", "--sqlite", source, "--dsn", target_dsn, "--tables", "genre", "--max-rejects", "-1"
    )

    assert result.returncode == 2  # an argparse usage error, like --batch-size 0
    assert "--max-rejects" in result.stderr


def test_data_in_columns_without_a_target_column_is_reported(
    tmp_path: Path, target_dsn: str, target: psycopg2.extensions.connection
) -> None:
    rows = small_catalog()
    rows["film_work"][0]["file_path"] = "/films/1.mp4"
    rows["film_work"][2]["file_path"] = "/films/3.mp4"
    source = write_catalog(tmp_path / "unmapped.sqlite", rows)
    execute(
        source,
        "ALTER TABLE person ADD COLUMN nickname TEXT",
        "UPDATE person SET nickname = 'Pip' WHERE rowid = 2",
    )

    summaries = {s.table: s.unmapped for s in migrate(source, target_dsn)}
    result = run_cli("migrate", "--sqlite", source, "--dsn", target_dsn)

    assert summaries == {
        **{table: {} for table in SMALL_COUNTS},
        "film_work": {"file_path": 2},
        "person": {"nickname": 1},
    }
    assert result.returncode == 0, result.stderr
    assert "film_work: column file_path has data in 2 rows but no target column" in result.stdout
    assert "person: column nickname has data in 1 rows but no target column" in result.stdout
    assert content_counts(target) == SMALL_COUNTS


def test_extra_legacy_columns_that_are_all_null_are_ignored_quietly(
    tmp_path: Path, target_dsn: str, target: psycopg2.extensions.connection
) -> None:
    source = write_catalog(tmp_path / "extra.sqlite", small_catalog())
    execute(
        source,
        "ALTER TABLE person ADD COLUMN legacy_code TEXT",
        "ALTER TABLE genre ADD COLUMN sort_order INTEGER",
    )

    result = run_cli("migrate", "--sqlite", source, "--dsn", target_dsn)

    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "legacy_code" not in output
    assert "sort_order" not in output
    assert "no target column" not in output
    assert "WARNING" not in output
    assert content_counts(target) == SMALL_COUNTS


def test_rerun_after_fixing_a_bad_row_loads_it_and_drops_its_reject(
    tmp_path: Path, target_dsn: str, target: psycopg2.extensions.connection
) -> None:
    source = write_catalog(
        tmp_path / "fix.sqlite", small_catalog(person=[person(9, full_name=None)]), strict=False
    )
    migrate(source, target_dsn, RunOptions(max_reject_fraction=None))
    assert [r[:3] for r in rejects(target)] == [("person", 4, uid("person", 9))]

    execute(source, f"UPDATE person SET full_name = 'Fixed Person' WHERE id = '{uid('person', 9)}'")
    summaries = {s.table: s for s in migrate(source, target_dsn, RunOptions(max_reject_fraction=None))}

    assert rejects(target) == []
    assert (summaries["person"].inserted, summaries["person"].unchanged, summaries["person"].rejected) == (
        1,
        3,
        0,
    )
    with target.cursor() as cursor:
        cursor.execute("SELECT full_name FROM content.person WHERE id = %s", (uid("person", 9),))
        assert cursor.fetchone() == ("Fixed Person",)


AWKWARD_TEXT = [
    "tab\there",
    "line\nbreak",
    "windows\r\nline",
    "back\\slash",
    "end with backslash\\",
    "\\N",
    "first line\n\\.\nafter the COPY end marker",
    "literal \\t and \\n, not escapes",
    "double \"quotes\" and 'single' ones",
    "ünïcödé ✓ 🎬 中文 עברית e\u0301",
    "\u2028line separator\u2029and \x0b vertical tab \x1f unit separator",
    "  padded  ",
    "",
    "%s {0} $1 -- ; DROP TABLE content.film_work;",
]


def test_awkward_text_round_trips_exactly(
    tmp_path: Path, target_dsn: str, target: psycopg2.extensions.connection
) -> None:
    films = [film(n, title=text, description=text[::-1]) for n, text in enumerate(AWKWARD_TEXT, start=1)]
    genres = [genre(n, name=f"genre {n}", description=text) for n, text in enumerate(AWKWARD_TEXT, start=1)]
    source = write_catalog(tmp_path / "text.sqlite", {"film_work": films, "genre": genres})

    migrate(source, target_dsn, RunOptions(tables=["film_work", "genre"], batch_size=5, max_rejects=0))

    with target.cursor() as cursor:
        cursor.execute("SELECT id::text, title, description FROM content.film_work")
        assert sorted(cursor.fetchall()) == sorted(read_table(source, "film_work", "id, title, description"))
        cursor.execute("SELECT id::text, description FROM content.genre")
        assert sorted(cursor.fetchall()) == sorted(read_table(source, "genre", "id, description"))
