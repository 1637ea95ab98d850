"""Parsing in worker processes changes nothing in what is loaded, rejected or reported."""

from __future__ import annotations

import pickle
from pathlib import Path

import psycopg2.extensions

from sqlite_to_postgres.errors import SourceError
from sqlite_to_postgres.options import RunOptions
from sqlite_to_postgres.pipeline import migrate
from sqlite_to_postgres.tables import TABLE_NAMES
from tests.support.crafted import film, person, person_link, rejects, small_catalog, write_catalog


def _contents(target: psycopg2.extensions.connection) -> dict[str, list[tuple[object, ...]]]:
    contents = {}
    with target.cursor() as cursor:
        for table in TABLE_NAMES:
            cursor.execute(f"SELECT * FROM content.{table} ORDER BY id")
            contents[table] = cursor.fetchall()
        cursor.execute(
            "SELECT table_name, source_rowid, source_id, reason, raw FROM migration.rejects ORDER BY 1, 2"
        )
        contents["rejects"] = cursor.fetchall()
    target.rollback()
    return contents


def test_workers_load_and_reject_exactly_what_the_main_process_does(
    tmp_path: Path, target_dsn: str, target: psycopg2.extensions.connection
) -> None:
    bad = {
        "person": [person(n) for n in range(4, 40)] + [person(40, full_name=None)],
        "film_work": [film(4, rating="n/a")],
        "person_film_work": [person_link(8, 1, 99)],
    }
    source = write_catalog(tmp_path / "bad.sqlite", small_catalog(**bad), strict=False)
    outcomes = []
    for workers in (0, 2):
        with target.cursor() as cursor:
            cursor.execute("DROP SCHEMA IF EXISTS content, migration CASCADE")
        target.commit()
        summaries = migrate(source, target_dsn, RunOptions(batch_size=3, workers=workers, max_reject_fraction=None))
        outcomes.append(
            ([s.as_dict() | {"seconds": 0, "rows_per_second": 0} for s in summaries], _contents(target))
        )

    assert outcomes[0] == outcomes[1]
    assert len(rejects(target)) == 3


def test_an_error_raised_in_a_worker_keeps_its_table_and_batch() -> None:
    error = SourceError("cannot read rows after rowid 4000: disk I/O error", table="person", batch=3)

    crossed = pickle.loads(pickle.dumps(error))

    assert (type(crossed), str(crossed), crossed.table, crossed.batch) == (
        SourceError,
        "table person, batch 3: cannot read rows after rowid 4000: disk I/O error",
        "person",
        3,
    )
