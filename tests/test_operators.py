"""The operators in plugins/movies_operators, run against a real PostgreSQL (one database per test).

Each test calls ``execute()`` directly, with the connections given as Airflow
``AIRFLOW_CONN_*`` environment variables, as the DAG's tasks get them. Airflow is
imported only inside fixtures, once AIRFLOW_HOME points at a temporary directory.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg2
import pytest
from psycopg2.extensions import parse_dsn

from sqlite_to_postgres.tables import TABLE_NAMES
from tests.support.airflow_connections import connections_env, postgres_connection

pytestmark = pytest.mark.airflow

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def operators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The movies_operators package, imported the way Airflow imports it (plugins folder on sys.path)."""
    home = tmp_path_factory.getbasetemp() / "airflow_home"
    home.mkdir(exist_ok=True)
    with pytest.MonkeyPatch.context() as patch:
        # Before the first `import airflow`: Airflow reads its home and folders once, at import.
        patch.setenv("AIRFLOW_HOME", str(home))
        patch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(PROJECT_ROOT / "dags"))
        patch.setenv("AIRFLOW__CORE__PLUGINS_FOLDER", str(PROJECT_ROOT / "plugins"))
        patch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        pytest.importorskip("airflow.sdk")  # importing airflow puts the plugins folder on sys.path
        import movies_operators

        yield movies_operators


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch, target_dsn: str, sample_sqlite: Path) -> Path:
    """movies_sqlite -> a copy of db.sqlite, movies_pg -> this test's database."""
    for name, value in connections_env(sample_sqlite, target_dsn).items():
        monkeypatch.setenv(name, value)
    return sample_sqlite


