"""A first load builds the target's keys and indexes after the rows, and leaves them as the DDL defines."""

from __future__ import annotations

import logging
from pathlib import Path

import psycopg2.extensions
import pytest
from psycopg2.extensions import make_dsn, parse_dsn

from sqlite_to_postgres.options import RunOptions
from sqlite_to_postgres.pipeline import migrate
from sqlite_to_postgres.schema import apply_schema
from tests.support.crafted import SMALL_COUNTS, content_counts, small_catalog, write_catalog


def _keys_and_indexes(target: psycopg2.extensions.connection) -> set[tuple[str, str]]:
    """Every constraint and index of schema content, by name, with its definition."""
    with target.cursor() as cursor:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE connamespace = 'content'::regnamespace "
            "UNION ALL SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'content'"
        )
        found = set(cursor.fetchall())
    target.rollback()
    return found


def test_a_first_load_leaves_every_key_and_index_the_schema_defines(
    sample_sqlite: Path,
    target_dsn: str,
    target: psycopg2.extensions.connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="sqlite_to_postgres")
    apply_schema(target)
    defined = _keys_and_indexes(target)

    migrate(sample_sqlite, target_dsn, RunOptions(batch_size=500))

    assert caplog.text.count("keys and indexes are built after the load") == len(SMALL_COUNTS)
    assert _keys_and_indexes(target) == defined
    # 11 constraints (5 primary keys, 2 unique pairs, 4 foreign keys) and 8 indexes (7 behind them).
    assert len(defined) == 19


def test_a_role_that_does_not_own_the_tables_loads_with_the_keys_in_place(
    tmp_path: Path, target_dsn: str, target: psycopg2.extensions.connection, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sqlite_to_postgres")
    source = write_catalog(tmp_path / "small.sqlite", small_catalog())
    apply_schema(target)
    defined = _keys_and_indexes(target)
    with target.cursor() as cursor:
        cursor.execute("CREATE ROLE tenant_loader LOGIN")
        cursor.execute("GRANT USAGE ON SCHEMA content, migration TO tenant_loader")
        cursor.execute(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA content, migration TO tenant_loader"
        )
    target.commit()
    try:
        migrate(source, make_dsn(target_dsn, user="tenant_loader"), apply_ddl=False)

        assert content_counts(target) == SMALL_COUNTS
        assert _keys_and_indexes(target) == defined
        assert "may not drop the table's keys; they are kept during the load" in caplog.text
    finally:
        with target.cursor() as cursor:
            cursor.execute("DROP OWNED BY tenant_loader")
            cursor.execute("DROP ROLE tenant_loader")
        target.commit()
        assert parse_dsn(target_dsn)["user"] != "tenant_loader"
