"""The floors: the rows loaded by psql \\copy, into the DDL with its keys (A) and into bare tables with the keys after (B)."""

from __future__ import annotations

from pathlib import Path

from databases import apply_target_ddl, copy_all, psql, require_rows, strip_keys
from measure import require_success, run_measured
from results import ProcessRun


def measure_floor_a(csv_dir: Path, dsn: str, rows: int) -> ProcessRun:
    apply_target_ddl(dsn)
    run = require_success(run_measured(copy_all(csv_dir, dsn), dsn), "psql \\copy")
    require_rows(dsn, "content", rows, "floor A")
    return run


def measure_floor_b(csv_dir: Path, dsn: str, rows: int) -> ProcessRun:
    """Load into bare tables, then add the keys: both psql runs as one, the keys as its part."""
    apply_target_ddl(dsn)
    add_keys = strip_keys(dsn)
    load = require_success(run_measured(copy_all(csv_dir, dsn), dsn), "psql \\copy")
    keys = require_success(run_measured(psql(dsn, *add_keys), dsn), "psql adding the keys")
    require_rows(dsn, "content", rows, "floor B")
    return ProcessRun(
        seconds=load.seconds + keys.seconds,
        peak_rss_kib=max(load.peak_rss_kib, keys.peak_rss_kib),
        cpu_seconds=load.cpu_seconds + keys.cpu_seconds,
        server_cpu_seconds=load.server_cpu_seconds + keys.server_cpu_seconds,
        returncode=0,
        output=load.output + keys.output,
        part_seconds=keys.seconds,
    )
