"""Benchmark of the migration against its floors and pgloader: seconds, rows/s and peak RSS per scale.

    python bench/run.py [--scales 1 10 100] [--repeat 3] [--skip-dag] [--skip-pgloader]
                        [--out docs/BENCHMARKS.md] [--workdir /tmp/bench] [--dsn SERVER_DSN]

For each scale the project's generator writes ``WORKDIR/scale-S.sqlite`` (reused when present),
then every repeat measures, each into a fresh database ``bench_*`` dropped afterwards:

- floor A: the rows exported to CSV (timed apart), loaded with ``psql \\copy`` into the target DDL;
- floor B: the same CSV into bare tables, then the keys and indexes of the DDL added afterwards;
- pgloader: the SQLite file as pgloader loads it by default (its own schema and types);
- ours: ``python -m sqlite_to_postgres migrate``; then the same command again (re-run on
  unchanged data) and ``check``, both on that same database;
- the DAG: ``airflow dags test movies_migration`` (scales up to ``--dag-max-scale`` only).

Every measured command runs as a child of ``/usr/bin/time``, which gives the largest single
process's peak RSS and the tree's CPU time; the harness also samples the RSS of the whole
process tree from /proc and reports the larger of the two. Seconds are the median of the
repeats, peak RSS the largest. Results go to ``--out`` between the markers below (the rest of
that file is kept as it is) and to stdout; ``docs/bench.png`` too when matplotlib is installed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
import shlex
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from importlib import metadata
from pathlib import Path

import psycopg2
from psycopg2 import sql

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from sqlite_to_postgres.connections import LOCAL_SERVER_DSN, with_database  # noqa: E402
from sqlite_to_postgres.tables import TABLES, TableSpec  # noqa: E402

TARGET_DDL = PROJECT_ROOT / "sqlite_to_postgres" / "ddl" / "movies_database.ddl"
BEGIN_MARKER = "<!-- bench/run.py: begin (generated; edits between these markers are overwritten) -->"
END_MARKER = "<!-- bench/run.py: end -->"
# NULL is written as an unquoted \N so that it stays apart from the empty string, which CSV cannot
# otherwise tell from NULL in Python's csv module; COPY is told the same with NULL '\N'.
CSV_NULL = r"\N"
POLL_SECONDS = 0.1
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# Measurement names, in the order of the tables.
FLOOR_A, FLOOR_B, PGLOADER, OURS, RERUN, CHECK, DAG = (
    "floor A: psql \\copy into the DDL",
    "floor B: \\copy into bare tables, keys after",
    "pgloader",
    "ours: migrate",
    "ours: re-run, unchanged data",
    "ours: check",
    "DAG: airflow dags test",
)


@dataclass(slots=True)
class ProcessRun:
    """One measured command: wall seconds, peak RSS of its tree, CPU seconds and its output.

    ``part_seconds`` is the part of ``seconds`` a measurement singles out: the keys of floor B,
    the library's own total for ours (the rest is start-up), the DagRun's run_duration.
    """

    seconds: float
    peak_rss_kib: int
    cpu_seconds: float
    server_cpu_seconds: float
    returncode: int
    output: str
    part_seconds: float | None = None


@dataclass(slots=True)
class Measurement:
    """All repeats of one thing measured at one scale."""

    name: str
    rows: int
    seconds: list[float] = field(default_factory=list)
    peak_rss_kib: list[int] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    server_cpu_seconds: list[float] = field(default_factory=list)
    part_seconds: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def add(self, run: ProcessRun) -> None:
        self.seconds.append(run.seconds)
        self.peak_rss_kib.append(run.peak_rss_kib)
        self.cpu_seconds.append(run.cpu_seconds)
        self.server_cpu_seconds.append(run.server_cpu_seconds)
        if run.part_seconds is not None:
            self.part_seconds.append(run.part_seconds)

    @property
    def median_seconds(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None

    @property
    def rows_per_second(self) -> float | None:
        seconds = self.median_seconds
        return self.rows / seconds if seconds else None

    @property
    def peak_rss_mib(self) -> float | None:
        return max(self.peak_rss_kib) / 1024 if self.peak_rss_kib else None


@dataclass(slots=True)
class ScaleResult:
    scale: int
    rows: int
    load_average: str
    export_seconds: list[float] = field(default_factory=list)
    measurements: dict[str, Measurement] = field(default_factory=dict)
    pgloader_schema: str = ""

    def measurement(self, name: str) -> Measurement:
        return self.measurements.setdefault(name, Measurement(name, self.rows))

    def seconds(self, name: str) -> float | None:
        found = self.measurements.get(name)
        return found.median_seconds if found else None

    def ratio(self, numerator: str, denominator: str) -> float | None:
        top, bottom = self.seconds(numerator), self.seconds(denominator)
        return top / bottom if top and bottom else None


@dataclass(slots=True)
class Environment:
    """Where and with what the numbers were taken."""

    date: str
    command: str
    machine: dict[str, str]
    versions: dict[str, str]
    load_average_start: str
    load_average_end: str = ""
    revision_end: str = ""


# ---------------------------------------------------------------- running and measuring a command


@dataclass(slots=True, frozen=True)
class ProcStat:
    pid: int
    ppid: int
    command: str
    cpu_ticks: int


def _processes() -> dict[int, ProcStat]:
    """Every process from /proc: parent, command name and CPU ticks used (user + system)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # the process ended while we looked
        head, _, tail = text.rpartition(")")
        fields = tail.split()
        pid = int(head.split(" ", 1)[0])
        found[pid] = ProcStat(pid, int(fields[1]), head.split("(", 1)[1], int(fields[11]) + int(fields[12]))
    return found


