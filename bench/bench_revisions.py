"""Two revisions of the project side by side, in alternating runs: first load, and a resumed first load.

    python bench/bench_revisions.py --base 59159d8 [--head HEAD] [--scale 100] [--repeat 3]
                                    [--workdir /tmp/bench] [--dsn SERVER_DSN] [--out docs/BENCHMARKS.md]

Each revision is checked out (``git worktree``) under WORKDIR and run from there with this venv's
Python, so both import their own ``sqlite_to_postgres`` and nothing else differs. Every repeat runs
base then head, or head then base, alternately, each into a fresh database dropped afterwards:

- first load: ``migrate`` of the whole catalog, wall seconds of the command;
- fresh table: the parents loaded, then ``migrate --tables person_film_work`` (the largest table);
- resumed table: the same load killed with SIGKILL once 70,000 rows are committed, then run again;
  the table seconds of that second run (from its summary) against the fresh table's.

Medians and the head/base ratios go to stdout and to ``--out`` between this script's markers.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg2

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT / "bench"))
sys.path.insert(0, str(PROJECT_ROOT))

from databases import fresh_database  # noqa: E402
from results import write_section  # noqa: E402

from sqlite_to_postgres.connections import LOCAL_SERVER_DSN  # noqa: E402


def markers(scale: int) -> tuple[str, str]:
    """This script's section of the results file for one scale (each scale keeps its own)."""
    return (
        f"<!-- bench/bench_revisions.py scale {scale}: begin (generated) -->",
        f"<!-- bench/bench_revisions.py scale {scale}: end -->",
    )

LARGEST = "person_film_work"
KILL_AFTER_ROWS = 70_000


def checkout(revision: str, workdir: Path) -> Path:
    """A worktree of ``revision`` under ``workdir`` (made once per commit)."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", revision], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    tree = workdir / f"rev-{commit}"
    if not tree.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), commit], cwd=PROJECT_ROOT, check=True)
    return tree


def migrate(tree: Path, sqlite_path: Path, dsn: str, *extra: str) -> tuple[float, str]:
    """Run one revision's migrate; wall seconds and its summary."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "sqlite_to_postgres", "migrate", "--sqlite", str(sqlite_path), "--dsn", dsn, *extra],
        cwd=tree,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"{tree.name}: migrate failed:\n{done.stderr[-3000:]}")
    return seconds, done.stdout


def table_seconds(summary: str, table: str) -> float:
    match = re.search(rf"^{table}\s+[\d,]+\s+[\d,]+\s+[\d,]+\s+[\d,]+\s+[\d,]+\s+[\d,]+\s+([\d.]+)", summary, re.M)
    if match is None:
        raise SystemExit(f"no summary line for {table} in:\n{summary}")
    return float(match.group(1))


def committed(dsn: str, table: str) -> int:
    try:
        with psycopg2.connect(dsn) as connection, connection.cursor() as cursor:
            cursor.execute("SELECT last_rowid FROM migration.checkpoint WHERE table_name = %s", (table,))
            row = cursor.fetchone()
    except psycopg2.Error:
        return 0
    return int(row[0]) if row else 0


