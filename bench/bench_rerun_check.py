"""Benchmark of issue 12: first load, re-run after a 0.01% change, ``check`` and ``check --full``, side by side.

    .venv/bin/python bench/bench_rerun_check.py [--scales 10 100] [--repeat 3] [--workdir /tmp/bench]
                                                [--pgloader-scales 1000] [--out docs/BENCHMARKS.md]
                                                [--dsn SERVER_DSN]

For each scale the catalog ``WORKDIR/scale-S.sqlite`` is used as it is (generated when absent), and a
copy of it, ``WORKDIR/rerun-S.sqlite``, has 0.01% of its rows changed: titles of films and names of
people, with their ``updated_at``. Each repeat, into a fresh database: the first load of the catalog,
``check``, ``check --full`` (both on the loaded catalog), then the re-run from the changed copy. The
steps of one repeat follow each other, so the repeats alternate them. At ``--pgloader-scales``,
pgloader (as Debian packages it, default options) loads the catalog once per repeat into a fresh
database too; its exit, last lines and peak memory are reported whether it succeeds or not. Every
measured command holds
/tmp/bench.lock (the lock the team's benchmarks share, so none overlap) and is measured by
bench/run.py's ``run_measured``: wall seconds and the peak RSS summed over its process tree.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import platform
import shutil
import sqlite3
import statistics
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT / "bench"))
sys.path.insert(0, str(PROJECT_ROOT))

from databases import fresh_database, generate_catalog  # noqa: E402
from environment import load_average  # noqa: E402
from measure import require_success, run_measured  # noqa: E402
from ours import _cli  # noqa: E402
from pgloader import _as_uri  # noqa: E402
from results import ProcessRun, write_section  # noqa: E402

from sqlite_to_postgres.connections import LOCAL_SERVER_DSN  # noqa: E402

BEGIN_MARKER = "<!-- bench/bench_rerun_check.py: begin (generated; edits between these markers are overwritten) -->"
END_MARKER = "<!-- bench/bench_rerun_check.py: end -->"
LOCK = Path("/tmp/bench.lock")
CHANGED_FRACTION = 0.0001
STEPS = ("first load", "re-run after 0.01%", "check", "check --full")


@contextmanager
def bench_lock() -> Iterator[None]:
    """Hold the shared benchmark lock (as ``flock /tmp/bench.lock`` does) for one measured command."""
    with LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def changed_copy(catalog: Path, workdir: Path, scale: int) -> tuple[Path, int]:
    """A copy of ``catalog`` with 0.01% of all its rows changed (films' titles, people's names); rows changed."""
    copy = workdir / f"rerun-{scale}.sqlite"
    shutil.copyfile(catalog, copy)
    with sqlite3.connect(copy) as source:
        total = sum(
            source.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
            for table in ("genre", "film_work", "person", "genre_film_work", "person_film_work")
        )
        wanted = max(2, round(total * CHANGED_FRACTION))
        films = source.execute(
            "UPDATE film_work SET title = title || ' (revised)', updated_at = '2031-01-01 00:00:00+00' "
            "WHERE rowid IN (SELECT rowid FROM film_work ORDER BY random() LIMIT ?)",
            (wanted // 2,),
        ).rowcount
        people = source.execute(
            "UPDATE person SET full_name = full_name || ' Jr.', updated_at = '2031-01-01 00:00:00+00' "
            "WHERE rowid IN (SELECT rowid FROM person ORDER BY random() LIMIT ?)",
            (wanted - wanted // 2,),
        ).rowcount
    source.close()
    return copy, films + people


def measured(argv: list[str], dsn: str, what: str) -> tuple[ProcessRun, str]:
    with bench_lock():
        load = load_average()
        run = require_success(run_measured(argv, dsn), what)
    print(f"  {what}: {run.seconds:.2f} s, {run.peak_rss_kib / 1024:.0f} MiB (load {load})", flush=True)
    return run, load


def pgloader_run(catalog: Path, server_dsn: str) -> tuple[ProcessRun, str]:
    """pgloader's load of ``catalog`` into a fresh database, measured; success or not, with its last words."""
    with fresh_database(server_dsn, "pgloader") as dsn, bench_lock():
        load = load_average()
        run = run_measured(["pgloader", str(catalog), _as_uri(dsn)], dsn)
    lines = [line for line in run.output.splitlines() if line.strip()]
    fatal = [line for line in lines if "fatal" in line.lower() or "error" in line.lower()]
    said = (fatal or lines or ["(no output)"])[0][:200]
    outcome = "finished" if run.returncode == 0 else f"exit {run.returncode}"
    print(f"  pgloader: {outcome} after {run.seconds:.2f} s, {run.peak_rss_kib / 1024:.0f} MiB (load {load}): {said}", flush=True)
    return run, said