def _descendants(processes: dict[int, ProcStat], root_pid: int) -> list[int]:
    """Every process below ``root_pid`` (not root_pid itself: that is /usr/bin/time)."""
    children: dict[int, list[int]] = {}
    for process in processes.values():
        children.setdefault(process.ppid, []).append(process.pid)
    found, pending = [], list(children.get(root_pid, []))
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, []))
    return found


def _tree_rss_kib(processes: dict[int, ProcStat], root_pid: int) -> int:
    """Resident memory of every descendant of ``root_pid``."""
    total = 0
    for pid in _descendants(processes, root_pid):
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KIB
        except (OSError, IndexError):
            continue
    return total


def _backend_cpu_ticks(processes: dict[int, ProcStat], database: str) -> dict[int, int]:
    """CPU ticks of the PostgreSQL processes working on ``database``, told by their process title."""
    ticks = {}
    for process in processes.values():
        if process.command != "postgres":
            continue
        try:
            title = Path(f"/proc/{process.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if f" {database} " in title:
            ticks[process.pid] = process.cpu_ticks
    return ticks


def run_measured(argv: Sequence[str], dsn: str, env: dict[str, str] | None = None) -> ProcessRun:
    """Run ``argv`` under /usr/bin/time, sampling its tree's RSS and the server's CPU for ``dsn``'s database.

    Never raises on a failed command: the caller decides from ``returncode``.
    """
    database = psycopg2.extensions.parse_dsn(dsn)["dbname"]
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report, tempfile.TemporaryFile("w+") as output:
        started = time.perf_counter()
        process = subprocess.Popen(
            ["/usr/bin/time", "-f", "%M %U %S", "-o", report.name, *argv],
            cwd=PROJECT_ROOT,
            env={**os.environ, **(env or {})},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so that an interrupted benchmark can end the whole tree
        )
        tree_peak_kib = 0
        backend_ticks: dict[int, int] = {}  # the last sample of each backend: a backend ends between samples
        # The last sample of each process of the tree: /usr/bin/time counts only the children it reaps,
        # not grandchildren such as worker processes forked by a fork server.
        tree_ticks: dict[int, int] = {}
        try:
            while process.poll() is None:
                processes = _processes()
                tree_peak_kib = max(tree_peak_kib, _tree_rss_kib(processes, process.pid))
                backend_ticks.update(_backend_cpu_ticks(processes, database))
                tree_ticks.update(
                    {pid: processes[pid].cpu_ticks for pid in _descendants(processes, process.pid)}
                )
                time.sleep(POLL_SECONDS)
        except BaseException:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait()
            raise
        seconds = time.perf_counter() - started
        output.seek(0)
        max_rss, user, system = (report.read().strip().splitlines() or ["0 0 0"])[-1].split()[-3:]
        return ProcessRun(
            seconds=seconds,
            peak_rss_kib=max(int(max_rss), tree_peak_kib),
            cpu_seconds=max(float(user) + float(system), sum(tree_ticks.values()) / CLOCK_TICKS),
            server_cpu_seconds=sum(backend_ticks.values()) / CLOCK_TICKS,
            returncode=process.returncode,
            output=output.read(),
        )


def _require_success(run: ProcessRun, what: str) -> ProcessRun:
    if run.returncode != 0:
        last = run.output.strip().splitlines()[-1:] or ["no output"]
        raise BenchError(f"{what} exited with status {run.returncode}: {last[0].strip()}")
    return run


class BenchError(RuntimeError):
    """A measured command failed; recorded in the results, the benchmark goes on."""


# ---------------------------------------------------------------- catalogs, databases, CSV


def generate_catalog(workdir: Path, scale: int) -> Path:
    path = workdir / f"scale-{scale}.sqlite"
    if not path.exists():
        _log(f"generating scale {scale} into {path}")
        subprocess.run(
            [sys.executable, "-m", "sqlite_to_postgres", "generate", "--out", str(path), "--scale", str(scale)],
            cwd=PROJECT_ROOT, check=True, stdout=subprocess.DEVNULL,
        )
    return path


def count_source_rows(sqlite_path: Path) -> int:
    with sqlite3.connect(f"{sqlite_path.resolve().as_uri()}?mode=ro", uri=True) as source:
        return sum(source.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in TABLES)


@contextmanager
def fresh_database(server_dsn: str, label: str) -> Iterator[str]:
    """A new empty database ``bench_<label>_<random>``, dropped (WITH FORCE) on the way out."""
    name = f"bench_{label}_{uuid.uuid4().hex[:6]}"
    admin = psycopg2.connect(with_database(server_dsn, "postgres"))
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        yield with_database(server_dsn, name)
    finally:  # also when interrupted during CREATE DATABASE, hence IF EXISTS
        with admin.cursor() as cursor:
            cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()


def export_csv(sqlite_path: Path, csv_dir: Path) -> float:
    """Write each table's rows, as the target columns hold them, to ``csv_dir/<table>.csv``; seconds taken.

    The source text already is what PostgreSQL reads for each target type (UUIDs, ISO dates,
    timestamps with offsets), so the export only renames (created_at -> created, ...) and drops
    the unmapped file_path, which the column lists of ``tables.py`` do by themselves.
    """
    csv_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with sqlite3.connect(f"{sqlite_path.resolve().as_uri()}?mode=ro", uri=True) as source:
        for spec in TABLES.values():
            columns = ", ".join(f'"{column}"' for column in spec.source_columns)
            with (csv_dir / f"{spec.name}.csv").open("w", newline="", encoding="utf-8") as out:
                writer = csv.writer(out)
                for row in source.execute(f'SELECT {columns} FROM "{spec.name}"'):
                    writer.writerow([CSV_NULL if value is None else value for value in row])
    return time.perf_counter() - started


def _copy_command(spec: TableSpec, csv_dir: Path) -> str:
    columns = ", ".join(spec.target_columns)
    return (f"\\copy {spec.target_schema}.{spec.name} ({columns}) FROM '{csv_dir / spec.name}.csv' "
            f"WITH (FORMAT csv, NULL '{CSV_NULL}')")


def _copy_all(csv_dir: Path, dsn: str) -> list[str]:
    """One psql loading every table's CSV, parents first."""
    return _psql(dsn, *(_copy_command(spec, csv_dir) for spec in TABLES.values()))


def _psql(dsn: str, *commands: str) -> list[str]:
    argv = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn]
    for command in commands:
        argv += ["-c", command]
    return argv