def resumed_table(tree: Path, sqlite_path: Path, dsn: str) -> tuple[float, float]:
    """(fresh, resumed) table seconds of the largest table, the parents loaded first each time."""
    parents = ["--tables", "genre", "person", "film_work"]
    migrate(tree, sqlite_path, dsn, *parents)
    _, summary = migrate(tree, sqlite_path, dsn, "--tables", LARGEST)
    fresh = table_seconds(summary, LARGEST)
    with fresh_database(dsn, "resume") as other:
        migrate(tree, sqlite_path, other, *parents)
        run = subprocess.Popen(
            [sys.executable, "-m", "sqlite_to_postgres", "migrate", "--sqlite", str(sqlite_path), "--dsn", other,
             "--tables", LARGEST],
            cwd=tree,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        while committed(other, LARGEST) < KILL_AFTER_ROWS:
            if run.poll() is not None:
                raise SystemExit(f"{tree.name}: the load ended before {KILL_AFTER_ROWS} rows; nothing to resume")
            time.sleep(0.01)
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
        time.sleep(0.5)  # the killed workers and the server's backend go
        _, summary = migrate(tree, sqlite_path, other, "--tables", LARGEST)
        return fresh, table_seconds(summary, LARGEST)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True)
    parser.add_argument("--head", default="HEAD")
    parser.add_argument("--scale", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench"))
    parser.add_argument("--dsn", default=LOCAL_SERVER_DSN)
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs" / "BENCHMARKS.md")
    parser.add_argument("--skip-resume", action="store_true")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    catalog = args.workdir / f"scale-{args.scale}.sqlite"
    if not catalog.exists():
        subprocess.run(
            [sys.executable, "-m", "sqlite_to_postgres", "generate", "--out", str(catalog), "--scale", str(args.scale)],
            cwd=PROJECT_ROOT,
            check=True,
        )
    trees = {"base": checkout(args.base, args.workdir), "head": checkout(args.head, args.workdir)}
    loads: dict[str, list[float]] = {"base": [], "head": []}
    fresh: dict[str, list[float]] = {"base": [], "head": []}
    resumed: dict[str, list[float]] = {"base": [], "head": []}
    for repeat in range(args.repeat):
        order = ["base", "head"] if repeat % 2 == 0 else ["head", "base"]
        for side in order:
            with fresh_database(args.dsn, side) as dsn:
                seconds, _ = migrate(trees[side], catalog, dsn)
            loads[side].append(seconds)
            print(f"repeat {repeat + 1} {side}: first load {seconds:.2f} s", flush=True)
        if not args.skip_resume:
            for side in order:
                with fresh_database(args.dsn, side) as dsn:
                    table_fresh, table_resumed = resumed_table(trees[side], catalog, dsn)
                fresh[side].append(table_fresh)
                resumed[side].append(table_resumed)
                print(f"repeat {repeat + 1} {side}: {LARGEST} fresh {table_fresh:.2f} s, resumed {table_resumed:.2f} s", flush=True)
    report = render(args, trees, catalog, loads, fresh, resumed)
    print(report)
    write_section(args.out, *markers(args.scale), report.rstrip("\n"))


def render(
    args: argparse.Namespace,
    trees: dict[str, Path],
    catalog: Path,
    loads: dict[str, list[float]],
    fresh: dict[str, list[float]],
    resumed: dict[str, list[float]],
) -> str:
    def runs(values: list[float]) -> str:
        return f"{statistics.median(values):.2f} ({' / '.join(f'{v:.2f}' for v in values)})"

    lines = [
        f"### Revisions side by side: {trees['base'].name[4:]} (base) against {trees['head'].name[4:]} (head)",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.2f} at the end; scale {args.scale} ({catalog.name}); {args.repeat} repeats, "
        "base and head alternating; medians, every run in brackets.",
        "",
        "| measurement | base, s | head, s | head / base |",
        "|---|---|---|---|",
        f"| first load, whole catalog (wall) | {runs(loads['base'])} | {runs(loads['head'])} | "
        f"{statistics.median(loads['head']) / statistics.median(loads['base']):.3f} |",
    ]
    if fresh["head"]:
        for name, values in ((f"{LARGEST}, fresh load (table seconds)", fresh), (f"{LARGEST}, resumed after {KILL_AFTER_ROWS:,} rows", resumed)):
            lines.append(
                f"| {name} | {runs(values['base'])} | {runs(values['head'])} | "
                f"{statistics.median(values['head']) / statistics.median(values['base']):.3f} |"
            )
        for side in ("base", "head"):
            ratio = statistics.median(resumed[side]) / statistics.median(fresh[side])
            lines.append(f"\n{side}: the resumed load takes {ratio:.2f}x the fresh load of {LARGEST}.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
