"""Benchmark of the consistency check: wall seconds and peak memory at scale 1 and 100, full and fast.

    .venv/bin/python bench/bench_check.py [--scales 1 100] [--workdir /tmp/bench_check] [--keep]

For each scale: generate a catalog into the work directory (reused when it is already there),
migrate it into a fresh database of its own (both through the CLI, in child processes), then
run the check in a child process per mode and batch size. The child reports its own peak
RSS, VmHWM from /proc/self/status: getrusage's ru_maxrss survives execve, so a child would
inherit its parent's peak, and the parent's RUSAGE_CHILDREN gives the largest child so far,
not the one just measured. Prints a markdown table; the acceptance is the 100x peak within
20% of the 1x peak.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import psycopg2
from psycopg2 import sql

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from sqlite_to_postgres.connections import LOCAL_SERVER_DSN, with_database  # noqa: E402


def run_check(sqlite_path: str, dsn: str, fast: bool, batch_size: int) -> None:
    """The measured child: one check, then its own timings and peak RSS as one JSON line."""
    from sqlite_to_postgres.connections import open_source, open_target
    from sqlite_to_postgres.verify import check_consistency

    with open_source(sqlite_path) as source, open_target(dsn) as target:
        # RSS once everything is imported and connected: what the check itself adds comes after.
        baseline_kib = _memory_kib("VmRSS")
        started = time.perf_counter()
        report = check_consistency(source, target, fast=fast, batch_size=batch_size)
        seconds = time.perf_counter() - started
    peak_kib = _memory_kib("VmHWM")
    rows = sum(table.source_rows for table in report.tables)
    print(json.dumps({"ok": report.ok, "rows": rows, "check_seconds": seconds,
                      "baseline_kib": baseline_kib, "peak_kib": peak_kib}))


def _memory_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _cli(*arguments: str) -> None:
    subprocess.run([sys.executable, "-m", "sqlite_to_postgres", *arguments], check=True, cwd=PROJECT_ROOT,
                   stdout=subprocess.DEVNULL)


@contextmanager
def fresh_database(server_dsn: str, label: str) -> Iterator[str]:
    name = f"bench_check_{label}_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(with_database(server_dsn, "postgres"))
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_database(server_dsn, name)
    finally:
        with admin.cursor() as cursor:
            cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()


def measure(sqlite_path: Path, dsn: str, fast: bool, batch_size: int) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", str(sqlite_path), dsn, "--batch-size", str(batch_size)]
    if fast:
        command.append("--fast")
    started = time.perf_counter()
    finished = subprocess.run(command, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - started
    result: dict[str, float] = json.loads(finished.stdout.strip().splitlines()[-1])
    if not result["ok"]:
        raise SystemExit(f"the check failed right after migrating {sqlite_path}")
    return {**result, "wall_seconds": wall}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 100])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench_check"))
    parser.add_argument("--dsn", default=LOCAL_SERVER_DSN, help="server to create the databases on")
    parser.add_argument("--child", nargs=2, metavar=("SQLITE", "DSN"), help=argparse.SUPPRESS)
    parser.add_argument("--fast", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, default=1_000, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run_check(args.child[0], args.child[1], args.fast, args.batch_size)
        return 0

    args.workdir.mkdir(parents=True, exist_ok=True)
    results = []
    for scale in args.scales:
        catalog = args.workdir / f"catalog_scale{scale}.sqlite"
        if not catalog.exists():
            print(f"generating scale {scale} into {catalog}", file=sys.stderr)
            _cli("generate", "--out", str(catalog), "--scale", str(scale))
        with fresh_database(args.dsn, f"s{scale}") as dsn:
            started = time.perf_counter()
            _cli("migrate", "--sqlite", str(catalog), "--dsn", dsn)
            print(f"scale {scale}: migrated in {time.perf_counter() - started:.1f} s", file=sys.stderr)
            for batch_size in args.batch_sizes:
                for fast in (False, True):
                    result = measure(catalog, dsn, fast, batch_size)
                    results.append((scale, batch_size, "fast" if fast else "full", result))
                    print(f"scale {scale} batch {batch_size} {'fast' if fast else 'full'}: {result}", file=sys.stderr)

    print("| scale | rows | batch size | mode | check s | wall s (process) | peak RSS MiB | RSS before check MiB |")
    print("|---:|---:|---:|---|---:|---:|---:|---:|")
    for scale, batch_size, mode, result in results:
        print(
            f"| {scale} | {int(result['rows']):,} | {batch_size:,} | {mode} | {result['check_seconds']:.2f} | "
            f"{result['wall_seconds']:.2f} | {result['peak_kib'] / 1024:.1f} | {result['baseline_kib'] / 1024:.1f} |"
        )
    by_key = {(scale, batch_size, mode): result["peak_kib"] for scale, batch_size, mode, result in results}
    low, high = min(args.scales), max(args.scales)
    if low != high:
        print()
        for batch_size in args.batch_sizes:
            for mode in ("full", "fast"):
                ratio = by_key[(high, batch_size, mode)] / by_key[(low, batch_size, mode)]
                verdict = "within" if ratio <= 1.2 else "NOT within"
                print(f"- batch {batch_size:,}, {mode}: peak RSS at {high}x is {ratio:.2f}x that at {low}x "
                      f"({verdict} 20%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