def apply_target_ddl(dsn: str) -> None:
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f", str(TARGET_DDL)],
                   check=True, stdout=subprocess.DEVNULL)


def strip_keys(dsn: str) -> list[str]:
    """Drop the DDL's keys, unique constraints and indexes; the statements that put them back, in order."""
    with psycopg2.connect(dsn) as connection, connection.cursor() as cursor:
        cursor.execute("""
            SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid)
            FROM pg_constraint
            WHERE connamespace = 'content'::regnamespace AND contype IN ('p', 'u', 'f')""")
        constraints = cursor.fetchall()
        cursor.execute("""
            SELECT indexname, indexdef FROM pg_indexes
            WHERE schemaname = 'content'
              AND indexname NOT IN (SELECT conname FROM pg_constraint
                                    WHERE connamespace = 'content'::regnamespace)""")
        indexes = cursor.fetchall()
        for table, name, _, _ in sorted(constraints, key=lambda found: found[2] != "f"):  # FKs first
            cursor.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                sql.SQL(table), sql.Identifier(name)))
        for name, _ in indexes:
            cursor.execute(sql.SQL("DROP INDEX content.{}").format(sql.Identifier(name)))
        add = {kind: [sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                   sql.SQL(table), sql.Identifier(name), sql.SQL(definition)).as_string(connection)
                   for table, name, contype, definition in constraints if contype == kind]
               for kind in "puf"}
    # Keys and unique constraints, then plain indexes, then foreign keys (which need the parents' keys).
    return [*add["p"], *add["u"], *(definition for _, definition in indexes), *add["f"]]


def count_target_rows(dsn: str, schema: str) -> int:
    with psycopg2.connect(dsn) as connection, connection.cursor() as cursor:
        total = 0
        for name in TABLES:
            cursor.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(name)))
            total += cursor.fetchone()[0]
    return total


def _require_rows(dsn: str, schema: str, expected: int, what: str) -> None:
    found = count_target_rows(dsn, schema)
    if found != expected:
        raise BenchError(f"{what} left {found:,} rows in {schema}, the source has {expected:,}")


# ---------------------------------------------------------------- one function per measurement


def measure_floor_a(csv_dir: Path, dsn: str, rows: int) -> ProcessRun:
    apply_target_ddl(dsn)
    run = _require_success(run_measured(_copy_all(csv_dir, dsn), dsn), "psql \\copy")
    _require_rows(dsn, "content", rows, "floor A")
    return run


