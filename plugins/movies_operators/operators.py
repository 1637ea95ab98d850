"""Three thin operators over the ``sqlite_to_postgres`` library.

Each ``execute()`` resolves its connections by id at run time, opens them once,
calls one library function, logs the result as a table and returns its summary
dict (the task's XCom return value). A ``MigrationError`` becomes a task failure
carrying the library's one-line message; errors that a retry cannot fix (a
missing SQLite file, rejected rows, an inconsistent target) fail without retrying.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException

from sqlite_to_postgres.connections import open_source, open_target
from sqlite_to_postgres.errors import MigrationError, TargetError
from sqlite_to_postgres.extract import check_source
from sqlite_to_postgres.pipeline import DEFAULT_BATCH_SIZE, migrate_table
from sqlite_to_postgres.schema import apply_schema
from sqlite_to_postgres.summary import format_summaries
from sqlite_to_postgres.tables import TABLE_NAMES, TABLES
from sqlite_to_postgres.verify import check_consistency
from sqlite_to_postgres.workers import BatchPreparer, default_workers

from .assets import announce_load
from .connections import postgres_dsn, sqlite_path

DEFAULT_SQLITE_CONN_ID = "movies_sqlite"
DEFAULT_POSTGRES_CONN_ID = "movies_pg"


def selected_tables(tables: Sequence[str] | str | None) -> tuple[str, ...]:
    """The tables a run should load, in foreign-key order; ``None`` or empty means all of them.

    Accepts a list (a param rendered as a native object), a JSON list, or comma-separated
    names (a param rendered as text), so the operator works whatever the DAG's rendering mode.
    """
    if tables is None:
        return tuple(TABLE_NAMES)
    if isinstance(tables, str):
        text = tables.strip()
        if text.startswith("["):
            names = [str(name) for name in json.loads(text.replace("'", '"'))]
        else:
            names = [name for name in (part.strip() for part in text.split(",")) if name]
    else:
        names = [str(name) for name in tables]
    if not names:
        return tuple(TABLE_NAMES)
    unknown = sorted(set(names) - set(TABLE_NAMES))
    if unknown:
        raise AirflowFailException(f"unknown table(s) {', '.join(unknown)}; known: {', '.join(TABLE_NAMES)}")
    return tuple(name for name in TABLE_NAMES if name in names)


@contextmanager
def failing_clearly() -> Iterator[None]:
    """Turn the library's typed errors into task failures with their one-line message.

    Errors on the PostgreSQL side (TargetError: a server that cannot be reached, a dropped
    connection, a refused write) may pass on a retry; anything else (a missing or unreadable
    SQLite file, too many rejected rows, a failed consistency check) would fail the same way
    again, so it fails the task at once.
    """
    try:
        yield
    except TargetError as error:
        raise AirflowException(str(error)) from error
    except MigrationError as error:
        raise AirflowFailException(str(error)) from error


class _MoviesOperator(BaseOperator):
    """Connection ids shared by the three operators."""

    template_fields: Sequence[str] = ("sqlite_conn_id", "postgres_conn_id")
    ui_color = "#dbe8f5"

    def __init__(
        self,
        *,
        sqlite_conn_id: str = DEFAULT_SQLITE_CONN_ID,
        postgres_conn_id: str = DEFAULT_POSTGRES_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sqlite_conn_id = sqlite_conn_id
        self.postgres_conn_id = postgres_conn_id


class MoviesSchemaOperator(_MoviesOperator):
    """Check the source, then apply ``ddl/movies_database.ddl`` to the target (idempotent).

    The source is checked first (sound SQLite, every table and column the run reads) so that a corrupt
    or incomplete file fails the run before any table is written.
    """

    template_fields: Sequence[str] = ("sqlite_conn_id", "postgres_conn_id", "tables")
    ui_color = "#e8e1f5"

    def __init__(self, *, tables: Sequence[str] | str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tables = tables

    def execute(self, context: Any) -> dict[str, Any]:
        started = time.perf_counter()
        tables = selected_tables(self.tables)
        with failing_clearly():
            with open_source(sqlite_path(self.sqlite_conn_id)) as source:
                check_source(source, [TABLES[table] for table in tables])
            with open_target(postgres_dsn(self.postgres_conn_id)) as target:
                apply_schema(target)
        seconds = round(time.perf_counter() - started, 3)
        summary = {"schema": "content", "tables": list(tables), "seconds": seconds}
        self.log.info(
            "Source checked and schema content applied in %s s; tables: %s", seconds, ", ".join(tables)
        )
        return summary


class MoviesTableOperator(_MoviesOperator):
    """Copy one table from the SQLite catalog into ``content.<table>`` (upsert, so reruns are safe).

    ``tables`` is the run's selection (usually ``{{ params.tables }}``): when this
    operator's table is not in it the task is skipped, and downstream tasks still run
    as long as they use a trigger rule that accepts skipped parents (``none_failed``).
    """

    template_fields: Sequence[str] = (
        "table",
        "sqlite_conn_id",
        "postgres_conn_id",
        "batch_size",
        "workers",
        "tables",
        "delete_missing",
    )

    def __init__(
        self,
        *,
        table: str,
        batch_size: int | str = DEFAULT_BATCH_SIZE,
        workers: int | str | None = None,
        delete_missing: bool | str = False,
        tables: Sequence[str] | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.table = table
        self.batch_size = batch_size
        # Processes that parse rows on the Airflow worker running the task; None: one per core.
        self.workers = workers
        self.delete_missing = delete_missing
        self.tables = tables

    def execute(self, context: Any) -> dict[str, Any]:
        if self.table not in TABLE_NAMES:
            raise AirflowFailException(f"unknown table {self.table}; known: {', '.join(TABLE_NAMES)}")
        if self.table not in selected_tables(self.tables):
            raise AirflowSkipException(f"table {self.table} is not in this run's tables")
        batch_size = int(self.batch_size)
        if batch_size < 1:
            raise AirflowFailException(f"batch_size must be a positive integer, got {batch_size}")

        workers = default_workers() if self.workers in (None, "", "None") else int(self.workers)
        if workers < 0:
            raise AirflowFailException(f"workers must be 0 or more, got {workers}")

        with failing_clearly():
            path = sqlite_path(self.sqlite_conn_id)
            with (
                open_source(path) as source,
                open_target(postgres_dsn(self.postgres_conn_id)) as target,
                BatchPreparer(path, workers) as preparer,
            ):
                # The library logs its progress through logging, which lands in the task log.
                summary = migrate_table(
                    source,
                    target,
                    self.table,
                    batch_size=batch_size,
                    preparer=preparer,
                    # A param rendered as text arrives as "True"/"False".
                    delete=str(self.delete_missing).lower() in ("true", "1"),
                )
        self.log.info("Table %s loaded from %s:\n%s", self.table, path, format_summaries([summary]))
        return announce_load(context, self.table, dict(summary.as_dict()))


class MoviesConsistencyOperator(_MoviesOperator):
    """Compare the target with the source (the run's last task); fails when they differ."""

    template_fields: Sequence[str] = ("sqlite_conn_id", "postgres_conn_id", "tables")
    ui_color = "#dff5e1"

    def __init__(self, *, tables: Sequence[str] | str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tables = tables

    def execute(self, context: Any) -> dict[str, Any]:
        tables = selected_tables(self.tables)
        with failing_clearly():
            path = sqlite_path(self.sqlite_conn_id)
            with open_source(path) as source, open_target(postgres_dsn(self.postgres_conn_id)) as target:
                report = check_consistency(source, target, tables=list(tables))
        self.log.info("Consistency of %s against %s:\n%s", ", ".join(tables), path, report.format())
        if not report.ok:
            # The data will not change by itself: a retry would only repeat the same verdict.
            differing = ", ".join(table.table for table in report.tables if not table.ok)
            raise AirflowFailException(f"PostgreSQL differs from {path} in {differing}; see the report above")
        return dict(report.as_dict())
