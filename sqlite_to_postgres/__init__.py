"""Migrate the legacy SQLite movie catalog into PostgreSQL, batch by batch.

>>> from sqlite_to_postgres import migrate
>>> summaries = migrate("db.sqlite", "dbname=movies_database")  # doctest: +SKIP
"""

from .connections import open_source, open_target
from .errors import ConsistencyError, MigrationError, RejectThresholdExceeded, SourceError, TargetError
from .pipeline import DEFAULT_BATCH_SIZE, RejectLimit, migrate, migrate_table
from .schema import apply_schema
from .summary import TableSummary, format_summaries
from .tables import TABLE_NAMES, TABLES

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "TABLES",
    "TABLE_NAMES",
    "ConsistencyError",
    "MigrationError",
    "RejectLimit",
    "RejectThresholdExceeded",
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