def measure_floor_b(csv_dir: Path, dsn: str, rows: int) -> ProcessRun:
    """Load into bare tables, then add the keys: both psql runs as one, the keys as its part."""
    apply_target_ddl(dsn)
    add_keys = strip_keys(dsn)
    load = _require_success(run_measured(_copy_all(csv_dir, dsn), dsn), "psql \\copy")
    keys = _require_success(run_measured(_psql(dsn, *add_keys), dsn), "psql adding the keys")
    _require_rows(dsn, "content", rows, "floor B")
    return ProcessRun(
        seconds=load.seconds + keys.seconds,
        peak_rss_kib=max(load.peak_rss_kib, keys.peak_rss_kib),
        cpu_seconds=load.cpu_seconds + keys.cpu_seconds,
        server_cpu_seconds=load.server_cpu_seconds + keys.server_cpu_seconds,
        returncode=0,
        output=load.output + keys.output,
        part_seconds=keys.seconds,
    )


def measure_pgloader(sqlite_path: Path, dsn: str, rows: int) -> ProcessRun:
    run = _require_success(run_measured(["pgloader", str(sqlite_path), _as_uri(dsn)], dsn), "pgloader")
    _require_rows(dsn, "public", rows, "pgloader")
    return run


def _as_uri(dsn: str) -> str:
    params = psycopg2.extensions.parse_dsn(dsn)
    user = params.get("user", "postgres")
    password = f":{params['password']}" if params.get("password") else ""
    return (f"postgresql://{user}{password}@{params.get('host', 'localhost')}:{params.get('port', 5432)}"
            f"/{params['dbname']}")


def pgloader_types(dsn: str) -> str:
    """What pgloader made of the source: schema, column types, keys; for the notes."""
    with psycopg2.connect(dsn) as connection, connection.cursor() as cursor:
        cursor.execute("""
            SELECT table_schema, column_name, data_type, is_nullable FROM information_schema.columns
            WHERE table_name = 'film_work' AND table_schema NOT IN ('pg_catalog', 'information_schema')
            ORDER BY ordinal_position""")
        columns = cursor.fetchall()
        cursor.execute("SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace")
        foreign_keys = cursor.fetchone()[0]
    schema = columns[0][0] if columns else "?"
    described = ", ".join(f"{name} {kind}{'' if nullable == 'YES' else ' not null'}"
                          for _, name, kind, nullable in columns)
    return (f"pgloader (default options) created schema `{schema}` with the source's own names and "
            f"{foreign_keys} foreign keys; film_work: {described}.")


def _cli(command: str, sqlite_path: Path, dsn: str) -> list[str]:
    return [sys.executable, "-m", "sqlite_to_postgres", command, "--sqlite", str(sqlite_path), "--dsn", dsn]


def measure_ours(sqlite_path: Path, dsn: str, rows: int) -> ProcessRun:
    run = _require_success(run_measured(_cli("migrate", sqlite_path, dsn), dsn), "migrate")
    _require_rows(dsn, "content", rows, "migrate")
    run.part_seconds = summary_seconds(run.output)
    return run


def measure_rerun(sqlite_path: Path, dsn: str, rows: int) -> ProcessRun:
    run = _require_success(run_measured(_cli("migrate", sqlite_path, dsn), dsn), "migrate (re-run)")
    _require_rows(dsn, "content", rows, "the re-run")
    run.part_seconds = summary_seconds(run.output)
    return run


def measure_check(sqlite_path: Path, dsn: str) -> ProcessRun:
    return _require_success(run_measured(_cli("check", sqlite_path, dsn), dsn), "check")


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
    _require_rows(dsn, "content", rows, "the DAG")
    run.part_seconds = dag_run_duration(run.output)
    return run


def dag_run_duration(output: str) -> float | None:
    found = re.search(r"DagRun Finished:.*?run_duration=([\d.]+)", output)
    return float(found.group(1)) if found else None


# ---------------------------------------------------------------- the benchmark


@dataclass(slots=True)
class Options:
    scales: list[int]
    repeat: int
    skip_dag: bool
    skip_pgloader: bool
    dag_max_scale: int
    workdir: Path
    server_dsn: str
    airflow_home: Path


def _attempt(measurement: Measurement, action: Callable[[], ProcessRun]) -> ProcessRun | None:
    """Run one measurement; a failure is recorded on it and the benchmark goes on (the next repeat tries again)."""
    try:
        run = action()
    except (BenchError, subprocess.CalledProcessError, psycopg2.Error) as error:
        measurement.failures.append(str(error).strip().splitlines()[0][:300] if str(error).strip() else repr(error))
        _log(f"  {measurement.name}: FAILED: {measurement.failures[-1]}")
        return None
    measurement.add(run)
    _log(f"  {measurement.name}: {run.seconds:.2f} s, {run.peak_rss_kib / 1024:.0f} MiB")
    return run


