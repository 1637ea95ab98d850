"""pgloader, loading the SQLite file as it does by default."""

from __future__ import annotations

from pathlib import Path

import psycopg2
import psycopg2.extensions
from databases import require_rows
from measure import require_success, run_measured
from results import ProcessRun


def measure_pgloader(sqlite_path: Path, dsn: str, rows: int) -> ProcessRun:
    run = require_success(run_measured(["pgloader", str(sqlite_path), _as_uri(dsn)], dsn), "pgloader")
    require_rows(dsn, "public", rows, "pgloader")
    return run


def _as_uri(dsn: str) -> str:
    params = psycopg2.extensions.parse_dsn(dsn)
    user = params.get("user", "postgres")
    password = f":{params['password']}" if params.get("password") else ""
    return (f"postgresql://{user}{password}@{params.get('host', 'localhost')}:{params.get('port', 5432)}"
            f"/{params['dbname']}")


def pgloader_types(dsn: str) -> str:
    """What pgloader made of the source: schema, column types, keys; for the notes."""
    with psycopg2.connect(dsn) as connection, connection.cursor() as cursor:
        cursor.execute("""
            SELECT table_schema, column_name, data_type, is_nullable FROM information_schema.columns
            WHERE table_name = 'film_work' AND table_schema NOT IN ('pg_catalog', 'information_schema')
            ORDER BY ordinal_position""")
        columns = cursor.fetchall()
        cursor.execute("SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace")
        foreign_keys = cursor.fetchone()[0]
    schema = columns[0][0] if columns else "?"
    described = ", ".join(f"{name} {kind}{'' if nullable == 'YES' else ' not null'}"
                          for _, name, kind, nullable in columns)
    return (f"pgloader (default options) created schema `{schema}` with the source's own names and "
            f"{foreign_keys} foreign keys; film_work: {described}.")