def bench_scale(
    scale: int, repeat: int, workdir: Path, server_dsn: str, pgloader: bool = False, full: bool = True
) -> dict[str, list[ProcessRun]]:
    catalog = generate_catalog(workdir, scale)
    changed, rows_changed = changed_copy(catalog, workdir, scale)
    print(f"scale {scale}: {rows_changed} rows changed in {changed}", flush=True)
    runs: dict[str, list[ProcessRun]] = {step: [] for step in STEPS}
    loads: list[str] = []
    pgloader_runs: list[tuple[ProcessRun, str]] = []
    for number in range(repeat):
        print(f"scale {scale}, repeat {number + 1}", flush=True)
        with fresh_database(server_dsn, f"rerun{scale}") as dsn:
            steps = [
                ("first load", _cli("migrate", catalog, dsn)),
                ("check", _cli("check", catalog, dsn)),
                ("check --full", [*_cli("check", catalog, dsn), "--full"]),
                ("re-run after 0.01%", _cli("migrate", changed, dsn)),
            ]
            for step, argv in steps:
                if step == "check --full" and not full:
                    continue
                run, load = measured(argv, dsn, step)
                runs[step].append(run)
                loads.append(load)
        if pgloader:
            pgloader_runs.append(pgloader_run(catalog, server_dsn))
    print(f"scale {scale}: load averages {', '.join(loads)}")
    return {**runs, "_rows_changed": rows_changed, "_loads": loads, "_pgloader": pgloader_runs}  # type: ignore[dict-item]


def _cell(runs: list[ProcessRun]) -> str:
    seconds = [run.seconds for run in runs]
    return f"{statistics.median(seconds):.2f} ({min(seconds):.2f} to {max(seconds):.2f})"


def report(results: dict[int, dict[str, object]], repeat: int) -> str:
    scales = sorted(results)
    lines = [
        "## Re-run and check against the first load (issue 12)",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} ({platform.machine()}, "
        f"{len(os.sched_getaffinity(0))} cores), by `bench/bench_rerun_check.py --repeat {repeat}`: "
        "each repeat a fresh database, first load, `check` (digests first), `check --full` (every row), then the re-run from a copy "
        "with 0.01% of the rows changed (titles, names, updated_at). Seconds: median (min to max) of the "
        "repeats; memory: the largest peak RSS summed over the process tree; ratios: of the medians.",
        "",
        "| step | " + " | ".join(f"{scale}x seconds | {scale}x against load | {scale}x peak MiB" for scale in scales) + " |",
        "|---|" + "---:|" * (3 * len(scales)),
    ]
    for step in STEPS:
        cells = []
        for scale in scales:
            runs: list[ProcessRun] = results[scale][step]  # type: ignore[assignment]
            first: list[ProcessRun] = results[scale]["first load"]  # type: ignore[assignment]
            if not runs:
                cells += ["not run", "", ""]
                continue
            ratio = statistics.median(r.seconds for r in runs) / statistics.median(r.seconds for r in first)
            peak = max(run.peak_rss_kib for run in runs) / 1024
            cells += [_cell(runs), f"{ratio:.2f}x", f"{peak:.0f}"]
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    lines.append("")
    for scale in scales:
        lines.append(
            f"Scale {scale}: {results[scale]['_rows_changed']} rows changed; load average before each "
            f"command (1, 5, 15 min): {'; '.join(results[scale]['_loads'])}."  # type: ignore[arg-type]
        )
        pgloader_runs: list[tuple[ProcessRun, str]] = results[scale]["_pgloader"]  # type: ignore[assignment]
        if pgloader_runs:
            first: list[ProcessRun] = results[scale]["first load"]  # type: ignore[assignment]
            ours = statistics.median(run.seconds for run in first)
            described = "; ".join(
                f"{'finished' if run.returncode == 0 else f'exit {run.returncode}'} after {run.seconds:.1f} s "
                f"({run.seconds / ours:.2f}x our first load), peak {run.peak_rss_kib / 1024:.0f} MiB: `{said}`"
                for run, said in pgloader_runs
            )
            lines.append(f"\npgloader at scale {scale} (default options, each run a fresh database): {described}.")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench"))
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs" / "BENCHMARKS.md")
    parser.add_argument("--dsn", default=LOCAL_SERVER_DSN)
    parser.add_argument("--pgloader-scales", type=int, nargs="*", default=[], help="scales at which pgloader runs too")
    parser.add_argument(
        "--full-scales", type=int, nargs="*", help="scales at which `check --full` runs too (default: every scale)"
    )
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    results = {
        scale: bench_scale(
            scale,
            args.repeat,
            args.workdir,
            args.dsn,
            scale in args.pgloader_scales,
            args.full_scales is None or scale in args.full_scales,
        )
        for scale in args.scales
    }
    text = report(results, args.repeat)  # type: ignore[arg-type]
    print(text)
    write_section(args.out, BEGIN_MARKER, END_MARKER, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