def bench_scale(options: Options, scale: int) -> ScaleResult:
    sqlite_path = generate_catalog(options.workdir, scale)
    rows = count_source_rows(sqlite_path)
    result = ScaleResult(scale, rows, _load_average())
    csv_dir = options.workdir / f"csv-{scale}"
    label = f"s{scale}"
    for attempt in range(1, options.repeat + 1):
        _log(f"scale {scale} ({rows:,} rows), run {attempt}/{options.repeat}, load average {_load_average()}")
        result.export_seconds.append(export_csv(sqlite_path, csv_dir))
        _log(f"  export to CSV: {result.export_seconds[-1]:.2f} s")

        with fresh_database(options.server_dsn, f"{label}_floor_a") as dsn:
            _attempt(result.measurement(FLOOR_A), partial(measure_floor_a, csv_dir, dsn, rows))

        with fresh_database(options.server_dsn, f"{label}_floor_b") as dsn:
            _attempt(result.measurement(FLOOR_B), partial(measure_floor_b, csv_dir, dsn, rows))

        if not options.skip_pgloader:
            with fresh_database(options.server_dsn, f"{label}_pgloader") as dsn:
                loaded = _attempt(result.measurement(PGLOADER), partial(measure_pgloader, sqlite_path, dsn, rows))
                if loaded and not result.pgloader_schema:
                    result.pgloader_schema = pgloader_types(dsn)

        with fresh_database(options.server_dsn, f"{label}_ours") as dsn:
            if _attempt(result.measurement(OURS), partial(measure_ours, sqlite_path, dsn, rows)):
                _attempt(result.measurement(RERUN), partial(measure_rerun, sqlite_path, dsn, rows))
                _attempt(result.measurement(CHECK), partial(measure_check, sqlite_path, dsn))
            else:
                for name in (RERUN, CHECK):
                    result.measurement(name).failures.append("not run: the first run failed")

        if not options.skip_dag and scale <= options.dag_max_scale:
            with fresh_database(options.server_dsn, f"{label}_dag") as dsn:
                _attempt(result.measurement(DAG),
                         partial(measure_dag, sqlite_path, dsn, rows, options.airflow_home))
    return result


def prepare_airflow(options: Options) -> None:
    """Create the benchmark's own Airflow metadata database once, outside any timing."""
    with fresh_database(options.server_dsn, "airflow_warmup") as dsn:
        env = airflow_env(generate_catalog(options.workdir, min(options.scales)), dsn, options.airflow_home)
        subprocess.run(["scripts/airflow-env.sh", "true"], cwd=PROJECT_ROOT, env={**os.environ, **env},
                       check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# ---------------------------------------------------------------- environment


def _load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _proc_field(path: str, name: str) -> str:
    for line in Path(path).read_text().splitlines():
        if line.startswith(name):
            return line.split(":", 1)[1].strip()
    return "?"


def _version_of(argv: Sequence[str]) -> str:
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


def _project_revision() -> str:
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
            "project": _project_revision(),
            "Python": platform.python_version(),
            "PostgreSQL server": server_version,
            "psql": _version_of(["psql", "--version"]),
            "psycopg2": psycopg2.__version__.split()[0],
            "SQLite library": sqlite3.sqlite_version,
            "pgloader": "skipped" if options.skip_pgloader else _version_of(["pgloader", "--version"]),
            "apache-airflow": "skipped" if options.skip_dag else _package_version("apache-airflow"),
        },
        load_average_start=_load_average(),
    )


# ---------------------------------------------------------------- reporting


def _num(value: float | None, digits: int = 2, suffix: str = "") -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}{suffix}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(":---" if a == "l" else "---:" for a in align) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def scale_table(result: ScaleResult) -> list[str]:
    rows = [["CSV export (not in the floors)", _num(statistics.median(result.export_seconds)),
             " ".join(f"{s:.2f}" for s in result.export_seconds),
             _num(result.rows / statistics.median(result.export_seconds), 0), "—", "—", "—", "harness, in-process"]]
    for measurement in result.measurements.values():
        if not measurement.seconds:
            rows.append([measurement.name, "failed", "", "", "", "", "", _detail(measurement)])
            continue
        rows.append([
            measurement.name,
            _num(measurement.median_seconds),
            " ".join(f"{s:.2f}" for s in measurement.seconds),
            _num(measurement.rows_per_second, 0),
            _num(measurement.peak_rss_mib, 0),
            _num(statistics.median(measurement.cpu_seconds)),
            _num(statistics.median(measurement.server_cpu_seconds)),
            _detail(measurement),
        ])
    return [f"### Scale {result.scale}: {result.rows:,} source rows (load average at start {result.load_average})",
            "", *_table(["measurement", "median s", "runs s", "rows/s", "peak RSS MiB", "client CPU s",
                         "server CPU s", "detail"], rows, "lrrrrrrl")]


