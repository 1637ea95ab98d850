"""Two runs meeting on one database, and runs killed at awkward points: the target always converges.

Real processes on the real PostgreSQL. A first run is paused (SIGSTOP) in the middle of a table while a
second one starts, so the two meet exactly where the test wants them to, whatever the machine's speed.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg2
import psycopg2.extensions
import pytest

from sqlite_to_postgres.tables import TABLE_NAMES
from tests.support.crafted import (
    PROJECT_ROOT,
    checkpoint,
    content_counts,
    film,
    genre,
    genre_link,
    person,
    person_link,
    run_cli,
    write_catalog,
)
from tests.test_dag import UPSTREAM, airflow_home, airflow_settings_home, run_dag  # noqa: F401  (fixtures)

ROWS = 300  # per table: at one row per batch, long enough to pause a run in the middle of any table


def _catalog(path: Path) -> Path:
    return write_catalog(
        path,
        {
            "genre": [genre(n) for n in range(ROWS)],
            "person": [person(n) for n in range(ROWS)],
            "film_work": [film(n) for n in range(ROWS)],
            "genre_film_work": [genre_link(n, n, n) for n in range(ROWS)],
            "person_film_work": [person_link(n, n, n) for n in range(ROWS)],
        },
    )


def _start(source: Path, dsn: str, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "sqlite_to_postgres", "migrate", "--sqlite", str(source), "--dsn", dsn, *extra],
            cwd=PROJECT_ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def _wait_until(condition: Callable[[], bool], timeout: float = 60, step: float = 0.002) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(step)


def _in_the_middle_of(target: psycopg2.extensions.connection, table: str) -> bool:
    row = checkpoint(target, table)
    return row is not None and not row["finished"] and 0 < row["last_rowid"] < ROWS


def _sessions(target: psycopg2.extensions.connection, condition: str) -> int:
    """How many sessions on this test's database match ``condition`` (SQL over pg_stat_activity)."""
    with target.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND {condition}"
        )
        count = int(cursor.fetchone()[0])
    target.commit()
    return count


def _assert_clean(run: subprocess.Popen[bytes], log: Path) -> str:
    assert run.wait(timeout=120) == 0, log.read_text()
    text = log.read_text()
    assert "Traceback" not in text and "error:" not in text, text
    return text


def _assert_converged(source: Path, dsn: str, target: psycopg2.extensions.connection) -> None:
    third = run_cli("migrate", "--sqlite", source, "--dsn", dsn)
    assert third.returncode == 0, third.stderr
    assert "inserted" in third.stdout
    check = run_cli("check", "--sqlite", source, "--dsn", dsn)
    assert check.returncode == 0, check.stdout + check.stderr
    assert content_counts(target) == dict.fromkeys(TABLE_NAMES, ROWS)


@pytest.mark.slow
@pytest.mark.parametrize("table", TABLE_NAMES)
def test_a_second_run_started_in_the_middle_of_a_table_waits_for_it_and_both_succeed(
    table: str, tmp_path: Path, target_dsn: str, target: psycopg2.extensions.connection
) -> None:
    source = _catalog(tmp_path / "catalog.sqlite")
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    first = _start(source, target_dsn, first_log, "--batch-size", "1", "--workers", "0")
    try:
        _wait_until(lambda: _in_the_middle_of(target, table))
        first.send_signal(signal.SIGSTOP)
        assert _in_the_middle_of(target, table), "the pause came too late"
        second = _start(source, target_dsn, second_log, "--workers", "0")
        # The second run reaches the paused table (or the schema, which waits for every load) and waits.
        try:
            _wait_until(lambda: "waiting for a run loading it" in second_log.read_text(), step=0.05)
        except AssertionError:
            raise AssertionError(f"the second run never waited:\n{second_log.read_text()}") from None
    finally:
        first.send_signal(signal.SIGCONT)
    _assert_clean(first, first_log)
    waited = _assert_clean(second, second_log)
    assert "sqlite_to_postgres" in waited.split("waiting for a run loading it", 1)[1].splitlines()[0]
    _assert_converged(source, target_dsn, target)


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.0, 0.3, 1.0])
def test_two_runs_started_close_together_both_succeed(
    delay: float, tmp_path: Path, target_dsn: str, target: psycopg2.extensions.connection
) -> None:
    source = _catalog(tmp_path / "catalog.sqlite")
    first = _start(source, target_dsn, tmp_path / "first.log", "--batch-size", "20")
    time.sleep(delay)
    second = _start(source, target_dsn, tmp_path / "second.log", "--batch-size", "20")
    _assert_clean(first, tmp_path / "first.log")
    _assert_clean(second, tmp_path / "second.log")
    _assert_converged(source, target_dsn, target)


def test_a_second_run_gives_up_after_its_lock_timeout_with_one_line(
    tmp_path: Path, target_dsn: str, target: psycopg2.extensions.connection
) -> None:
    source = _catalog(tmp_path / "catalog.sqlite")
    assert run_cli("migrate", "--sqlite", source, "--dsn", target_dsn, "--tables", "genre").returncode == 0
    # Another session holds genre's lock, as a run loading it would.
    holder = psycopg2.connect(target_dsn, application_name="someone else's loader")
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(x'51747067'::int, hashtext('content.genre'))")
        holder.commit()
        started = time.monotonic()
        blocked = run_cli(
            "migrate", "--sqlite", source, "--dsn", target_dsn, "--tables", "genre", "--no-schema", "--lock-timeout", "1"
        )
        waited = time.monotonic() - started
    finally:
        holder.close()
    assert blocked.returncode == 1
    assert "Traceback" not in blocked.stderr
    [error] = [line for line in blocked.stderr.splitlines() if line.startswith("error:")]
    assert error.startswith("error: table genre: another run still holds the table after 1 s")
    assert "someone else's loader" in error
    assert waited >= 1
    assert "someone else's loader" in blocked.stderr.split("waiting for", 1)[1]


