"""The benchmark's options, from its command line."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from measure import PROJECT_ROOT

from sqlite_to_postgres.connections import LOCAL_SERVER_DSN


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


def parse_options(argv: Sequence[str], description: str) -> tuple[Options, Path]:
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
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
