"""The sample catalog file: its arguments checked, its tables created from the source DDL and filled."""

from __future__ import annotations

import os
import random
import sqlite3
from collections.abc import Iterator
from itertools import chain
from pathlib import Path

from ..errors import MigrationError
from ..extract import quote, source_columns
from ..schema import SOURCE_DDL
from ..tables import TABLES
from .links import plan
from .recipes import RECIPES, Recipe, Row, clocks


def _check_arguments(target: Path, scale: int, seed: int, overwrite: bool) -> None:
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise MigrationError(f"scale must be a whole number of at least 1, not {scale!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise MigrationError(f"seed must be an integer, not {seed!r}")
    if target.is_dir():
        raise MigrationError(f"{target} is a directory; give the path of a SQLite file to write")
    if target.exists() and not overwrite:
        raise MigrationError(
            f"{target} already exists; pass overwrite=True (--force on the command line) to replace it"
        )
    if not target.parent.is_dir():
        raise MigrationError(f"cannot write {target}: directory {target.parent} does not exist")


def _write(connection: sqlite3.Connection, scale: int, seed: int) -> dict[str, int]:
    # The tables and their columns are the source DDL's, just applied; the recipes only name values.
    columns = {table: source_columns(connection, table) for table in TABLES}
    recipes = {table: _recipe(table) for table in TABLES}
    table_clocks = clocks(scale)
    counts = dict.fromkeys(TABLES, 0)
    cursor = connection.cursor()
    cursor.execute("BEGIN")
    for index in range(scale):
        # A stream per block: block 0 is the same at every scale, and a block's memory is freed
        # before the next is drawn. The name is the generator's old module path, kept: another name
        # would draw other catalogs, db.sqlite included.
        rng = random.Random(f"sqlite_to_postgres.generate:{seed}:{index}")
        block = plan(rng, index)
        for table, recipe in recipes.items():
            rows = recipe.make_rows(block, rng, table_clocks[table])
            counts[table] += _insert(cursor, table, columns[table], rows)
    cursor.execute("COMMIT")
    return counts


def _recipe(table: str) -> Recipe:
    try:
        return RECIPES[table]
    except KeyError:
        raise MigrationError(
            f"no sample rows for table {table!r}: add its recipe to sample/recipes.py"
        ) from None


def _insert(cursor: sqlite3.Cursor, table: str, columns: list[str], rows: Iterator[Row]) -> int:
    """Insert ``rows`` into the columns they name; the table's other columns stay NULL."""
    first = next(rows, None)
    if first is None:
        return 0
    unknown = set(first) - set(columns)
    if unknown:
        raise MigrationError(f"sample rows of {table} name columns the source DDL lacks: {sorted(unknown)}")
    named = [column for column in columns if column in first]
    cursor.executemany(
        f"INSERT INTO {quote(table)} ({', '.join(map(quote, named))})"
        f" VALUES ({', '.join(':' + column for column in named)})",
        chain([first], rows),
    )
    return cursor.rowcount


def generate_catalog(
    path: str | os.PathLike[str], scale: int = 1, seed: int = 0, *, overwrite: bool = False
) -> dict[str, int]:
    """Write a legacy catalog shaped like the real one, ``scale`` times over; return rows per table."""
    target = Path(path)
    _check_arguments(target, scale, seed, overwrite)
    # Build beside the target and rename at the end, so a failed run never leaves half a catalog.
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)
    try:
        connection = sqlite3.connect(partial, isolation_level=None)
        try:
            # Nothing to protect while the file is private and discarded on failure: skip the
            # journal and fsyncs. Neither setting is stored in the file.
            connection.execute("PRAGMA journal_mode=OFF")
            connection.execute("PRAGMA synchronous=OFF")
            # Random uuid keys touch index pages all over the file; a 32 MB page cache (instead of
            # 2 MB) turns most of those page reads from system calls into memory hits.
            connection.execute("PRAGMA cache_size=-32768")
            connection.executescript(SOURCE_DDL.read_text(encoding="utf-8"))
            counts = _write(connection, scale, seed)
            connection.execute("PRAGMA journal_mode=DELETE")
        finally:
            connection.close()
        if target.exists() and not overwrite:
            raise MigrationError(f"{target} appeared while generating; pass overwrite=True to replace it")
        os.replace(partial, target)
    except (sqlite3.Error, OSError) as error:
        raise MigrationError(f"cannot write {target}: {error}") from error
    finally:
        partial.unlink(missing_ok=True)
    return counts


def expected_counts(scale: int = 1) -> dict[str, int]:
    """Rows per table that ``generate_catalog`` writes at ``scale``."""
    return {table: _recipe(table).rows_per_block * scale for table in TABLES}