def _detail(measurement: Measurement) -> str:
    if measurement.failures:
        runs = len(measurement.seconds) + len(measurement.failures)
        first = measurement.failures[0].replace("|", "/")
        return f"**{len(measurement.failures)} of {runs} runs failed**: {first}"
    median = statistics.median(measurement.part_seconds) if measurement.part_seconds else None
    if measurement.name == FLOOR_B and median is not None:
        return f"adding the keys: {median:.2f} s"
    if measurement.name in (OURS, RERUN) and median is not None:
        return f"library's own total: {median:.2f} s (the rest is start-up)"
    if measurement.name == DAG and median is not None:
        return f"DagRun run_duration: {median:.2f} s"
    if measurement.name in (FLOOR_A, PGLOADER):
        return "client RSS only; the server's work is not in it"
    return ""


def _seconds_cell(result: ScaleResult, name: str) -> str:
    found = result.measurements.get(name)
    if found is None:
        return "—"
    if found.failures:
        return f"{_num(found.median_seconds)} ({len(found.failures)} failed)"
    return _num(found.median_seconds)


def summary_table(results: Sequence[ScaleResult]) -> list[str]:
    rows = []
    for result in results:
        ours = result.measurements.get(OURS)
        rows.append([
            str(result.scale), f"{result.rows:,}",
            *(_seconds_cell(result, name) for name in (FLOOR_A, FLOOR_B, PGLOADER, OURS, RERUN, CHECK, DAG)),
            _num(ours.rows_per_second if ours else None, 0),
            _num(ours.peak_rss_mib if ours else None, 0),
            _num(result.ratio(OURS, FLOOR_A), 2, "x"),
            _num(result.ratio(OURS, FLOOR_B), 2, "x"),
            _num(result.ratio(OURS, PGLOADER), 2, "x"),
            _num(result.ratio(OURS, RERUN), 2, "x"),
        ])
    header = ["scale", "rows", "floor A s", "floor B s", "pgloader s", "ours s", "re-run s", "check s", "DAG s",
              "ours rows/s", "ours RSS MiB", "ours/floor A", "ours/floor B", "ours/pgloader", "re-run speedup"]
    return _table(header, rows, "r" * len(header))


def acceptance_lines(results: Sequence[ScaleResult]) -> list[str]:
    """Issue 6's targets, checked against this run (informative: the run may be on a loaded machine)."""
    by_scale = {result.scale: result for result in results}
    target = by_scale.get(100) or results[-1]
    smallest = by_scale.get(1) or results[0]

    def verdict(ok: bool | None) -> str:
        return "—" if ok is None else ("yes" if ok else "**no**")

    def at_most(value: float | None, limit: float) -> bool | None:
        return None if value is None else value <= limit

    def ours_rss(result: ScaleResult) -> float | None:
        return result.measurements[OURS].peak_rss_mib if OURS in result.measurements else None

    def rss_growth(small: ScaleResult) -> float | None:
        top, bottom = ours_rss(target), ours_rss(small)
        return top / bottom if top and bottom else None

    speedup = target.ratio(OURS, RERUN)
    rows = [
        ["ours within 1.5x of floor A", _num(target.ratio(OURS, FLOOR_A), 2, "x"),
         verdict(at_most(target.ratio(OURS, FLOOR_A), 1.5))],
        ["ours faster than pgloader", _num(target.ratio(OURS, PGLOADER), 2, "x"),
         verdict(at_most(target.ratio(OURS, PGLOADER), 1.0))],
        ["ours within 2x of floor B (aim)", _num(target.ratio(OURS, FLOOR_B), 2, "x"),
         verdict(at_most(target.ratio(OURS, FLOOR_B), 2.0))],
        ["peak RSS under 200 MB", _num(ours_rss(target), 0, " MiB"),
         verdict(at_most(ours_rss(target), 200 * 1e6 / 2**20))],
        [f"peak RSS at scale {target.scale} within 10% of scale {smallest.scale}",
         _num(rss_growth(smallest), 2, "x"), verdict(at_most(rss_growth(smallest), 1.10))],
        ["re-run at least 5x faster than the first run", _num(speedup, 2, "x"),
         verdict(None if speedup is None else speedup >= 5)],
    ]
    # At scale 1 no table fills a default batch (10,000 rows), so the growth from the first scale
    # whose batches are full tells more about memory bounded by batch size.
    full_batches = next((result for result in results if result.rows >= 10 * 13_205), None)
    if full_batches and full_batches not in (target, smallest):
        rows.append([f"(for comparison) peak RSS at scale {target.scale} over scale {full_batches.scale}",
                     _num(rss_growth(full_batches), 2, "x"), verdict(at_most(rss_growth(full_batches), 1.10))])
    return [f"Against the acceptance of issue 6, at scale {target.scale}:", "",
            *_table(["target", "measured", "met"], rows, "lrl")]