@pytest.mark.slow
def test_a_run_killed_while_rebuilding_keys_leaves_a_target_the_next_run_repairs(
    tmp_path: Path, target_dsn: str, target: psycopg2.extensions.connection
) -> None:
    source = _catalog(tmp_path / "catalog.sqlite")
    assert run_cli("migrate", "--sqlite", source, "--dsn", target_dsn, "--tables", "genre", "person").returncode == 0
    # Rebuilding film_work's keys re-adds the foreign key of person_film_work, which needs a lock this
    # session takes once the keys are dropped: the run stops there, in the middle of the rebuild, and is
    # killed.
    run = _start(
        source, target_dsn, tmp_path / "killed.log", "--tables", "film_work", "--workers", "0", "--no-schema",
        "--batch-size", "1",
    )
    blocker = psycopg2.connect(target_dsn)
    try:
        _wait_until(lambda: bool((checkpoint(target, "film_work") or {}).get("deferred_ddl")))
        with blocker.cursor() as cursor:
            cursor.execute("LOCK TABLE content.person_film_work IN ROW EXCLUSIVE MODE")
        assert checkpoint(target, "film_work")["last_rowid"] < ROWS, "the lock came too late"

        def rebuilding() -> bool:
            return _sessions(
                target,
                "wait_event_type = 'Lock' AND query LIKE 'ALTER TABLE \"content\".\"person_film_work\" ADD CONSTRAINT%%'",
            ) > 0

        _wait_until(rebuilding, step=0.02)
        run.send_signal(signal.SIGKILL)
        run.wait()
    finally:
        blocker.close()
    stopped = checkpoint(target, "film_work")
    assert stopped is not None and stopped["deferred_ddl"], "the kill left film_work's keys to rebuild"

    _assert_converged(source, target_dsn, target)
    assert checkpoint(target, "film_work")["deferred_ddl"] is None


@pytest.mark.slow
@pytest.mark.airflow
def test_a_command_line_run_beside_the_dag_both_succeed(
    airflow_home: Path,  # noqa: F811  (the fixture imported from test_dag)
    tmp_path: Path,
    target_dsn: str,
    target: psycopg2.extensions.connection,
) -> None:
    source = _catalog(tmp_path / "catalog.sqlite")
    cli_log = tmp_path / "cli.log"
    cli = _start(source, target_dsn, cli_log, "--batch-size", "1", "--workers", "0")
    outcome: dict[str, object] = {}
    try:
        _wait_until(lambda: _in_the_middle_of(target, "film_work"))
        cli.send_signal(signal.SIGSTOP)
        dag = threading.Thread(target=lambda: outcome.update(run=run_dag(airflow_home, source, target_dsn)))
        dag.start()

        def dag_connected() -> bool:
            return _sessions(target, "application_name LIKE 'sqlite_to_postgres%%'") > 1

        # The DAG's first task meets the paused run: it waits for film_work's load to end.
        _wait_until(dag_connected, timeout=120, step=0.1)
        time.sleep(1)
    finally:
        cli.send_signal(signal.SIGCONT)
    _assert_clean(cli, cli_log)
    dag.join(timeout=600)
    run = outcome["run"]
    assert run.returncode == 0, run.output[-5000:]  # type: ignore[attr-defined]
    assert run.states == dict.fromkeys(UPSTREAM, "success"), run.output[-5000:]  # type: ignore[attr-defined]
    assert "waiting for a run loading it" in run.output  # type: ignore[attr-defined]
    _assert_converged(source, target_dsn, target)


def test_the_check_waits_for_a_load_in_progress_rather_than_judging_a_half_loaded_table(
    tmp_path: Path, target_dsn: str, target: psycopg2.extensions.connection
) -> None:
    source = _catalog(tmp_path / "catalog.sqlite")
    assert run_cli("migrate", "--sqlite", source, "--dsn", target_dsn).returncode == 0
    # A "load" of genre in progress: it holds genre's lock, and the table is half-loaded until it ends.
    loader = psycopg2.connect(target_dsn, application_name="a loader")
    with loader.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(x'51747067'::int, hashtext('content.genre'))")
        cursor.execute("CREATE TEMP TABLE kept AS SELECT * FROM content.genre_film_work")
        cursor.execute("DELETE FROM content.genre_film_work")
    loader.commit()
    try:
        refused = run_cli("check", "--sqlite", source, "--dsn", target_dsn, "--lock-timeout", "1")
        assert refused.returncode == 1 and "Traceback" not in refused.stderr
        [error] = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
        assert "another run still holds the table after 1 s" in error and "a loader" in error
        assert "missing" not in refused.stdout, "no verdict on a table being loaded"

        waiting = subprocess.Popen(
            [sys.executable, "-m", "sqlite_to_postgres", "check", "--sqlite", str(source), "--dsn", target_dsn],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(2)
        with loader.cursor() as cursor:  # the load ends with every row in place
            cursor.execute("INSERT INTO content.genre_film_work SELECT * FROM kept")
        loader.commit()
    finally:
        loader.close()
    out, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, out + err
    assert "waiting for a run loading it: a loader" in err
    assert "consistent" in out
