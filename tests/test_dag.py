"""The movies_migration DAG: it imports, it is wired in foreign-key order, and it runs end to end.

End-to-end tests run ``airflow dags test movies_migration`` in a subprocess, the
command a user runs, with Airflow's default SQLite metadata database in a temporary
AIRFLOW_HOME (migrated once per session) and the two connections given as
environment variables pointing at this test's own PostgreSQL database.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.extensions
import pytest

from sqlite_to_postgres.tables import TABLE_NAMES
from tests.support.airflow_connections import connections_env

pytestmark = pytest.mark.airflow

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DAGS_FOLDER = PROJECT_ROOT / "dags"
PLUGINS_FOLDER = PROJECT_ROOT / "plugins"
AIRFLOW = str(Path(sys.executable).parent / "airflow")
DAG_ID = "movies_migration"
LOAD_TASKS = [f"load_{table}" for table in TABLE_NAMES]
UPSTREAM = {
    "apply_schema": set(),
    "load_genre": {"apply_schema"},
    "load_person": {"apply_schema"},
    "load_film_work": {"apply_schema"},
    "load_genre_film_work": {"load_genre", "load_film_work"},
    "load_person_film_work": {"load_person", "load_film_work"},
    "check_consistency": {"load_genre_film_work", "load_person_film_work"},
}


def airflow_settings(home: Path) -> dict[str, str]:
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }


@pytest.fixture(scope="session")
def airflow_settings_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A temporary AIRFLOW_HOME for this process, enough to parse the DAG and load the plugins."""
    home = tmp_path_factory.getbasetemp() / "airflow_home"
    home.mkdir(exist_ok=True)
    with pytest.MonkeyPatch.context() as patch:
        # Set before anything in this process imports airflow, which reads them once.
        for name, value in airflow_settings(home).items():
            patch.setenv(name, value)
        yield home


@pytest.fixture(scope="session")
def airflow_home(airflow_settings_home: Path) -> Path:
    """That AIRFLOW_HOME with a migrated SQLite metadata database, which DAG runs need; made once."""
    if not (airflow_settings_home / "airflow.db").exists():
        subprocess.run(
            [AIRFLOW, "db", "migrate"], cwd=PROJECT_ROOT, check=True, capture_output=True, timeout=300
        )
    return airflow_settings_home


@pytest.fixture(scope="session")
def dagbag(airflow_settings_home: Path) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER))


@pytest.fixture(scope="session")
def dag(dagbag: Any) -> Any:
    assert not dagbag.import_errors
    # The DAG as parsed; get_dag would look in the metadata database, which parsing does not need.
    return dagbag.dags[DAG_ID]


# --- structure -------------------------------------------------------------------------


def test_dag_file_imports_without_errors(dagbag: Any) -> None:
    assert dagbag.import_errors == {}
    assert DAG_ID in dagbag.dag_ids


def test_tasks_follow_the_foreign_keys(dag: Any) -> None:
    assert {task.task_id: set(task.upstream_task_ids) for task in dag.tasks} == UPSTREAM


def test_dag_is_triggered_by_hand_and_documented(dag: Any) -> None:
    assert dag.schedule is None
    assert "movies_migration" in dag.doc_md
    assert dag.max_active_runs == 1


def test_params_are_shown_in_the_trigger_form(dag: Any) -> None:
    batch_size = dag.params.get_param("batch_size")
    tables = dag.params.get_param("tables")
    assert batch_size.schema["type"] == "integer" and batch_size.description
    assert tables.schema["type"] == "array" and tables.description
    # An array param with examples is rendered as a multi-select in the trigger form.
    assert tables.schema["examples"] == list(TABLE_NAMES)
    assert tables.value == list(TABLE_NAMES)
    assert tables.schema["items"]["enum"] == list(TABLE_NAMES)