def notes(results: Sequence[ScaleResult], environment: Environment) -> list[str]:
    pgloader_schema = next((result.pgloader_schema for result in results if result.pgloader_schema), "")
    start, end = environment.versions["project"], environment.revision_end
    changed = [] if start == end else [
        f"- **The project's code changed during the run** (other work landing): {start} at the start, {end} at "
        "the end. Figures of ours and the DAG mix both; rerun on a settled tree to compare."
    ]
    lines = [
        *changed,
        f"- Load average (1, 5, 15 min): {environment.load_average_start} at the start, "
        f"{environment.load_average_end} at the end; each scale's table gives its own. Other work on the machine "
        "and on the same PostgreSQL server (test suites) shows up as noise: rerun on a quiet machine to compare.",
        "- Seconds: wall time of the measured command, process start-up included, median of the repeats "
        "(all runs listed). rows/s: the source's total rows over that median, for every line, so lines compare "
        "directly. Each run loads into a fresh database; the re-run and the check use the database of that "
        "repeat's first run. Ratios are our first run's median seconds over theirs (below 1: ours is faster); "
        "the re-run speedup is the first run's seconds over the re-run's.",
        "- Memory bounded by batch size: ours runs one process plus, for every table of more than one batch, "
        "a fork server and one worker process per core that parse rows; at most workers + 1 batches of the "
        "default 2,000 rows are in flight, whatever the table's size. The peak RSS of ours is the sum over "
        "all of them.",
        "- Peak RSS: the larger of /usr/bin/time's maximum resident set (the largest single process) and the "
        f"sum over the process tree sampled every {POLL_SECONDS} s from /proc; the largest over the repeats. "
        "For psql and pgloader it is the client only: PostgreSQL's backends do the parsing, index and key work "
        "and are not counted, for ours either. Client CPU s: user + system seconds of the measured tree "
        "(median): the larger of /usr/bin/time's (the processes it reaps) and the sum of the last /proc sample "
        "of every process in the tree (which also sees worker processes forked by a fork server). Server CPU s: user + system seconds of the PostgreSQL processes whose title names the "
        f"run's database (its backends, and autovacuum on it), sampled every {POLL_SECONDS} s, so a backend "
        "that lives less than that is missed; it tells whether a command waits on the client or on the server.",
        "- Floors: the CSV holds the target's columns and values (ids, created_at -> created, ...; no file_path), "
        f"NULL written as `{CSV_NULL}` so it stays apart from the empty string; loaded with one psql running "
        "`\\copy content.<table> (...) FROM file WITH (FORMAT csv, NULL '\\N')` per table in foreign-key order. "
        "Floor A: into the DDL's tables with keys, unique constraints, index and foreign keys in place. Floor B: "
        "into the same tables stripped of them, then one more psql adds them back (ALTER TABLE ... ADD PRIMARY "
        "KEY / UNIQUE, CREATE INDEX, ADD FOREIGN KEY); its time is both. Exporting the CSV is timed apart "
        "(first line of each scale) and is in neither floor.",
        "- pgloader: `pgloader <file.sqlite> postgresql://...` with its defaults into a fresh database. "
        + pgloader_schema
        + " It keeps ids as text, not uuid, keeps file_path, and declares no foreign keys (the source has "
        "none), so it does less than ours and floor A: no uuid parsing, no key checks.",
        "- Ours: `python -m sqlite_to_postgres migrate --sqlite FILE --dsn DSN`, doing what the library does "
        "at the measured revision (DDL, checkpoints and rejects included), the same command again on unchanged "
        "data, and `check` (the full row-by-row comparison). The detail column gives the library's own total "
        "from its summary; the difference is Python start-up and imports.",
        "- DAG: `scripts/airflow-env.sh airflow dags test movies_migration` with SQLITE_PATH and MOVIES_PG_DSN "
        "set to the scale's file and a fresh database, Airflow metadata in its own MOVIES_AIRFLOW_HOME (made "
        "once before timing). Wall time includes Airflow's start-up and DAG parsing; run_duration is the "
        "DagRun's own, including its consistency check.",
    ]
    return lines


def render_report(results: Sequence[ScaleResult], environment: Environment, plot: Path | None) -> str:
    lines = [
        BEGIN_MARKER,
        "## Migration: ours against the floors and pgloader",
        "",
        f"Produced by `{environment.command}` on {environment.date}.",
        "",
        "Machine: " + ", ".join(f"{key} {value}" for key, value in environment.machine.items()) + ".",
        "",
        "Versions: " + ", ".join(f"{key} {value}" for key, value in environment.versions.items()) + ".",
        "",
        "### Summary (median seconds)",
        "",
        *summary_table(results),
        "",
        *acceptance_lines(results),
        "",
    ]
    if plot:
        lines += [f"![rows/s and peak RSS against scale]({plot.name})", ""]
    for result in results:
        lines += [*scale_table(result), ""]
    lines += ["### Notes", "", *notes(results, environment), END_MARKER]
    return "\n".join(lines) + "\n"


