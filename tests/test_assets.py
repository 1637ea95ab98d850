"""Assets: what the DAG declares, the events a run records, and the example DAG they trigger.

One ``airflow dags test movies_migration`` run covers the three outcomes of a load: loaded (an event
with the summary), skipped by the ``tables`` param (no event) and failed (no event). Then one loop of
the scheduler turns the queued film_work event into a run of the example consumer DAG.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from sqlite_to_postgres.tables import TABLE_NAMES
from tests.support.airflow_connections import connections_env

pytestmark = pytest.mark.airflow

PROJECT_ROOT = Path(__file__).resolve().parent.parent
AIRFLOW = str(Path(sys.executable).parent / "airflow")
DAG_ID = "movies_migration"
CONSUMER_ID = "movies_downstream_example"
# A run of these: person is left out, so every person_film_work row links nowhere and that load fails
# on its reject limit; genre_film_work is left out, so it is skipped; the other two load.
CHOSEN = ["genre", "film_work", "person_film_work"]
LOADED = ["genre", "film_work"]


def airflow_env(home: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        }
    )
    return env


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An AIRFLOW_HOME with a migrated SQLite metadata database (the one test_dag.py makes, if it ran)."""
    home = tmp_path_factory.getbasetemp() / "airflow_home"
    home.mkdir(exist_ok=True)
    with pytest.MonkeyPatch.context() as patch:
        # Set before anything in this process imports airflow, which reads them once.
        for name, value in airflow_env(home).items():
            if name.startswith("AIRFLOW"):
                patch.setenv(name, value)
        if not (home / "airflow.db").exists():
            subprocess.run(
                [AIRFLOW, "db", "migrate"],
                cwd=PROJECT_ROOT,
                env=airflow_env(home),
                check=True,
                capture_output=True,
                timeout=300,
            )
        yield home


def asset_name(table: str) -> str:
    """A target table's Asset, as users schedule on it: its qualified name in movies_database."""
    return f"movies_database.content.{table}"


# --- declarations -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dagbag(airflow_home: Path) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    assert bag.import_errors == {}
    return bag


def test_each_load_declares_its_table_and_the_schema_task_the_source(dagbag: Any) -> None:
    dag = dagbag.get_dag(DAG_ID)
    for table in TABLE_NAMES:
        assert [asset.name for asset in dag.get_task(f"load_{table}").outlets] == [asset_name(table)]
    assert [asset.name for asset in dag.get_task("apply_schema").inlets] == ["movies_sqlite"]
    assert dag.get_task("check_consistency").outlets == []


def test_the_example_dag_is_scheduled_on_film_work(dagbag: Any) -> None:
    condition = dagbag.get_dag(CONSUMER_ID).timetable.asset_condition
    assert [asset.name for asset in condition.objects] == [asset_name("film_work")]


