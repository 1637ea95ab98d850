"""The report: tables per scale, the summary, the acceptance lines and notes, written into docs/BENCHMARKS.md."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path

from databases import CSV_NULL
from measure import POLL_SECONDS
from results import (
    CHECK,
    DAG,
    FLOOR_A,
    FLOOR_B,
    OURS,
    PGLOADER,
    RERUN,
    Environment,
    Measurement,
    ScaleResult,
    log,
)

BEGIN_MARKER = "<!-- bench/run.py: begin (generated; edits between these markers are overwritten) -->"
END_MARKER = "<!-- bench/run.py: end -->"


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
        "data, and `check` (chunk digests first, then the rows of differing chunks). The detail column gives the library's own total "
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
        log("matplotlib is not installed: no plot (pip install matplotlib)")
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
