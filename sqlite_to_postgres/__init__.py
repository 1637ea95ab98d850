"""Migrate the legacy SQLite movie catalog into PostgreSQL, batch by batch.

>>> from sqlite_to_postgres import RunOptions, migrate
>>> summaries = migrate("db.sqlite", "dbname=movies_database", RunOptions(batch_size=5000))  # doctest: +SKIP
"""

from .connections import open_source, open_target
from .errors import ConsistencyError, MigrationError, RejectThresholdExceeded, SourceError, TargetError
from .options import DEFAULT_BATCH_SIZE, RunOptions
from .pipeline import migrate
from .schema import apply_schema
from .summary import TableSummary, format_summaries
from .table_run import migrate_table
from .tables import TABLE_NAMES, TABLES

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "TABLES",
    "TABLE_NAMES",
    "ConsistencyError",
    "MigrationError",
    "RejectThresholdExceeded",
    "RunOptions",
    "SourceError",
    "TableSummary",
    "TargetError",
    "apply_schema",
    "format_summaries",
    "migrate",
    "migrate_table",
    "open_source",
    "open_target",
]
