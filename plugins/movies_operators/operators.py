"""Three thin operators over ``sqlite_to_postgres.api``.

Each ``execute()`` resolves its connections by id at run time, turns its (templated) run options into
one ``RunOptions``, calls one library function, logs the result as a table and returns its summary
dict (the task's XCom return value). A ``MigrationError`` becomes a task failure carrying the library's
one-line message; errors that a retry cannot fix (a missing SQLite file, rejected rows, an inconsistent
target) fail without retrying.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException

from sqlite_to_postgres import api
from sqlite_to_postgres.errors import MigrationError, TargetError
from sqlite_to_postgres.options import DEFAULT_BATCH_SIZE, RunOptions

from .assets import announce_load
from .connections import postgres_dsn, sqlite_path

DEFAULT_SQLITE_CONN_ID = "movies_sqlite"
DEFAULT_POSTGRES_CONN_ID = "movies_pg"

# Every run option but the reconnection retries, which a task leaves to Airflow's own retries.
RUN_OPTIONS: tuple[str, ...] = tuple(option.name for option in fields(RunOptions) if option.name != "retries")

__all__ = ["DEFAULT_BATCH_SIZE", "RUN_OPTIONS", "selected_tables"]


def selected_tables(tables: Sequence[str] | str | None) -> tuple[str, ...]:
    """The tables a run should load, in foreign-key order; ``None`` or empty means all of them."""
    with failing_clearly():
        return api.selected_tables(tables)


@contextmanager
def failing_clearly() -> Iterator[None]:
    """Turn the library's typed errors into task failures with their one-line message.

    Errors on the PostgreSQL side (TargetError: a server that cannot be reached, a dropped
    connection, a refused write, another run holding a table too long) may pass on a retry; anything
    else (a missing or unreadable SQLite file, too many rejected rows, a failed consistency check)
    would fail the same way again, so it fails the task at once.
    """
    try:
        yield
    except TargetError as error:
        raise AirflowException(str(error)) from None
    except MigrationError as error:
        raise AirflowFailException(str(error)) from None


class _MoviesOperator(BaseOperator):
    """Connection ids and run options, shared by the three operators.

    Each run option (a field of ``RunOptions``: ``tables``, ``batch_size``, ``full_refresh``...) is a
    keyword argument and a template field of the same name, so a DAG passes ``{{ params.<name> }}``.
    Values rendered as text are read once, in ``options()``.
    """

    template_fields: Sequence[str] = ("sqlite_conn_id", "postgres_conn_id", *RUN_OPTIONS)
    ui_color = "#dbe8f5"

    def __init__(
        self,
        *,
        sqlite_conn_id: str = DEFAULT_SQLITE_CONN_ID,
        postgres_conn_id: str = DEFAULT_POSTGRES_CONN_ID,
        **kwargs: Any,
    ) -> None:
        given = {name: kwargs.pop(name) for name in RUN_OPTIONS if name in kwargs}
        super().__init__(**kwargs)
        self.sqlite_conn_id = sqlite_conn_id
        self.postgres_conn_id = postgres_conn_id
        defaults = RunOptions()
        for name in RUN_OPTIONS:
            setattr(self, name, given.get(name, getattr(defaults, name)))

    def options(self) -> RunOptions:
        """The run options as rendered for this task, converted and checked."""
        with failing_clearly():
            return RunOptions.from_values({name: getattr(self, name) for name in RUN_OPTIONS})


class MoviesSchemaOperator(_MoviesOperator):
    """Check the source, then apply ``ddl/movies_database.ddl`` to the target (idempotent).

    The source is checked first (sound SQLite, every table and column the run reads) so that a corrupt
    or incomplete file fails the run before any table is written.
    """

    ui_color = "#e8e1f5"

    def execute(self, context: Any) -> dict[str, Any]:
        options = self.options()
        with failing_clearly():
            api.prepare(
                sqlite_path(self.sqlite_conn_id),
                postgres_dsn(self.postgres_conn_id),
                options.tables,
                lock_timeout=options.lock_timeout,
            )
        self.log.info("Source checked and schema content applied; tables: %s", ", ".join(options.tables))
        return {"schema": "content", "tables": list(options.tables)}


class MoviesTableOperator(_MoviesOperator):
    """Copy one table from the SQLite catalog into ``content.<table>`` (upsert, so reruns are safe).

    When this operator's table is not in the run's ``tables`` option the task is skipped, and downstream
    tasks still run as long as they use a trigger rule that accepts skipped parents (``none_failed``).
    """

    template_fields: Sequence[str] = ("table", *_MoviesOperator.template_fields)

    def __init__(self, *, table: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.table = table

    def execute(self, context: Any) -> dict[str, Any]:
        options = self.options()
        selected_tables([self.table])  # an unknown name fails the task, naming the known ones
        if self.table not in options.tables:
            raise AirflowSkipException(f"table {self.table} is not in this run's tables")
        path = sqlite_path(self.sqlite_conn_id)
        with failing_clearly():
            # The library logs its plan and progress through logging, which lands in the task log.
            summary = api.migrate_table(path, postgres_dsn(self.postgres_conn_id), self.table, options)
        self.log.info("Table %s loaded from %s:\n%s", self.table, path, api.format_summaries([summary]))
        return announce_load(context, self.table, dict(summary.as_dict()))


class MoviesConsistencyOperator(_MoviesOperator):
    """Compare the target with the source (the run's last task); fails when they differ."""

    ui_color = "#dff5e1"

    def execute(self, context: Any) -> dict[str, Any]:
        options = self.options()
        path = sqlite_path(self.sqlite_conn_id)
        with failing_clearly():
            report = api.check(
                path, postgres_dsn(self.postgres_conn_id), options.tables, lock_timeout=options.lock_timeout
            )
        self.log.info("Consistency of %s against %s:\n%s", ", ".join(options.tables), path, report.format())
        if not report.ok:
            # The data will not change by itself: a retry would only repeat the same verdict.
            differing = ", ".join(table.table for table in report.tables if not table.ok)
            raise AirflowFailException(f"PostgreSQL differs from {path} in {differing}; see the report above")
        return dict(report.as_dict())
