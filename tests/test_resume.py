"""Interrupted runs: a killed process resumes from its checkpoint, a dropped connection is retried."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import psycopg2.extensions
import pytest

from sqlite_to_postgres.errors import RejectThresholdExceeded
from sqlite_to_postgres.options import RunOptions
from sqlite_to_postgres.pipeline import migrate
from sqlite_to_postgres.summary import TableSummary
from tests.support.crafted import (
    PROJECT_ROOT,
    checkpoint,
    person,
    read_table,
    rejects,
    run_cli,
    write_catalog,
    write_persons,
)

LARGE = 100_000
BATCH_SIZE = 1000


def _wait_until(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def _committed(target: psycopg2.extensions.connection) -> int:
    row = checkpoint(target, "person")
    return row["last_rowid"] if row else 0


def _assert_every_person_once(source: Path, target: psycopg2.extensions.connection) -> None:
    """Counts, then every id with its values, against SQLite."""
    expected = {
        (id_, name, datetime.fromisoformat(created), datetime.fromisoformat(modified))
        for id_, name, created, modified in read_table(
            source, "person", "id, full_name, created_at, updated_at"
        )
    }
    with target.cursor() as cursor:
        cursor.execute("SELECT count(*), count(DISTINCT id) FROM content.person")
        assert cursor.fetchone() == (len(expected), len(expected))
        cursor.execute("SELECT id::text, full_name, created, modified FROM content.person")
        assert set(cursor.fetchall()) == expected
    target.commit()


def test_killed_run_resumes_after_its_last_committed_batch_with_every_row_once(
    tmp_path: Path, target_dsn: str, target: psycopg2.extensions.connection, caplog: pytest.LogCaptureFixture
) -> None:
    source = write_persons(tmp_path / "large.sqlite", LARGE)
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sqlite_to_postgres",
            "migrate",
            "--sqlite",
            str(source),
            "--dsn",
            target_dsn,
            "--tables",
            "person",
            "--batch-size",
            str(BATCH_SIZE),
        ],
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_until(lambda: _committed(target) >= 5 * BATCH_SIZE)
        helpers = _descendants(run.pid)
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait()
    assert helpers, "the run parses in worker processes"
    _wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in helpers), timeout=10)
    killed_at = checkpoint(target, "person")
    assert killed_at is not None
    assert not killed_at["finished"] and killed_at["last_rowid"] < LARGE, (
        "the kill came too late to test resuming"
    )
    assert not _has_primary_key(target, "person"), "a first load builds its keys after its rows"
    caplog.set_level(logging.INFO, logger="sqlite_to_postgres")

    [summary] = migrate(source, target_dsn, RunOptions(tables=["person"], batch_size=BATCH_SIZE))

    # The rest loads as the first load it is: straight COPY, keys built once at the end.
    rest = LARGE - killed_at["last_rowid"]
    assert f"person: resume after {killed_at['rows_read']:,} rows (first load), keys deferred, {rest:,} rows" in caplog.text
    assert "an earlier load stopped before rebuilding" not in caplog.text

    assert summary.resumed_rows == killed_at["rows_read"] == killed_at["last_rowid"] > 0
    assert summary.rows_read - summary.resumed_rows == LARGE - killed_at["last_rowid"]  # read only the rest
    assert (summary.rows_read, summary.inserted, summary.rejected) == (LARGE, LARGE, 0)
    finished = checkpoint(target, "person")
    assert finished is not None
    assert (finished["finished"], finished["last_rowid"], finished["rows_read"]) == (True, LARGE, LARGE)
    _assert_every_person_once(source, target)
    assert _has_primary_key(target, "person"), "the resumed run rebuilt the keys the killed one dropped"


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (its fork server and the workers forked from it), from /proc."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name in parentheses may hold spaces: the fields after it are fixed.
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _has_primary_key(target: psycopg2.extensions.connection, table: str) -> bool:
    with target.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p')",
            (f"content.{table}",),
        )
        found = bool(cursor.fetchone()[0])
    target.rollback()
    return found


def _stopped_at_batch_three(tmp_path: Path, target_dsn: str) -> Path:
    """5,000 persons with a bad one at rowid 2,500: a zero reject limit stops the run after batch 3."""
    rows = [person(n) for n in range(1, 5001)]
    rows[2499] = person(2500, id="not-a-uuid")
    source = write_catalog(tmp_path / "stopped.sqlite", {"person": rows})
    with pytest.raises(RejectThresholdExceeded, match="batch 3"):
        migrate(source, target_dsn, RunOptions(tables=["person"], batch_size=BATCH_SIZE, max_rejects=0))
    return source


def test_rerun_after_a_failed_run_reads_only_the_rows_after_its_checkpoint(
    tmp_path: Path, target_dsn: str, target: psycopg2.extensions.connection
) -> None:
    source = _stopped_at_batch_three(tmp_path, target_dsn)

    [summary] = migrate(source, target_dsn, RunOptions(tables=["person"], batch_size=BATCH_SIZE, max_rejects=1))

    assert (summary.resumed_rows, summary.rows_read, summary.inserted, summary.rejected) == (
        3000,
        5000,
        4999,
        1,
    )
    assert checkpoint(target, "person")["unchanged"] == 0  # no committed row was read twice
    assert [r[:2] for r in rejects(target)] == [("person", 2500)]


def test_full_refresh_reads_every_row_again_despite_a_checkpoint(
    tmp_path: Path, target_dsn: str, target: psycopg2.extensions.connection
) -> None:
    source = _stopped_at_batch_three(tmp_path, target_dsn)

    result = run_cli(
        "migrate",
        "--sqlite",
        source,
        "--dsn",
        target_dsn,
        "--tables",
        "person",
        "--batch-size",
        BATCH_SIZE,
        "--max-rejects",
        "1",
        "--full-refresh",
    )

    assert result.returncode == 0, result.stderr
    assert "resumed" not in result.stdout
    state = checkpoint(target, "person")
    assert state is not None
    assert (state["rows_read"], state["inserted"], state["unchanged"], state["rejected"]) == (
        5000,
        2000,
        2999,
        1,
    )
    assert [r[:2] for r in rejects(target)] == [("person", 2500)]


def test_connection_killed_mid_run_is_retried_and_every_row_loads_once(
    tmp_path: Path, target_dsn: str, target: psycopg2.extensions.connection, caplog: pytest.LogCaptureFixture
) -> None:
    source = write_persons(tmp_path / "large.sqlite", LARGE)
    outcome: dict[str, list[TableSummary] | BaseException] = {}

    def run() -> None:
        try:
            outcome["summaries"] = migrate(source, target_dsn, RunOptions(tables=["person"], batch_size=BATCH_SIZE, retries=3))
        except BaseException as error:  # handed to the test thread
            outcome["error"] = error

    caplog.set_level(logging.WARNING, logger="sqlite_to_postgres")
    migration = threading.Thread(target=run, daemon=True)
    migration.start()
    _wait_until(lambda: _committed(target) >= 5 * BATCH_SIZE)
    with target.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        terminated = cursor.fetchone()[0]
    target.commit()
    still_running = migration.is_alive()
    migration.join(timeout=120)

    assert (terminated, still_running) == (1, True), "the connection must be dropped while the run is going"
    assert "error" not in outcome, outcome.get("error")
    [summary] = outcome["summaries"]  # type: ignore[misc]
    assert "lost the connection to PostgreSQL" in caplog.text and "retry 1 of 3" in caplog.text
    assert summary.resumed_rows > 0  # the retry picked up after the last committed batch
    assert (summary.rows_read, summary.inserted, summary.rejected) == (LARGE, LARGE, 0)
    assert checkpoint(target, "person")["finished"]
    _assert_every_person_once(source, target)


def test_a_dropped_connection_is_one_warning_line_on_the_command_line(
    tmp_path: Path, target_dsn: str, target: psycopg2.extensions.connection
) -> None:
    source = write_persons(tmp_path / "large.sqlite", LARGE)
    log = tmp_path / "run.log"
    with log.open("wb") as output:
        run = subprocess.Popen(
            [sys.executable, "-m", "sqlite_to_postgres", "migrate", "--sqlite", str(source), "--dsn", target_dsn,
             "--tables", "person", "--batch-size", str(BATCH_SIZE)],
            cwd=PROJECT_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=output,
        )
    _wait_until(lambda: _committed(target) >= 5 * BATCH_SIZE)
    with target.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        assert cursor.fetchone()[0] == 1
    target.commit()
    assert run.wait(timeout=120) == 0

    lines = log.read_text().splitlines()
    assert not [line for line in lines if not line[:2].isdigit()], "every line is a log line"
    [warning] = [line for line in lines if " WARNING " in line]
    assert "lost the connection to PostgreSQL" in warning and "retry 1 of 3" in warning
    assert _committed(target) == LARGE
