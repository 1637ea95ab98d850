"""From Airflow connection ids to what the library opens: a SQLite path and a psycopg2 DSN.

The postgres provider may hand out a psycopg 3 connection (``PostgresHook.get_conn``
picks psycopg 3 when SQLAlchemy 2 is installed), while the library speaks
psycopg2. So the hook is used only to look the Airflow Connection up, and the DSN
is built from its fields for the library's ``open_target``.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.postgres.hooks.postgres import PostgresHook
from airflow.providers.sqlite.hooks.sqlite import SqliteHook
from psycopg2.extensions import make_dsn

from sqlite_to_postgres.errors import SourceError, TargetError


def sqlite_path(sqlite_conn_id: str) -> str:
    """The SQLite file behind an Airflow connection id."""
    return sqlite_path_from_connection(SqliteHook.get_connection(sqlite_conn_id))


def postgres_dsn(postgres_conn_id: str) -> str:
    """A psycopg2 DSN for an Airflow connection id."""
    return dsn_from_connection(PostgresHook.get_connection(postgres_conn_id))


def sqlite_path_from_connection(connection: Any) -> str:
    """The file path of a SQLite connection, which lives in its host field.

    Give the connection in JSON form, ``{"conn_type": "sqlite", "host": "/abs/path.sqlite"}``:
    as a URI (``sqlite:////abs/path``) Airflow drops the leading slash of an absolute path.
    """
    path = (connection.host or "").strip()
    if not path:
        raise SourceError(
            f"Airflow connection {connection.conn_id!r} has no SQLite file path in its host field; "
            'set it as JSON: {"conn_type": "sqlite", "host": "/abs/path/db.sqlite"}'
        )
    return path


def dsn_from_connection(connection: Any) -> str:
    """A libpq DSN from an Airflow Postgres connection: host, port, login, password, schema, extra."""
    if connection.extra_dejson.get("iam"):
        raise TargetError(f"Airflow connection {connection.conn_id!r} uses IAM auth, which is not supported")
    params: dict[str, Any] = {
        "host": connection.host,
        "port": connection.port,
        "user": connection.login,
        "password": connection.password,
        # Airflow keeps the database name of a Postgres connection in its "schema" field.
        "dbname": connection.schema,
    }
    # The same extras the provider would pass to the driver (sslmode, connect_timeout, options...).
    for name, value in connection.extra_dejson.items():
        if name not in PostgresHook.ignored_extra_options:
            params[name] = value
    return make_dsn(**{name: value for name, value in params.items() if value not in (None, "")})
