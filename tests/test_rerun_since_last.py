"""A re-run since the last run (issue 12): the source's range digests against those the last run stored.

Each test changes a real SQLite file and checks the target row by row afterwards (check_consistency),
so a change the digests missed would show as a difference, not as a count.
"""

from __future__ import annotations

import itertools
import logging
import sqlite3
from pathlib import Path

import psycopg2.extensions
import pytest

from sqlite_to_postgres.connections import source_fingerprint
from sqlite_to_postgres.errors import RejectThresholdExceeded, SourceError
from sqlite_to_postgres.extract import rowid_ranges
from sqlite_to_postgres.options import RunOptions
from sqlite_to_postgres.pipeline import migrate
from sqlite_to_postgres.range_digests import SLOT_ROWS, range_digests, slot_bounds, slot_count
from sqlite_to_postgres.tables import get_table
from sqlite_to_postgres.verify import check_consistency
from tests.support.crafted import (
    execute,
    insert_rows,
    person,
    person_link,
    rejects,
    small_catalog,
    source_ddl,
    uid,
    write_catalog,
)

PEOPLE = 600
# Small batches and two workers: every table's ranges go through the worker processes.
OPTIONS = RunOptions(batch_size=50, workers=2)
SINCE_LAST = "rows changed since the last run only"
CHUNKS = "changed chunks only"


def _catalog(tmp_path: Path, **extra: list[dict[str, object]]) -> Path:
    people = [person(number) for number in range(4, PEOPLE + 1)]
    return write_catalog(tmp_path / "catalog.sqlite", small_catalog(person=people, **extra))


def _consistent(source_path: Path, target: psycopg2.extensions.connection) -> None:
    with sqlite3.connect(source_path) as source:
        report = check_consistency(source, target)
    source.close()
    assert report.ok, report.format()


def _plans(caplog: pytest.LogCaptureFixture) -> dict[str, str]:
    """Each table's plan line of the last run, by table."""
    lines = [record.getMessage() for record in caplog.records if record.name == "sqlite_to_postgres.table_run"]
    return {line.split(":")[0]: line for line in lines if "rows" in line and "," in line and "read" not in line}


def test_slots_cut_a_range_into_adjacent_pieces() -> None:
    bounds = slot_bounds(100, 1100, slot_count(1000))

    assert len(bounds) == -(-1000 // SLOT_ROWS)
    assert bounds[0][0] == 100 and bounds[-1][1] == 1100
    assert all(left[1] == right[0] for left, right in itertools.pairwise(bounds))


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE person SET full_name = full_name || '.' WHERE rowid = 7",
        "UPDATE person SET full_name = NULL WHERE rowid = 7",
        "UPDATE person SET full_name = '' WHERE rowid = 7",
        "UPDATE person SET full_name = 5 WHERE rowid = 7",
        "UPDATE person SET full_name = '5' WHERE rowid = 8",
        "UPDATE person SET full_name = 5.0 WHERE rowid = 8",
        "UPDATE person SET full_name = 0.30000000000000004 WHERE rowid = 9",
        "UPDATE person SET full_name = x'00ff' WHERE rowid = 10",
        "UPDATE person SET full_name = x'00fe' WHERE rowid = 11",
        "UPDATE person SET created_at = '2021-06-16 20:14:09.309736+00' WHERE rowid = 7",
        "DELETE FROM person WHERE rowid = 7",
        "INSERT INTO person (rowid, id, full_name) VALUES (1000, 'x', 'new')",
        "UPDATE person SET rowid = 2000 WHERE rowid = 64",
    ],
)
def test_range_digests_see_any_change_of_a_value_its_type_or_its_rowid(tmp_path: Path, change: str) -> None:
    spec = get_table("person")
    with sqlite3.connect(tmp_path / "probe.sqlite") as source:
        # Columns without a type, so that each value keeps the type it is written with.
        source.execute("CREATE TABLE person (id, full_name, created_at, updated_at)")
        insert_rows(source, "person", [person(n) for n in range(1, 200)])
        source.execute("UPDATE person SET full_name = 5 WHERE rowid IN (8, 10)")
        source.execute("UPDATE person SET full_name = 0.3 WHERE rowid = 9")
        source.execute("UPDATE person SET full_name = x'00ff' WHERE rowid = 11")
        before = range_digests(source, spec, 0, 2000, 20)
        assert range_digests(source, spec, 0, 2000, 20) == before
        source.execute(change)
        after = range_digests(source, spec, 0, 2000, 20)
    source.close()

    assert after != before


