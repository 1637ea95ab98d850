"""Where and with what the figures were taken: machine, versions, load average, revision."""

from __future__ import annotations

import os
import platform
import re
import shlex
import sqlite3
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import psycopg2
from measure import PROJECT_ROOT
from options import Options
from results import Environment


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _proc_field(path: str, name: str) -> str:
    for line in Path(path).read_text().splitlines():
        if line.startswith(name):
            return line.split(":", 1)[1].strip()
    return "?"


def version_of(argv: Sequence[str]) -> str:
    """The first version number a command prints about itself."""
    try:
        found = subprocess.run(argv, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return "not installed"
    number = re.search(r"\d+\.\d+[\w.~+-]*", found.stdout + found.stderr)
    return number.group(0) if number else "?"


def _package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def project_revision() -> str:
    """The commit measured, and the files of the library or DAG that differ from it (others edit them too)."""
    def git(*arguments: str) -> str:
        found = subprocess.run(["git", *arguments], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False)
        return found.stdout

    commit = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    changed = git("status", "--porcelain", "--", "sqlite_to_postgres", "dags", "plugins").splitlines()
    return commit + (f" with uncommitted changes in {', '.join(line[3:] for line in changed)}" if changed else "")


def describe_environment(options: Options, argv: Sequence[str]) -> Environment:
    with psycopg2.connect(options.server_dsn) as connection, connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server_version = cursor.fetchone()[0]
    memory_kib = int(_proc_field("/proc/meminfo", "MemTotal").split()[0])
    return Environment(
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        command=shlex.join(["python", "bench/run.py", *argv]),
        machine={
            "CPU": _proc_field("/proc/cpuinfo", "model name"),
            "cores": str(os.cpu_count()),
            "memory": f"{memory_kib / 1024 / 1024:.1f} GiB",
            "kernel": platform.release(),
        },
        versions={
            "project": project_revision(),
            "Python": platform.python_version(),
            "PostgreSQL server": server_version,
            "psql": version_of(["psql", "--version"]),
            "psycopg2": psycopg2.__version__.split()[0],
            "SQLite library": sqlite3.sqlite_version,
            "pgloader": "skipped" if options.skip_pgloader else version_of(["pgloader", "--version"]),
            "apache-airflow": "skipped" if options.skip_dag else _package_version("apache-airflow"),
        },
        load_average_start=load_average(),
    )