def source_count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as source:
        return int(source.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def target_count(dsn: str, table: str) -> int:
    with psycopg2.connect(dsn) as target, target.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM content.{table}")
        return int(cursor.fetchone()[0])


def load_all(operators: ModuleType) -> list[dict[str, Any]]:
    operators.MoviesSchemaOperator(task_id="apply_schema").execute({})
    return [
        operators.MoviesTableOperator(task_id=f"load_{table}", table=table).execute({})
        for table in TABLE_NAMES
    ]


def test_dsn_keeps_connection_fields_and_libpq_extras(operators: ModuleType) -> None:
    from airflow.sdk import Connection
    from movies_operators.connections import dsn_from_connection

    connection = Connection(
        conn_id="pg",
        conn_type="postgres",
        host="db.example",
        port=6543,
        login="movies",
        password="it's secret",
        schema="movies_database",
        extra=json.dumps({"sslmode": "require", "connect_timeout": 5, "cursor": "dictcursor"}),
    )
    assert parse_dsn(dsn_from_connection(connection)) == {
        "host": "db.example",
        "port": "6543",
        "user": "movies",
        "password": "it's secret",
        "dbname": "movies_database",
        "sslmode": "require",
        "connect_timeout": "5",
    }


def test_sqlite_path_is_read_from_the_json_connection_host(
    operators: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from movies_operators.connections import sqlite_path

    path = tmp_path / "catalog.sqlite"
    monkeypatch.setenv("AIRFLOW_CONN_SOME_SQLITE", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    assert sqlite_path("some_sqlite") == str(path)


def test_sqlite_connection_without_a_path_says_how_to_set_it(
    operators: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    from movies_operators.connections import sqlite_path

    from sqlite_to_postgres.errors import SourceError

    monkeypatch.setenv("AIRFLOW_CONN_EMPTY_SQLITE", json.dumps({"conn_type": "sqlite"}))
    with pytest.raises(SourceError, match=r"no SQLite file path.*\"host\""):
        sqlite_path("empty_sqlite")


@pytest.mark.parametrize(
    ("tables", "expected"),
    [
        (None, TABLE_NAMES),
        ([], TABLE_NAMES),
        (["person_film_work", "genre"], ("genre", "person_film_work")),
        ("film_work, genre", ("genre", "film_work")),
        ('["person", "genre"]', ("genre", "person")),
        ("['person']", ("person",)),
    ],
)
def test_selected_tables_keeps_foreign_key_order(
    operators: ModuleType, tables: Any, expected: tuple[str, ...]
) -> None:
    assert operators.selected_tables(tables) == tuple(expected)


def test_selected_tables_refuses_unknown_names(operators: ModuleType) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException, match=r"unknown table.*movies"):
        operators.selected_tables(["genre", "movies"])


def test_schema_operator_creates_the_content_tables(
    operators: ModuleType, connections: Path, target_dsn: str
) -> None:
    summary = operators.MoviesSchemaOperator(task_id="apply_schema").execute({})
    operators.MoviesSchemaOperator(task_id="apply_schema").execute({})  # a second time is harmless

    assert summary["schema"] == "content"
    with psycopg2.connect(target_dsn) as target, target.cursor() as cursor:
        cursor.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'content'")
        assert {row[0] for row in cursor.fetchall()} >= set(TABLE_NAMES)


def test_table_operator_loads_and_returns_its_summary(
    operators: ModuleType, connections: Path, target_dsn: str
) -> None:
    summaries = load_all(operators)

    for table, summary in zip(TABLE_NAMES, summaries, strict=True):
        rows = source_count(connections, table)
        assert summary["table"] == table
        assert summary["rows_read"] == summary["inserted"] == rows == target_count(target_dsn, table)
        assert summary["rejected"] == 0
        json.dumps(summary)  # an XCom must serialise


def test_table_operator_run_again_inserts_nothing(operators: ModuleType, connections: Path) -> None:
    load_all(operators)
    again = load_all(operators)
    assert [summary["inserted"] for summary in again] == [0] * len(TABLE_NAMES)
    assert all(summary["unchanged"] == summary["rows_read"] for summary in again)


@pytest.mark.parametrize(("delete_missing", "deleted"), [(False, 0), ("False", 0), (True, 1), ("True", 1)])
def test_table_operator_deletes_rows_gone_from_the_source_only_when_asked(
    operators: ModuleType, connections: Path, target_dsn: str, delete_missing: bool | str, deleted: int
) -> None:
    load_all(operators)
    with sqlite3.connect(connections) as source:
        source.execute("DELETE FROM genre_film_work WHERE id = (SELECT min(id) FROM genre_film_work)")
    source.close()

    summary = operators.MoviesTableOperator(
        task_id="load_genre_film_work", table="genre_film_work", delete_missing=delete_missing
    ).execute({})

    assert summary["deleted"] == deleted
    assert (
        target_count(target_dsn, "genre_film_work")
        == source_count(connections, "genre_film_work") + 1 - deleted
    )


def test_table_operator_honours_batch_size_given_as_text(
    operators: ModuleType, connections: Path, target_dsn: str
) -> None:
    operators.MoviesSchemaOperator(task_id="apply_schema").execute({})
    summary = operators.MoviesTableOperator(task_id="load_genre", table="genre", batch_size="7").execute({})
    assert summary["inserted"] == source_count(connections, "genre") == target_count(target_dsn, "genre")


def test_table_not_selected_is_skipped(operators: ModuleType, connections: Path) -> None:
    from airflow.sdk.exceptions import AirflowSkipException

    operator = operators.MoviesTableOperator(task_id="load_genre", table="genre", tables=["person"])
    with pytest.raises(AirflowSkipException, match="genre is not in this run's tables"):
        operator.execute({})


def test_missing_sqlite_file_fails_without_retry(
    operators: ModuleType, connections: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    missing = tmp_path / "missing.sqlite"
    monkeypatch.setenv(
        "AIRFLOW_CONN_MOVIES_SQLITE", json.dumps({"conn_type": "sqlite", "host": str(missing)})
    )
    for operator in (
        operators.MoviesSchemaOperator(task_id="apply_schema"),
        operators.MoviesTableOperator(task_id="load_genre", table="genre"),
    ):
        with pytest.raises(AirflowFailException, match=rf"SQLite file {missing} does not exist"):
            operator.execute({})


def test_unreachable_postgres_fails_so_that_airflow_retries(
    operators: ModuleType, connections: Path, monkeypatch: pytest.MonkeyPatch, target_dsn: str
) -> None:
    from airflow.sdk.exceptions import AirflowException, AirflowFailException

    # Port 1 on the same host: nothing listens there, so the connection is refused at once.
    monkeypatch.setenv(
        "AIRFLOW_CONN_MOVIES_PG", json.dumps({**json.loads(postgres_connection(target_dsn)), "port": 1})
    )
    with pytest.raises(AirflowException, match="cannot connect to PostgreSQL") as raised:
        operators.MoviesTableOperator(task_id="load_genre", table="genre").execute({})
    assert not isinstance(raised.value, AirflowFailException)
    assert "port=1" in str(raised.value)


def test_consistency_operator_passes_after_a_full_load(operators: ModuleType, connections: Path) -> None:
    load_all(operators)
    report = operators.MoviesConsistencyOperator(task_id="check_consistency").execute({})
    json.dumps(report)
    assert report["ok"] is True and report["mode"] == "fast"  # the digests first, as the command's default


def test_consistency_operator_fails_when_the_target_lost_rows(
    operators: ModuleType, connections: Path, target_dsn: str
) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    load_all(operators)
    with psycopg2.connect(target_dsn) as target, target.cursor() as cursor:
        cursor.execute("DELETE FROM content.person WHERE id = (SELECT id FROM content.person LIMIT 1)")
    with pytest.raises(AirflowFailException, match=r"PostgreSQL differs from .* in person"):
        operators.MoviesConsistencyOperator(task_id="check_consistency").execute({})


def test_consistency_operator_checks_only_the_selected_tables(
    operators: ModuleType, connections: Path
) -> None:
    operators.MoviesSchemaOperator(task_id="apply_schema").execute({})
    operators.MoviesTableOperator(task_id="load_genre", table="genre").execute({})
    operators.MoviesConsistencyOperator(task_id="check_consistency", tables=["genre"]).execute({})
