"""verify's canonical renderings: Python (for SQLite values) and SQL (in PostgreSQL) must agree exactly."""

from __future__ import annotations

import psycopg2.extensions
import pytest
from psycopg2 import sql

from sqlite_to_postgres.tables import Column, Kind
from sqlite_to_postgres.verify.compare import merge
from sqlite_to_postgres.verify.normalise import SQL_RENDER, Invalid, normaliser

SOURCE_VALUES: dict[Kind, tuple[str, list[object]]] = {
    Kind.UUID: ("uuid", ["9F1A2B3C-0000-4000-8000-00000000000A", "{9f1a2b3c-0000-4000-8000-00000000000b}"]),
    Kind.TIMESTAMP: (
        "timestamptz",
        [
            "2021-06-16 20:14:09.309735+00",
            "2021-06-16 20:14:09.3+03",
            "0999-01-01 00:00:00",
            "2021-01-01T23:59:59-05:30",
        ],
    ),
    Kind.DATE: ("date", ["2021-06-16", "0099-12-31"]),
    Kind.FLOAT: ("float8", [8.5, 0.1, 1e15, 1e16, 1e-7, -0.0, 7.199999999999999, 123456789.123456789, 3]),
    Kind.TEXT: ("text", ["", " ", "tab\there", "quote ' \" back\\slash", "ünïcödé ✓"]),
}


@pytest.mark.parametrize("kind", list(SOURCE_VALUES), ids=lambda kind: kind.value)
def test_python_and_postgres_render_the_same_value_alike(
    target: psycopg2.extensions.connection, kind: Kind
) -> None:
    type_name, values = SOURCE_VALUES[kind]
    normalise = normaliser(Column("c", "c", kind))
    with target.cursor() as cursor:
        for value in values:
            # The value goes in as the migration writes it: parsed in Python, then cast by PostgreSQL.
            python_side = normalise(value)
            cursor.execute(
                sql.SQL("SELECT {} FROM (SELECT %s::{} AS c) AS v").format(
                    sql.SQL(SQL_RENDER[kind]).format(c=sql.Identifier("c")), sql.SQL(type_name)
                ),
                (str(value) if kind is not Kind.FLOAT else value,),
            )
            assert cursor.fetchone()[0] == python_side, value


def test_values_that_do_not_parse_never_equal_a_target_value() -> None:
    created = normaliser(Column("created_at", "created", Kind.TIMESTAMP))
    required = normaliser(Column("title", "title", Kind.TEXT, nullable=False))

    assert isinstance(created("yesterday"), Invalid)
    assert isinstance(required(None), Invalid)


def test_merge_pairs_equal_keys_and_keeps_the_lone_ones() -> None:
    pairs = list(merge(["a", "b", "b", "d"], ["b", "c", "d"], key=str))

    assert pairs == [("a", None), ("b", "b"), ("b", None), (None, "c"), ("d", "d")]
