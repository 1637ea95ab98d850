"""Airflow connections for the tests, in the JSON form the DAG's tasks read from AIRFLOW_CONN_* variables."""

from __future__ import annotations

import json
from pathlib import Path

from psycopg2.extensions import parse_dsn


def postgres_connection(dsn: str) -> str:
    """The movies_pg connection for a libpq DSN."""
    params = parse_dsn(dsn)
    fields = {
        "conn_type": "postgres",
        "host": params.get("host"),
        "port": int(params.get("port", 5432)),
        "login": params.get("user"),
        "password": params.get("password"),
        "schema": params["dbname"],
    }
    return json.dumps({key: value for key, value in fields.items() if value is not None})


def sqlite_connection(path: Path) -> str:
    """The movies_sqlite connection: JSON, because a sqlite:// URI mangles an absolute path."""
    return json.dumps({"conn_type": "sqlite", "host": str(path)})


def connections_env(sqlite_path: Path, dsn: str) -> dict[str, str]:
    """Both connections as the environment variables Airflow reads."""
    return {
        "AIRFLOW_CONN_MOVIES_SQLITE": sqlite_connection(sqlite_path),
        "AIRFLOW_CONN_MOVIES_PG": postgres_connection(dsn),
    }
