"""Shared fixtures: a real PostgreSQL server, one fresh database per test, the source files."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import psycopg2.extensions
import psycopg2.sql
import pytest

from sqlite_to_postgres.connections import resolve_server, with_database

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_SQLITE = PROJECT_ROOT / "db.sqlite"
REAL_SQLITE = PROJECT_ROOT.parent / "shared" / "data" / "movies.sqlite"


@pytest.fixture(scope="session")
def server_dsn() -> Iterator[str]:
    """The server the tests run on: MOVIES_PG_DSN, else 127.0.0.1:5432, else an embedded one."""
    with resolve_server() as dsn:
        yield dsn


@pytest.fixture
def target_dsn(server_dsn: str) -> Iterator[str]:
    """A database of this test's own, dropped afterwards."""
    database = f"test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(with_database(server_dsn, "postgres"))
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(psycopg2.sql.SQL("CREATE DATABASE {}").format(psycopg2.sql.Identifier(database)))
    try:
        yield with_database(server_dsn, database)
    finally:
        with admin.cursor() as cursor:
            cursor.execute(
                psycopg2.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    psycopg2.sql.Identifier(database)
                )
            )
        admin.close()


@pytest.fixture
def target(target_dsn: str) -> Iterator[psycopg2.extensions.connection]:
    """An open connection to this test's database."""
    connection = psycopg2.connect(target_dsn)
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture
def sample_sqlite(tmp_path: Path) -> Path:
    """A private copy of the project's db.sqlite, free to tamper with."""
    copy = tmp_path / "db.sqlite"
    shutil.copyfile(SAMPLE_SQLITE, copy)
    return copy


@pytest.fixture
def real_sqlite(tmp_path: Path) -> Path:
    """A private copy of the real catalog; skipped only where shared/ does not have it."""
    if not REAL_SQLITE.is_file():
        pytest.skip(f"the real catalog {REAL_SQLITE} is absent on this machine")
    copy = tmp_path / "movies.sqlite"
    shutil.copyfile(REAL_SQLITE, copy)
    return copy
