"""Ours: the CLI's migrate, its re-run on unchanged data and its check; and the whole DAG."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from databases import require_rows
from measure import BenchError, require_success, run_measured
from results import ProcessRun


def _cli(command: str, sqlite_path: Path, dsn: str) -> list[str]:
    return [sys.executable, "-m", "sqlite_to_postgres", command, "--sqlite", str(sqlite_path), "--dsn", dsn]


def measure_ours(sqlite_path: Path, dsn: str, rows: int) -> ProcessRun:
    run = require_success(run_measured(_cli("migrate", sqlite_path, dsn), dsn), "migrate")
    require_rows(dsn, "content", rows, "migrate")
    run.part_seconds = summary_seconds(run.output)
    return run


def measure_rerun(sqlite_path: Path, dsn: str, rows: int) -> ProcessRun:
    run = require_success(run_measured(_cli("migrate", sqlite_path, dsn), dsn), "migrate (re-run)")
    require_rows(dsn, "content", rows, "the re-run")
    run.part_seconds = summary_seconds(run.output)
    return run


def measure_check(sqlite_path: Path, dsn: str) -> ProcessRun:
    return require_success(run_measured(_cli("check", sqlite_path, dsn), dsn), "check")


def summary_seconds(output: str) -> float | None:
    """The library's own seconds from the ``total`` line of the CLI summary (without start-up)."""
    header = next((line.split() for line in output.splitlines() if line.startswith("table ")), None)
    total = next((line.split() for line in output.splitlines() if line.startswith("total ")), None)
    if not header or not total or "seconds" not in header or len(total) != len(header):
        return None
    return float(total[header.index("seconds")].replace(",", ""))


def airflow_env(sqlite_path: Path, dsn: str, airflow_home: Path) -> dict[str, str]:
    return {"SQLITE_PATH": str(sqlite_path), "MOVIES_PG_DSN": dsn, "MOVIES_AIRFLOW_HOME": str(airflow_home)}


def measure_dag(sqlite_path: Path, dsn: str, rows: int, airflow_home: Path) -> ProcessRun:
    env = airflow_env(sqlite_path, dsn, airflow_home)
    run = run_measured(["scripts/airflow-env.sh", "airflow", "dags", "test", "movies_migration"], dsn, env)
    finished = re.search(r"DagRun Finished:.*?state=(\w+)", run.output)
    if run.returncode != 0 or not finished or finished.group(1) != "success":
        errors = [line.strip() for line in run.output.splitlines() if "ERROR" in line or "rror:" in line]
        state = finished.group(1) if finished else "no DagRun Finished line"
        raise BenchError(f"dags test: exit {run.returncode}, state {state}; {' | '.join(errors[-2:])[:400]}")
    require_rows(dsn, "content", rows, "the DAG")
    run.part_seconds = dag_run_duration(run.output)
    return run


def dag_run_duration(output: str) -> float | None:
    found = re.search(r"DagRun Finished:.*?run_duration=([\d.]+)", output)
    return float(found.group(1)) if found else None