def test_collations_of_the_file_change_nothing_even_one_this_process_does_not_know(
    tmp_path: Path, target_dsn: str, target: psycopg2.extensions.connection, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "collated.sqlite"
    with sqlite3.connect(path) as source:
        # A collation of the application that wrote the file (Android's LOCALIZED, say): declared in the
        # schema, unknown to any other process that opens it. NOCASE would find 'B' equal to 'b'.
        source.create_collation("LOCALIZED", lambda left, right: (left < right) - (left > right))
        source.executescript(
            source_ddl()
            .replace("full_name TEXT NOT NULL", "full_name TEXT COLLATE LOCALIZED NOT NULL")
            .replace("    role TEXT NOT NULL", "    role TEXT COLLATE NOCASE NOT NULL")
        )
        for table, rows in small_catalog(person=[person(number) for number in range(4, PEOPLE + 1)]).items():
            insert_rows(source, table, rows)
    source.close()
    migrate(path, target_dsn, OPTIONS)
    execute(path, "UPDATE person SET full_name = 'b' WHERE rowid = 7", "UPDATE person_film_work SET role = 'ACTOR'")

    caplog.set_level(logging.INFO, logger="sqlite_to_postgres")
    caplog.clear()
    summaries = {summary.table: summary for summary in migrate(path, target_dsn, OPTIONS)}

    assert SINCE_LAST in _plans(caplog)["person"]
    assert summaries["person"].updated == 1
    assert summaries["person_film_work"].updated == len(small_catalog()["person_film_work"])
    _consistent(path, target)


def test_rows_with_a_rowid_of_zero_or_below_are_loaded_checked_and_rerun(
    tmp_path: Path, target_dsn: str, target: psycopg2.extensions.connection
) -> None:
    # SQLite's rowids may be zero or negative when a row is given one: a read starting after rowid 0
    # lost such rows without a word, and the check by digests, reading the same way, agreed.
    path = _catalog(tmp_path)
    low = [person(900, full_name="Negative"), person(901, full_name="Zero")]
    for rowid, row in zip((-5, 0), low, strict=True):
        execute(
            path,
            f"INSERT INTO person (rowid, id, full_name, created_at, updated_at) VALUES "
            f"({rowid}, '{row['id']}', '{row['full_name']}', '{row['created_at']}', '{row['updated_at']}')",
        )

    [first] = migrate(path, target_dsn, RunOptions(batch_size=50, workers=2, tables=["person"]))
    assert (first.rows_read, first.inserted) == (PEOPLE + 2, PEOPLE + 2)
    for full in (False, True):
        with sqlite3.connect(path) as source:
            report = check_consistency(source, target, tables=["person"], full=full)
        source.close()
        assert report.ok and report.tables[0].matched == report.tables[0].target_rows == PEOPLE + 2

    execute(path, "UPDATE person SET full_name = 'Still negative' WHERE rowid = -5")
    [rerun] = migrate(path, target_dsn, RunOptions(batch_size=50, workers=2, tables=["person"]))
    assert rerun.updated == 1
    with sqlite3.connect(path) as source:
        assert check_consistency(source, target, tables=["person"]).ok
    source.close()


def test_rows_an_older_version_missed_are_loaded_after_upgrading(
    tmp_path: Path, target_dsn: str, target: psycopg2.extensions.connection
) -> None:
    path = _catalog(tmp_path)
    migrate(path, target_dsn, OPTIONS)
    row = person(900)
    execute(
        path,
        f"INSERT INTO person (rowid, id, full_name, created_at, updated_at) VALUES "
        f"(0, '{row['id']}', 'Zero', '{row['created_at']}', '{row['updated_at']}')",
    )
    # What a version that read from rowid 1 left after loading this very file: all but that row, and
    # a checkpoint naming the file without the reading's version.
    before = ":".join(part for part in source_fingerprint(path).split(":") if not part.startswith("read "))
    with target.cursor() as cursor:
        cursor.execute("UPDATE migration.checkpoint SET source_fingerprint = %s", (before,))
    target.commit()

    summaries = {summary.table: summary for summary in migrate(path, target_dsn, OPTIONS)}

    assert summaries["person"].inserted == 1
    _consistent(path, target)


def test_the_first_range_starts_just_below_the_lowest_rowid(tmp_path: Path) -> None:
    # Range digests cut a range into slots by rowid value: from -2**63, every row would sit in one slot.
    path = _catalog(tmp_path)
    execute(path, "UPDATE person SET rowid = -5 WHERE rowid = 3")
    with sqlite3.connect(path) as source:
        rowids = [rowid for (rowid,) in source.execute("SELECT rowid FROM person ORDER BY rowid")]
        first = next(rowid_ranges(source, get_table("person"), 50))
    source.close()

    assert first == (rowids[0] - 1, rowids[49]) == (-6, 50)


def test_the_one_rowid_no_read_can_start_before_is_refused_by_name(
    tmp_path: Path, target_dsn: str, target: psycopg2.extensions.connection
) -> None:
    path = _catalog(tmp_path)
    row = person(900)
    execute(
        path,
        f"INSERT INTO person (rowid, id, full_name, created_at, updated_at) VALUES "
        f"({-(2**63)}, '{row['id']}', 'Lowest', '{row['created_at']}', '{row['updated_at']}')",
    )

    with pytest.raises(SourceError, match=r"table person: a row has rowid -9223372036854775808"):
        migrate(path, target_dsn, OPTIONS)
    with target.cursor() as cursor:  # nothing written: not even the first table
        cursor.execute("SELECT to_regclass('content.genre') IS NOT NULL")
        if cursor.fetchone()[0]:
            cursor.execute("SELECT count(*) FROM content.genre")
            assert cursor.fetchone()[0] == 0
    target.rollback()


def test_a_rerun_since_the_last_run_writes_exactly_what_changed(
    tmp_path: Path, target_dsn: str, target: psycopg2.extensions.connection, caplog: pytest.LogCaptureFixture
) -> None:
    path = _catalog(tmp_path)
    migrate(path, target_dsn, OPTIONS)
    new_in_gap, new_at_end = person(900, full_name="In a gap"), person(901, full_name="At the end")
    execute(
        path,
        "UPDATE person SET full_name = 'Renamed' WHERE rowid IN (10, 400)",
        "DELETE FROM person WHERE rowid = 250",
        f"INSERT INTO person (rowid, id, full_name, created_at, updated_at) VALUES "
        f"(250, '{new_in_gap['id']}', 'In a gap', '{new_in_gap['created_at']}', '{new_in_gap['updated_at']}')",
        f"INSERT INTO person (id, full_name, created_at, updated_at) VALUES "
        f"('{new_at_end['id']}', 'At the end', '{new_at_end['created_at']}', '{new_at_end['updated_at']}')",
        "DELETE FROM person WHERE rowid = 300",
    )

    caplog.set_level(logging.INFO, logger="sqlite_to_postgres")
    caplog.clear()
    summaries = {s.table: s for s in migrate(path, target_dsn, RunOptions(batch_size=50, workers=2, delete_missing=True))}

    plans = _plans(caplog)
    assert all(SINCE_LAST in plans[table] for table in summaries), plans
    people = summaries["person"]
    # Two rows in place of the two deleted ones: the one at rowid 250 is new, the one at rowid 300 is gone.
    assert (people.inserted, people.updated, people.deleted) == (2, 2, 2)
    assert people.rows_read == people.unchanged + 4 == PEOPLE
    assert all(s.inserted == s.updated == 0 for s in summaries.values() if s.table != "person")
    _consistent(path, target)


def test_a_rejected_link_loads_once_its_parent_appears(
    tmp_path: Path, target_dsn: str, target: psycopg2.extensions.connection, caplog: pytest.LogCaptureFixture
) -> None:
    orphan = person_link(99, 1, 999)
    path = _catalog(tmp_path, person_film_work=[orphan])
    options = RunOptions(batch_size=50, workers=2, max_reject_fraction=0.5)
    migrate(path, target_dsn, options)
    assert [(table, reason.split()[0]) for table, _, _, reason in rejects(target)] == [
        ("person_film_work", "person_id")
    ]
    parent = person(999)
    execute(
        path,
        f"INSERT INTO person (id, full_name, created_at, updated_at) VALUES "
        f"('{parent['id']}', 'Found at last', '{parent['created_at']}', '{parent['updated_at']}')",
    )

    caplog.set_level(logging.INFO, logger="sqlite_to_postgres")
    caplog.clear()
    summaries = {s.table: s for s in migrate(path, target_dsn, options)}

    assert SINCE_LAST in _plans(caplog)["person_film_work"]
    assert summaries["person_film_work"].inserted == 1
    assert rejects(target) == []
    with target.cursor() as cursor:
        cursor.execute("SELECT person_id::text FROM content.person_film_work WHERE id = %s", (uid("person_film_work", 99),))
        assert cursor.fetchone() == (uid("person", 999),)
    target.commit()
    _consistent(path, target)


def test_a_table_written_by_another_hand_is_compared_both_ways_then_since_the_last_run_again(
    tmp_path: Path, target_dsn: str, target: psycopg2.extensions.connection, caplog: pytest.LogCaptureFixture
) -> None:
    path = _catalog(tmp_path)
    migrate(path, target_dsn, OPTIONS)
    with target.cursor() as cursor:
        cursor.execute("UPDATE content.person SET full_name = 'Edited in PostgreSQL' WHERE id = %s", (uid("person", 5),))
    target.commit()
    execute(path, "UPDATE person SET full_name = 'Renamed' WHERE rowid = 20")

    caplog.set_level(logging.INFO, logger="sqlite_to_postgres")
    caplog.clear()
    first = {s.table: s for s in migrate(path, target_dsn, OPTIONS)}
    plans = _plans(caplog)

    assert CHUNKS in plans["person"] and SINCE_LAST in plans["film_work"], plans
    assert first["person"].updated == 2  # the hand-made edit undone, and the source's change
    _consistent(path, target)

    execute(path, "UPDATE person SET full_name = 'Renamed again' WHERE rowid = 30")
    caplog.clear()
    second = {s.table: s for s in migrate(path, target_dsn, OPTIONS)}

    assert SINCE_LAST in _plans(caplog)["person"]
    assert second["person"].updated == 1
    _consistent(path, target)


def test_a_rerun_stopped_and_resumed_with_other_batches_leaves_no_overlapping_ranges(
    tmp_path: Path, target_dsn: str, target: psycopg2.extensions.connection
) -> None:
    path = write_catalog(tmp_path / "people.sqlite", {"person": [person(n) for n in range(1, 2001)]})
    migrate(path, target_dsn, RunOptions(tables=["person"], batch_size=500, workers=0))
    # Enough changed rows in each range that no two ranges share a transaction: the third one stops.
    execute(
        path,
        "UPDATE person SET full_name = 'Renamed' WHERE rowid BETWEEN 1 AND 400 OR rowid BETWEEN 501 AND 900 "
        "OR rowid BETWEEN 1001 AND 1300 OR rowid BETWEEN 1501 AND 1900",
        "UPDATE person SET created_at = 'not a time' WHERE rowid = 1200",
    )
    with pytest.raises(RejectThresholdExceeded, match="batch 3"):
        migrate(path, target_dsn, RunOptions(tables=["person"], batch_size=500, max_rejects=0, workers=0))

    [resumed] = migrate(path, target_dsn, RunOptions(tables=["person"], batch_size=300, max_rejects=1, workers=0))

    with target.cursor() as cursor:
        cursor.execute("SELECT after_rowid, last_rowid FROM migration.range_digests ORDER BY after_rowid")
        ranges = cursor.fetchall()
    target.commit()
    assert all(left[1] <= right[0] for left, right in itertools.pairwise(ranges)), ranges
    assert (resumed.resumed_rows, resumed.rejected) == (1500, 1)  # the batch over the limit is committed
    execute(path, "UPDATE person SET created_at = '2022-01-01 00:00:00+00' WHERE rowid = 1200")

    [fixed] = migrate(path, target_dsn, RunOptions(tables=["person"], batch_size=300, workers=0))

    assert (fixed.updated, fixed.rejected) == (1, 0)
    _consistent(path, target)


def test_a_transaction_of_another_session_open_across_the_run_changes_nothing(
    sample_sqlite: Path, target_dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Another session's transaction, with an xid, open while the first run finishes: on a busy server
    # there always is one, and the tables must still count as untouched.
    with psycopg2.connect(target_dsn) as other, other.cursor() as cursor:
        cursor.execute("SELECT txid_current()")
        first = migrate(sample_sqlite, target_dsn)
    other.close()
    caplog.set_level(logging.INFO, logger="sqlite_to_postgres")
    caplog.clear()

    again = migrate(sample_sqlite, target_dsn)

    assert caplog.text.count("neither the source file nor the table changed") == len(first)
    assert [s.unchanged for s in again] == [s.rows_read for s in first]


def test_a_row_written_by_a_transaction_running_when_the_run_finished_is_seen(
    tmp_path: Path, target_dsn: str, target: psycopg2.extensions.connection, caplog: pytest.LogCaptureFixture
) -> None:
    path = _catalog(tmp_path)
    with psycopg2.connect(target_dsn) as other, other.cursor() as cursor:
        cursor.execute("SELECT txid_current()")  # begun before the run finishes
        migrate(path, target_dsn, OPTIONS)
        cursor.execute("UPDATE content.person SET full_name = 'Edited meanwhile' WHERE id = %s", (uid("person", 7),))
    other.close()  # committed after the run finished
    execute(path, "UPDATE film_work SET title = 'Renamed' WHERE rowid = 1")
    caplog.set_level(logging.INFO, logger="sqlite_to_postgres")
    caplog.clear()

    summaries = {s.table: s for s in migrate(path, target_dsn, OPTIONS)}

    assert CHUNKS in _plans(caplog)["person"]
    assert summaries["person"].updated == 1
    _consistent(path, target)


class _TouchWhileLoading:
    """A progress display that writes to the source file once a table is loading: a real change of the
    file in the middle of the run, as a legacy application still writing to it would make."""

    def __init__(self, path: Path, table: str) -> None:
        self.path, self.table = path, table

    def step(self, table: str, step: str, total: int | None = None) -> None:
        if table == self.table and step == "loading":
            execute(self.path, "UPDATE person SET full_name = 'Written meanwhile' WHERE rowid = 3")

    def advance(self, table: str, rows: int) -> None:
        pass

    def done(self, table: str) -> None:
        pass


def test_digests_of_a_source_written_during_the_run_are_not_kept(
    tmp_path: Path, target_dsn: str, target: psycopg2.extensions.connection, caplog: pytest.LogCaptureFixture
) -> None:
    path = _catalog(tmp_path)
    caplog.set_level(logging.INFO, logger="sqlite_to_postgres")

    migrate(path, target_dsn, OPTIONS, progress=_TouchWhileLoading(path, "person"))

    assert "person: the source file changed during the run" in caplog.text
    with target.cursor() as cursor:
        cursor.execute("SELECT DISTINCT table_name FROM migration.range_digests ORDER BY 1")
        assert "person" not in [table for (table,) in cursor.fetchall()]
    target.commit()
    caplog.clear()
    [summary] = migrate(path, target_dsn, RunOptions(tables=["person"], batch_size=50, workers=2))
    assert CHUNKS in _plans(caplog)["person"]
    assert summary.updated <= 1  # the row written meanwhile, when the load read it before the change
    _consistent(path, target)
