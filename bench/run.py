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

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from functools import partial
from pathlib import Path

import psycopg2

# The harness's modules sit beside this script; the library is imported from the project root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from databases import count_source_rows, export_csv, fresh_database, generate_catalog
from environment import describe_environment, load_average, project_revision, version_of
from floors import measure_floor_a, measure_floor_b
from measure import PROJECT_ROOT, BenchError
from options import Options, parse_options
from ours import airflow_env, measure_check, measure_dag, measure_ours, measure_rerun
from pgloader import measure_pgloader, pgloader_types
from report import render_report, write_plot, write_report
from results import (
    CHECK,
    DAG,
    FLOOR_A,
    FLOOR_B,
    OURS,
    PGLOADER,
    RERUN,
    Measurement,
    ProcessRun,
    ScaleResult,
    log,
)


def _attempt(measurement: Measurement, action: Callable[[], ProcessRun]) -> ProcessRun | None:
    """Run one measurement; a failure is recorded on it and the benchmark goes on (the next repeat tries again)."""
    try:
        run = action()
    except (BenchError, subprocess.CalledProcessError, psycopg2.Error) as error:
        measurement.failures.append(str(error).strip().splitlines()[0][:300] if str(error).strip() else repr(error))
        log(f"  {measurement.name}: FAILED: {measurement.failures[-1]}")
        return None
    measurement.add(run)
    log(f"  {measurement.name}: {run.seconds:.2f} s, {run.peak_rss_kib / 1024:.0f} MiB")
    return run


def bench_scale(options: Options, scale: int) -> ScaleResult:
    sqlite_path = generate_catalog(options.workdir, scale)
    rows = count_source_rows(sqlite_path)
    result = ScaleResult(scale, rows, load_average())
    csv_dir = options.workdir / f"csv-{scale}"
    label = f"s{scale}"
    for attempt in range(1, options.repeat + 1):
        log(f"scale {scale} ({rows:,} rows), run {attempt}/{options.repeat}, load average {load_average()}")
        result.export_seconds.append(export_csv(sqlite_path, csv_dir))
        log(f"  export to CSV: {result.export_seconds[-1]:.2f} s")

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


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # SIGTERM (and SIGINT, even when started in the background) unwinds like Ctrl-C: the bench_*
    # databases are dropped and the measured command is ended.
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGINT, _interrupted)
    options, out = parse_options(argv, __doc__ or "")
    options.workdir.mkdir(parents=True, exist_ok=True)
    if not options.skip_pgloader and version_of(["pgloader", "--version"]) == "not installed":
        log("pgloader is not installed (apt-get install -y pgloader): skipping it")
        options.skip_pgloader = True
    environment = describe_environment(options, argv)
    if not options.skip_dag:
        prepare_airflow(options)
    results = [bench_scale(options, scale) for scale in options.scales]
    environment.load_average_end = load_average()
    environment.revision_end = project_revision()
    raw = options.workdir / "results.json"
    raw.write_text(json.dumps({"environment": asdict(environment), "results": [asdict(r) for r in results]}, indent=1))
    log(f"raw results in {raw}")
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        plot = write_plot(results, out.parent / "bench.png")
    except Exception as error:  # a plot is a nicety; it must never cost the report
        log(f"no plot: {error}")
        plot = None
    section = render_report(results, environment, plot)
    write_report(out, section)
    print(section)
    log(f"wrote {out}" + (f" and {plot}" if plot else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