def test_load_tasks_retry_with_exponential_backoff(dag: Any) -> None:
    for task_id in LOAD_TASKS:
        task = dag.get_task(task_id)
        assert task.retries > 0
        assert task.retry_exponential_backoff > 1
        assert task.max_retry_delay is not None


def test_skipped_tables_do_not_skip_what_follows(dag: Any) -> None:
    # A table left out of the `tables` param is skipped; its children and the check must still run.
    for task_id in [*LOAD_TASKS, "check_consistency"]:
        assert dag.get_task(task_id).trigger_rule == "none_failed", task_id


def test_tasks_use_the_default_connection_ids(dag: Any) -> None:
    for task in dag.tasks:
        assert (task.sqlite_conn_id, task.postgres_conn_id) == ("movies_sqlite", "movies_pg")


def test_plugin_loader_leaves_the_operator_package_alone(airflow_settings_home: Path) -> None:
    # Airflow's plugin loader execs every .py under plugins/ as a top-level module (operators.py
    # as "operators"), which breaks the package's relative imports; plugins/.airflowignore stops it.
    from airflow import plugins_manager

    plugins_manager.ensure_plugins_loaded()
    assert plugins_manager.get_import_errors() == {}
    assert not {"operators", "connections", "__init__"} & set(sys.modules)


