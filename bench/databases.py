"""Catalogs, databases and CSV: what the measurements start from and what they are checked against."""

from __future__ import annotations

import csv
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
from measure import PROJECT_ROOT, BenchError
from psycopg2 import sql
from results import log

from sqlite_to_postgres.connections import with_database
from sqlite_to_postgres.tables import TABLES, TableSpec

TARGET_DDL = PROJECT_ROOT / "sqlite_to_postgres" / "ddl" / "movies_database.ddl"
# NULL is written as an unquoted \N so that it stays apart from the empty string, which CSV cannot
# otherwise tell from NULL in Python's csv module; COPY is told the same with NULL '\N'.
CSV_NULL = r"\N"


def generate_catalog(workdir: Path, scale: int) -> Path:
    path = workdir / f"scale-{scale}.sqlite"
    if not path.exists():
        log(f"generating scale {scale} into {path}")
        subprocess.run(
            [sys.executable, "-m", "sqlite_to_postgres", "generate", "--out", str(path), "--scale", str(scale)],
            cwd=PROJECT_ROOT, check=True, stdout=subprocess.DEVNULL,
        )
    return path


def count_source_rows(sqlite_path: Path) -> int:
    with sqlite3.connect(f"{sqlite_path.resolve().as_uri()}?mode=ro", uri=True) as source:
        return sum(source.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in TABLES)


@contextmanager
def fresh_database(server_dsn: str, label: str) -> Iterator[str]:
    """A new empty database ``bench_<label>_<random>``, dropped (WITH FORCE) on the way out."""
    name = f"bench_{label}_{uuid.uuid4().hex[:6]}"
    admin = psycopg2.connect(with_database(server_dsn, "postgres"))
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        yield with_database(server_dsn, name)
    finally:  # also when interrupted during CREATE DATABASE, hence IF EXISTS
        with admin.cursor() as cursor:
            cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()


def export_csv(sqlite_path: Path, csv_dir: Path) -> float:
    """Write each table's rows, as the target columns hold them, to ``csv_dir/<table>.csv``; seconds taken.

    The source text already is what PostgreSQL reads for each target type (UUIDs, ISO dates,
    timestamps with offsets), so the export only renames (created_at -> created, ...) and drops
    the unmapped file_path, which the column lists of ``tables.py`` do by themselves.
    """
    csv_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with sqlite3.connect(f"{sqlite_path.resolve().as_uri()}?mode=ro", uri=True) as source:
        for spec in TABLES.values():
            columns = ", ".join(f'"{column}"' for column in spec.source_columns)
            with (csv_dir / f"{spec.name}.csv").open("w", newline="", encoding="utf-8") as out:
                writer = csv.writer(out)
                for row in source.execute(f'SELECT {columns} FROM "{spec.name}"'):
                    writer.writerow([CSV_NULL if value is None else value for value in row])
    return time.perf_counter() - started


def _copy_command(spec: TableSpec, csv_dir: Path) -> str:
    columns = ", ".join(spec.target_columns)
    return (f"\\copy {spec.target_schema}.{spec.name} ({columns}) FROM '{csv_dir / spec.name}.csv' "
            f"WITH (FORMAT csv, NULL '{CSV_NULL}')")


def copy_all(csv_dir: Path, dsn: str) -> list[str]:
    """One psql loading every table's CSV, parents first."""
    return psql(dsn, *(_copy_command(spec, csv_dir) for spec in TABLES.values()))


def psql(dsn: str, *commands: str) -> list[str]:
    argv = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn]
    for command in commands:
        argv += ["-c", command]
    return argv


def apply_target_ddl(dsn: str) -> None:
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f", str(TARGET_DDL)],
                   check=True, stdout=subprocess.DEVNULL)


def strip_keys(dsn: str) -> list[str]:
    """Drop the DDL's keys, unique constraints and indexes; the statements that put them back, in order."""
    with psycopg2.connect(dsn) as connection, connection.cursor() as cursor:
        cursor.execute("""
            SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid)
            FROM pg_constraint
            WHERE connamespace = 'content'::regnamespace AND contype IN ('p', 'u', 'f')""")
        constraints = cursor.fetchall()
        cursor.execute("""
            SELECT indexname, indexdef FROM pg_indexes
            WHERE schemaname = 'content'
              AND indexname NOT IN (SELECT conname FROM pg_constraint
                                    WHERE connamespace = 'content'::regnamespace)""")
        indexes = cursor.fetchall()
        for table, name, _, _ in sorted(constraints, key=lambda found: found[2] != "f"):  # FKs first
            cursor.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                sql.SQL(table), sql.Identifier(name)))
        for name, _ in indexes:
            cursor.execute(sql.SQL("DROP INDEX content.{}").format(sql.Identifier(name)))
        add = {kind: [sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                   sql.SQL(table), sql.Identifier(name), sql.SQL(definition)).as_string(connection)
                   for table, name, contype, definition in constraints if contype == kind]
               for kind in "puf"}
    # Keys and unique constraints, then plain indexes, then foreign keys (which need the parents' keys).
    return [*add["p"], *add["u"], *(definition for _, definition in indexes), *add["f"]]


def count_target_rows(dsn: str, schema: str) -> int:
    with psycopg2.connect(dsn) as connection, connection.cursor() as cursor:
        total = 0
        for name in TABLES:
            cursor.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(name)))
            total += cursor.fetchone()[0]
    return total


def require_rows(dsn: str, schema: str, expected: int, what: str) -> None:
    found = count_target_rows(dsn, schema)
    if found != expected:
        raise BenchError(f"{what} left {found:,} rows in {schema}, the source has {expected:,}")
