"""Small crafted SQLite catalogs in the source schema, built row by row for one test each;
and the few helpers the failure tests share to run the CLI and read the target.

Example: ``write_catalog(tmp_path / "c.sqlite", small_catalog(person=[person(9, full_name=None)]), strict=False)``.

Rows are dicts keyed by source column; ``genre(n)``, ``person(n)``... give a valid
row with a deterministic id that overrides replace. ``strict=False`` drops the
source's NOT NULL, PRIMARY KEY and UNIQUE constraints, as a messy legacy file
may lack them, so rows the target refuses can be written at all.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import psycopg2.extensions
from psycopg2 import sql

from sqlite_to_postgres.schema import SOURCE_DDL
from sqlite_to_postgres.tables import TABLE_NAMES

Row = dict[str, Any]

TIMESTAMP = "2021-06-16 20:14:09.309735+00"
_NAMESPACE = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")


def uid(kind: str, number: int) -> str:
    """A deterministic UUID as the 36-character text the legacy files hold."""
    return str(uuid.uuid5(_NAMESPACE, f"{kind}-{number}"))


def genre(number: int, **values: Any) -> Row:
    return {
        "id": uid("genre", number),
        "name": f"Genre {number}",
        "description": None,
        "created_at": TIMESTAMP,
        "updated_at": TIMESTAMP,
        **values,
    }


def person(number: int, **values: Any) -> Row:
    return {
        "id": uid("person", number),
        "full_name": f"Person {number}",
        "created_at": TIMESTAMP,
        "updated_at": TIMESTAMP,
        **values,
    }


def film(number: int, **values: Any) -> Row:
    return {
        "id": uid("film", number),
        "title": f"Film {number}",
        "description": f"About film {number}",
        "creation_date": None,
        "file_path": None,
        "rating": 7.5,
        "type": "movie",
        "created_at": TIMESTAMP,
        "updated_at": TIMESTAMP,
        **values,
    }


def genre_link(number: int, film_number: int, genre_number: int, **values: Any) -> Row:
    return {
        "id": uid("genre_film_work", number),
        "film_work_id": uid("film", film_number),
        "genre_id": uid("genre", genre_number),
        "created_at": TIMESTAMP,
        **values,
    }


def person_link(number: int, film_number: int, person_number: int, role: str = "actor", **values: Any) -> Row:
    return {
        "id": uid("person_film_work", number),
        "film_work_id": uid("film", film_number),
        "person_id": uid("person", person_number),
        "role": role,
        "created_at": TIMESTAMP,
        **values,
    }


# A consistent catalog: every link points at an existing row.
SMALL_COUNTS = {"genre": 2, "person": 3, "film_work": 3, "genre_film_work": 3, "person_film_work": 4}


def small_catalog(**extra_rows: Iterable[Row]) -> dict[str, list[Row]]:
    """The rows of a small valid catalog (``SMALL_COUNTS``), plus ``extra_rows`` appended per table."""
    rows = {
        "genre": [genre(1), genre(2)],
        "person": [person(1), person(2), person(3)],
        "film_work": [film(1), film(2), film(3)],
        "genre_film_work": [genre_link(1, 1, 1), genre_link(2, 2, 1), genre_link(3, 3, 2)],
        "person_film_work": [
            person_link(1, 1, 1),
            person_link(2, 1, 2, "director"),
            person_link(3, 2, 3),
            person_link(4, 3, 1, "writer"),
        ],
    }
    for table, extra in extra_rows.items():
        rows[table].extend(extra)
    return rows


def source_ddl(strict: bool = True) -> str:
    """The source DDL; without ``strict``, none of its NOT NULL, PRIMARY KEY or UNIQUE constraints."""
    ddl = SOURCE_DDL.read_text(encoding="utf-8")
    if strict:
        return ddl
    ddl = re.sub(r"CREATE UNIQUE INDEX[^;]*;", "", ddl)
    return ddl.replace(" NOT NULL", "").replace(" PRIMARY KEY", "")


def write_catalog(
    path: Path, tables: Mapping[str, Iterable[Row]] | None = None, *, strict: bool = True
) -> Path:
    """Create ``path`` with the source schema and insert ``tables`` (table -> rows, in rowid order)."""
    connection = sqlite3.connect(path)
    try:
        connection.executescript(source_ddl(strict))
        for table, rows in (tables or {}).items():
            insert_rows(connection, table, rows)
        connection.commit()
    finally:
        connection.close()
    return path


class NotUtf8(bytes):
    """Bytes to store as TEXT as they are, e.g. invalid UTF-8 from a legacy writer (plain bytes become a BLOB)."""


def insert_rows(connection: sqlite3.Connection, table: str, rows: Iterable[Row]) -> None:
    for row in rows:
        columns = ", ".join(f'"{column}"' for column in row)
        marks = ", ".join("CAST(? AS TEXT)" if isinstance(value, NotUtf8) else "?" for value in row.values())
        connection.execute(f'INSERT INTO "{table}" ({columns}) VALUES ({marks})', tuple(row.values()))


def execute(path: Path, *statements: str) -> None:
    """Run statements on a crafted file and commit, e.g. to fix a row or add a column."""
    connection = sqlite3.connect(path)
    try:
        for statement in statements:
            connection.execute(statement)
        connection.commit()
    finally:
        connection.close()


def write_persons(path: Path, count: int) -> Path:
    """A catalog whose person table holds ``count`` valid rows, written in one transaction (300k in ~1 s)."""
    connection = sqlite3.connect(path)
    try:
        connection.executescript(source_ddl())
        connection.executemany(
            "INSERT INTO person (id, full_name, created_at, updated_at) VALUES (?, ?, ?, ?)",
            (
                (str(uuid.UUID(int=number)), f"Person {number}", TIMESTAMP, TIMESTAMP)
                for number in range(1, count + 1)
            ),
        )
        connection.commit()
    finally:
        connection.close()
    return path


def read_table(path: Path, table: str, columns: str) -> list[tuple[Any, ...]]:
    """Rows of a source table, read-only, ordered by rowid."""
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return connection.execute(f'SELECT {columns} FROM "{table}" ORDER BY rowid').fetchall()
    finally:
        connection.close()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# Running the CLI and reading the target, shared by the failure tests.

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def run_cli(*arguments: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m sqlite_to_postgres ARGUMENTS`` in a subprocess, as a user would type it."""
    return subprocess.run(
        [sys.executable, "-m", "sqlite_to_postgres", *map(str, arguments)],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=timeout,
        check=False,
    )


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def content_counts(target: psycopg2.extensions.connection) -> dict[str, int]:
    """Rows per table in schema content; tables not created yet are left out."""
    counts = {}
    with target.cursor() as cursor:
        for table in TABLE_NAMES:
            cursor.execute("SELECT to_regclass(%s)", (f"content.{table}",))
            if cursor.fetchone()[0] is not None:
                cursor.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("content", table)))
                counts[table] = cursor.fetchone()[0]
    target.commit()
    return counts


def rejects(target: psycopg2.extensions.connection) -> list[tuple[str, int, str | None, str]]:
    """(table_name, source_rowid, source_id, reason) of every rejected row."""
    with target.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, source_rowid, source_id, reason FROM migration.rejects ORDER BY 1, 2"
        )
        rows = cursor.fetchall()
    target.commit()
    return rows


def checkpoint(target: psycopg2.extensions.connection, table: str) -> dict[str, Any] | None:
    """The table's row of migration.checkpoint, or None before there is one."""
    with target.cursor() as cursor:
        cursor.execute("SELECT to_regclass('migration.checkpoint')")
        row = None
        if cursor.fetchone()[0] is not None:
            cursor.execute("SELECT * FROM migration.checkpoint WHERE table_name = %s", (table,))
            row = cursor.fetchone()
            names = [column.name for column in cursor.description]
    target.commit()
    return dict(zip(names, row, strict=True)) if row else None