def test_parsing_the_dag_opens_no_database(
    airflow_settings_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the DAG file opened a database while being parsed")

    monkeypatch.setattr(psycopg2, "connect", refuse)
    monkeypatch.setattr(sqlite3, "connect", refuse)
    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    assert bag.import_errors == {}


# --- end to end: each run is an `airflow dags test` of several seconds, hence marked slow -----


@dataclass
class DagRun:
    returncode: int
    output: str
    states: dict[str, str]
    results: dict[str, Any]


def run_airflow(home: Path, sqlite_path: Path, dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")}
    env.update(airflow_settings(home))
    env.update(connections_env(sqlite_path, dsn))
    return subprocess.run(
        [AIRFLOW, *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )


def run_dag(home: Path, sqlite_path: Path, dsn: str, conf: dict[str, Any] | None = None) -> DagRun:
    """Run the DAG once with `airflow dags test`; the task states and return values of that run."""
    args = ["dags", "test", DAG_ID] + (["--conf", json.dumps(conf)] if conf else [])
    with sqlite3.connect(home / "airflow.db") as metadata:
        (last_before,) = metadata.execute("SELECT coalesce(max(id), 0) FROM dag_run").fetchone()
    process = run_airflow(home, sqlite_path, dsn, *args)
    with sqlite3.connect(home / "airflow.db") as metadata:
        # Tests run one at a time, so the one run newer than before is the one just made.
        row = metadata.execute(
            "SELECT run_id FROM dag_run WHERE dag_id = ? AND id > ?", (DAG_ID, last_before)
        ).fetchone()
        assert row, f"airflow dags test made no run:\n{process.stdout[-3000:]}{process.stderr[-3000:]}"
        (run_id,) = row
        states = dict(
            metadata.execute(
                "SELECT task_id, state FROM task_instance WHERE dag_id = ? AND run_id = ?", (DAG_ID, run_id)
            ).fetchall()
        )
        results = {
            task_id: json.loads(value)
            for task_id, value in metadata.execute(
                "SELECT task_id, value FROM xcom WHERE dag_id = ? AND run_id = ? AND key = 'return_value'",
                (DAG_ID, run_id),
            ).fetchall()
        }
    return DagRun(process.returncode, process.stdout + process.stderr, states, results)


def source_counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as source:
        return {table: source.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in TABLE_NAMES}


def target_counts(dsn: str) -> dict[str, int]:
    with psycopg2.connect(dsn) as target, target.cursor() as cursor:
        counts = {}
        for table in TABLE_NAMES:
            cursor.execute(f"SELECT count(*) FROM content.{table}")
            counts[table] = cursor.fetchone()[0]
        return counts


def assert_succeeded(run: DagRun) -> None:
    assert run.returncode == 0, run.output[-5000:]
    assert run.states == dict.fromkeys(UPSTREAM, "success"), run.output[-5000:]


@pytest.mark.slow
def test_dag_migrates_the_sample_catalog_and_a_rerun_inserts_nothing_and_deletes_when_asked(
    airflow_home: Path, sample_sqlite: Path, target_dsn: str
) -> None:
    first = run_dag(airflow_home, sample_sqlite, target_dsn)
    assert_succeeded(first)
    assert target_counts(target_dsn) == source_counts(sample_sqlite)
    assert first.results["check_consistency"]["ok"] is True
    for table, rows in source_counts(sample_sqlite).items():
        assert first.results[f"load_{table}"]["inserted"] == rows

    # The second run also shows the delete_missing param reaching its task: one link is gone.
    with sqlite3.connect(sample_sqlite) as source:
        source.execute("DELETE FROM genre_film_work WHERE rowid = (SELECT min(rowid) FROM genre_film_work)")
    source.close()
    second = run_dag(airflow_home, sample_sqlite, target_dsn, conf={"delete_missing": True})
    assert_succeeded(second)
    assert [second.results[task]["inserted"] for task in LOAD_TASKS] == [0] * len(LOAD_TASKS)
    deleted = {task: second.results[task]["deleted"] for task in LOAD_TASKS}
    assert deleted == {**dict.fromkeys(LOAD_TASKS, 0), "load_genre_film_work": 1}
    assert target_counts(target_dsn) == source_counts(sample_sqlite)
    assert second.results["check_consistency"]["ok"] is True


@pytest.mark.slow
@pytest.mark.real_data
def test_dag_migrates_the_real_catalog(airflow_home: Path, real_sqlite: Path, target_dsn: str) -> None:
    run = run_dag(airflow_home, real_sqlite, target_dsn)
    assert_succeeded(run)
    assert target_counts(target_dsn) == source_counts(real_sqlite)
    assert run.results["check_consistency"]["ok"] is True


@pytest.mark.slow
def test_tables_param_skips_the_others_and_the_run_goes_on(
    airflow_home: Path, sample_sqlite: Path, target_dsn: str
) -> None:
    chosen = ["genre", "film_work", "genre_film_work"]
    run = run_dag(airflow_home, sample_sqlite, target_dsn, conf={"tables": chosen, "batch_size": 100})

    assert run.returncode == 0, run.output[-5000:]
    expected = {task: "success" for task in UPSTREAM}
    expected |= {"load_person": "skipped", "load_person_film_work": "skipped"}
    assert run.states == expected
    counts, source = target_counts(target_dsn), source_counts(sample_sqlite)
    assert {table: counts[table] for table in chosen} == {table: source[table] for table in chosen}
    assert counts["person"] == counts["person_film_work"] == 0
    assert [table["table"] for table in run.results["check_consistency"]["tables"]] == chosen


# A missing SQLite file and an unreachable server are failures of one task, shown at operator level
# (tests/test_operators.py: which exception, so whether Airflow retries); the DAG's retries and
# trigger rules are checked above. One broken source run here shows how a failure travels the DAG.
@pytest.mark.slow
def test_a_source_missing_a_table_fails_before_any_table_is_written(
    airflow_home: Path, sample_sqlite: Path, target_dsn: str, target: psycopg2.extensions.connection
) -> None:
    with sqlite3.connect(sample_sqlite) as source:
        source.execute("DROP TABLE person_film_work")
    source.close()

    run = run_dag(airflow_home, sample_sqlite, target_dsn)

    assert run.returncode != 0
    assert run.states["apply_schema"] == "failed"
    assert {run.states[task] for task in [*LOAD_TASKS, "check_consistency"]} == {"upstream_failed"}
    assert "table person_film_work: the SQLite file has no such table" in run.output
    with target.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM information_schema.schemata WHERE schema_name = 'content'")
        assert cursor.fetchone()[0] == 0