def write_report(out: Path, section: str) -> None:
    """Replace this script's section of ``out`` (between the markers), keeping everything else in the file."""
    out.parent.mkdir(parents=True, exist_ok=True)
    existing = out.read_text() if out.exists() else "# Benchmarks\n"
    if BEGIN_MARKER in existing and END_MARKER in existing:
        before, rest = existing.split(BEGIN_MARKER, 1)
        after = rest.split(END_MARKER, 1)[1].lstrip("\n")
        text = before + section + ("\n" + after if after else "")
    elif existing.startswith("# "):  # after the title, before what others wrote
        title, _, body = existing.partition("\n")
        text = f"{title}\n\n{section}" + (f"\n{body.lstrip()}" if body.strip() else "")
    else:
        text = f"# Benchmarks\n\n{section}\n{existing}"
    out.write_text(text)


def write_plot(results: Sequence[ScaleResult], path: Path) -> Path | None:
    """rows/s and peak RSS against scale, when matplotlib is installed; None otherwise."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        _log("matplotlib is not installed: no plot (pip install matplotlib)")
        return None
    figure, (speed, memory) = plt.subplots(1, 2, figsize=(12, 4.5))
    names = [name for name in (FLOOR_A, FLOOR_B, PGLOADER, OURS, RERUN, CHECK, DAG)
             if any(name in result.measurements for result in results)]
    for name in names:
        points = [(result.scale, result.measurements[name]) for result in results if name in result.measurements]
        points = [(scale, found) for scale, found in points if found.median_seconds]
        if points:
            speed.plot([s for s, _ in points], [f.rows_per_second for _, f in points], marker="o", label=name)
            memory.plot([s for s, _ in points], [f.peak_rss_mib for _, f in points], marker="o", label=name)
    for axes, label in ((speed, "rows/s"), (memory, "peak RSS of the client, MiB")):
        axes.set_xscale("log")
        axes.set_xlabel("scale (x 13,205 rows)")
        axes.set_ylabel(label)
        axes.grid(True, which="both", alpha=0.3)
    memory.set_yscale("log")
    speed.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_options(argv: Sequence[str]) -> tuple[Options, Path]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10, 100], help="default: %(default)s")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (default: %(default)s)")
    parser.add_argument("--skip-dag", action="store_true", help="do not run the Airflow DAG")
    parser.add_argument("--skip-pgloader", action="store_true", help="do not run pgloader")
    parser.add_argument("--dag-max-scale", type=int, default=10, help="largest scale for the DAG (default: 10)")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs" / "BENCHMARKS.md",
                        help="report file (default: docs/BENCHMARKS.md)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench"),
                        help="catalogs, CSV files and Airflow metadata (default: %(default)s)")
    parser.add_argument("--dsn", default=LOCAL_SERVER_DSN, help="server to create the bench_* databases on")
    args = parser.parse_args(argv)
    if args.repeat < 1 or min(args.scales) < 1:
        parser.error("--repeat and --scales must be at least 1")
    return Options(sorted(set(args.scales)), args.repeat, args.skip_dag, args.skip_pgloader, args.dag_max_scale,
                   args.workdir.resolve(), args.dsn, args.workdir.resolve() / "airflow-home"), args.out


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # SIGTERM (and SIGINT, even when started in the background) unwinds like Ctrl-C: the bench_*
    # databases are dropped and the measured command is ended.
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGINT, _interrupted)
    options, out = parse_options(argv)
    options.workdir.mkdir(parents=True, exist_ok=True)
    if not options.skip_pgloader and _version_of(["pgloader", "--version"]) == "not installed":
        _log("pgloader is not installed (apt-get install -y pgloader): skipping it")
        options.skip_pgloader = True
    environment = describe_environment(options, argv)
    if not options.skip_dag:
        prepare_airflow(options)
    results = [bench_scale(options, scale) for scale in options.scales]
    environment.load_average_end = _load_average()
    environment.revision_end = _project_revision()
    raw = options.workdir / "results.json"
    raw.write_text(json.dumps({"environment": asdict(environment), "results": [asdict(r) for r in results]}, indent=1))
    _log(f"raw results in {raw}")
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        plot = write_plot(results, out.parent / "bench.png")
    except Exception as error:  # a plot is a nicety; it must never cost the report
        _log(f"no plot: {error}")
        plot = None
    section = render_report(results, environment, plot)
    write_report(out, section)
    print(section)
    _log(f"wrote {out}" + (f" and {plot}" if plot else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