def test_the_example_task_logs_each_event_with_its_summary(
    airflow_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from movies_operators.assets import log_load_events, table_asset

    event = SimpleNamespace(
        source_dag_id=DAG_ID,
        source_task_id="load_film_work",
        source_run_id="manual__1",
        extra={"table": "film_work", "inserted": 3, "rejected": 1},
    )
    caplog.set_level("INFO", logger="movies_operators.assets")
    assert log_load_events({table_asset("film_work"): [event]}) == [event.extra]
    assert caplog.messages == [
        "movies_database.content.film_work changed by movies_migration.load_film_work (run manual__1): "
        "table film_work, inserted 3, rejected 1"
    ]


# --- a run --------------------------------------------------------------------------------


@dataclass
class Run:
    run_id: str
    output: str
    states: dict[str, str]
    results: dict[str, Any]
    # asset name -> the extra of each event this run recorded for it
    events: dict[str, list[dict[str, Any]]]


def metadata(home: Path) -> sqlite3.Connection:
    return sqlite3.connect(home / "airflow.db")


@pytest.fixture(scope="module")
def run(airflow_home: Path, tmp_path_factory: pytest.TempPathFactory, server_dsn: str) -> Iterator[Run]:
    """One `airflow dags test` of the chosen tables into a database of its own."""
    import psycopg2
    from psycopg2 import sql

    from sqlite_to_postgres.connections import with_database

    database = f"test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(with_database(server_dsn, "postgres"))
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    try:
        source = tmp_path_factory.mktemp("assets") / "db.sqlite"
        source.write_bytes((PROJECT_ROOT / "db.sqlite").read_bytes())
        env = airflow_env(airflow_home) | connections_env(source, with_database(server_dsn, database))
        with metadata(airflow_home) as db:
            (last_before,) = db.execute("SELECT coalesce(max(id), 0) FROM dag_run").fetchone()
        process = subprocess.run(
            [AIRFLOW, "dags", "test", DAG_ID, "--conf", json.dumps({"tables": CHOSEN})],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        output = process.stdout + process.stderr
        with metadata(airflow_home) as db:
            row = db.execute(
                "SELECT run_id FROM dag_run WHERE dag_id = ? AND id > ?", (DAG_ID, last_before)
            ).fetchone()
            assert row, output[-3000:]
            (run_id,) = row
            states = dict(
                db.execute(
                    "SELECT task_id, state FROM task_instance WHERE dag_id = ? AND run_id = ?",
                    (DAG_ID, run_id),
                ).fetchall()
            )
            results = {
                task_id: json.loads(value)
                for task_id, value in db.execute(
                    "SELECT task_id, value FROM xcom WHERE dag_id = ? AND run_id = ? AND key = 'return_value'",
                    (DAG_ID, run_id),
                ).fetchall()
            }
            events: dict[str, list[dict[str, Any]]] = {}
            for name, extra in db.execute(
                "SELECT a.name, e.extra FROM asset_event AS e JOIN asset AS a ON a.id = e.asset_id "
                "WHERE e.source_dag_id = ? AND e.source_run_id = ? ORDER BY e.id",
                (DAG_ID, run_id),
            ).fetchall():
                events.setdefault(name, []).append(json.loads(extra))
        yield Run(run_id, output, states, results, events)
    finally:
        with admin.cursor() as cursor:
            cursor.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
            )
        admin.close()


def test_the_run_loads_skips_and_fails_as_planned(run: Run) -> None:
    assert run.states == {
        "apply_schema": "success",
        "load_genre": "success",
        "load_film_work": "success",
        "load_person": "skipped",
        "load_genre_film_work": "skipped",
        "load_person_film_work": "failed",
        "check_consistency": "upstream_failed",
    }, run.output[-5000:]


def test_each_loaded_table_records_one_event_carrying_its_summary(run: Run) -> None:
    assert set(run.events) == {asset_name(table) for table in LOADED}
    for table in LOADED:
        (extra,) = run.events[asset_name(table)]
        # The summary the task returned as its XCom, rows inserted, updated and rejected included.
        assert extra == run.results[f"load_{table}"]
        assert extra["table"] == table
        with sqlite3.connect(PROJECT_ROOT / "db.sqlite") as source:
            (rows,) = source.execute(f"SELECT count(*) FROM {table}").fetchone()
        assert (extra["inserted"], extra["updated"], extra["rejected"]) == (rows, 0, 0)


def test_skipped_and_failed_tables_record_no_event(run: Run) -> None:
    for table in ("person", "genre_film_work", "person_film_work"):
        assert asset_name(table) not in run.events
    assert "load_person_film_work" not in run.results


def test_the_film_work_event_triggers_the_example_dag(run: Run, airflow_home: Path) -> None:
    with metadata(airflow_home) as db:
        # Recorded with the event: the consumer's run is queued until a scheduler creates it.
        queued = db.execute(
            "SELECT count(*) FROM asset_dag_run_queue AS q JOIN asset AS a ON a.id = q.asset_id "
            "WHERE q.target_dag_id = ? AND a.name = ?",
            (CONSUMER_ID, asset_name("film_work")),
        ).fetchone()[0]
    assert queued == 1

    # One loop of the scheduler creates the run. Its task goes to an executor with no API server to
    # talk to here (the test does not need it to run): pointed at a closed port, it gives up at once
    # instead of retrying for seconds. One executor process is enough.
    env = airflow_env(airflow_home) | {
        "AIRFLOW__CORE__PARALLELISM": "1",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": "http://127.0.0.1:1/execution/",
        "AIRFLOW__WORKERS__EXECUTION_API_RETRIES": "1",
    }
    scheduler = subprocess.run(
        [AIRFLOW, "scheduler", "--num-runs", "1"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    with metadata(airflow_home) as db:
        consumer_runs = db.execute(
            "SELECT r.run_type, r.state, e.source_task_id FROM dag_run AS r "
            "JOIN dagrun_asset_event AS d ON d.dag_run_id = r.id JOIN asset_event AS e ON e.id = d.event_id "
            "WHERE r.dag_id = ? AND e.source_dag_id = ? AND e.source_run_id = ?",
            (CONSUMER_ID, DAG_ID, run.run_id),
        ).fetchall()
    output = scheduler.stdout[-3000:] + scheduler.stderr[-3000:]
    assert len(consumer_runs) == 1, output
    ((run_type, state, source_task),) = consumer_runs
    assert (run_type, source_task) == ("asset_triggered", "load_film_work")
    assert state in ("queued", "running", "success"), output
