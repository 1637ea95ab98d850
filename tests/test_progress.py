"""Progress: live lines per table on a terminal, the same plain log lines as ever anywhere else."""

from __future__ import annotations

import io
import logging
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import BinaryIO

import pytest

from sqlite_to_postgres.progress import LogProgress, TerminalProgress, progress_for
from sqlite_to_postgres.tables import TABLE_NAMES

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# A log line as the CLI formats it: time, level, message.
LOG_LINE = re.compile(r"\d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR) \S.*")
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_log_progress_logs_a_loading_table_every_five_seconds(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    progress = LogProgress(clock=clock)
    caplog.set_level(logging.DEBUG, logger="sqlite_to_postgres.progress")

    progress.step("person", "loading", total=1000)
    clock.now += 2
    progress.advance("person", 200)  # within the 5 s: silent
    clock.now += 3
    progress.advance("person", 300)  # 5 s since the step began
    clock.now += 1
    progress.advance("person", 100)  # 1 s since the last line: silent
    progress.step("person", "rebuilding keys")
    clock.now += 10
    progress.advance("person", 400)  # not loading: silent
    progress.done("person")

    infos = [record.getMessage() for record in caplog.records if record.levelno == logging.INFO]
    assert infos == ["person: 500/1000 rows (50%), 100 rows/s"]
    debugs = [record.getMessage() for record in caplog.records if record.levelno == logging.DEBUG]
    assert debugs == ["person: loading", "person: rebuilding keys"]


def test_a_pipe_gets_log_lines_and_a_terminal_live_lines() -> None:
    with progress_for(io.StringIO()) as progress:
        assert isinstance(progress, LogProgress)
    main, other = os.openpty()
    with os.fdopen(main, "rb"), open(other, "w") as terminal, progress_for(terminal) as progress:
        assert isinstance(progress, TerminalProgress)


def test_log_records_go_through_the_live_display_and_come_back_after() -> None:
    root = logging.getLogger()
    main, other = os.openpty()
    with os.fdopen(main, "rb", buffering=0) as reader:
        with open(other, "w") as terminal:
            handler = logging.StreamHandler(terminal)
            handler.setFormatter(logging.Formatter("LOGGED %(message)s"))
            root.addHandler(handler)
            try:
                with progress_for(terminal) as progress:
                    assert handler not in root.handlers
                    progress.step("genre", "loading", total=2)
                    logging.getLogger("sqlite_to_postgres.test").warning("in the middle")
                    progress.advance("genre", 2)
                    progress.done("genre")
                assert handler in root.handlers
            finally:
                root.removeHandler(handler)
            terminal.flush()
        # The terminal is closed: read everything it was sent (one read may return only part of it).
        shown = _read_all(reader)
    assert "LOGGED in the middle" in shown
    assert "genre" in shown and "done" in shown


def _read_all(reader: BinaryIO) -> str:
    chunks = []
    while True:
        try:
            chunk = reader.read(65536)
        except OSError:  # EIO: the other end is closed and every byte has been read
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode()


# --- the command line -------------------------------------------------------------------


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A catalog twice the sample's size: enough batches of 100 rows for the display to redraw."""
    path = tmp_path_factory.mktemp("progress") / "scale2.sqlite"
    subprocess.run(
        [sys.executable, "-m", "sqlite_to_postgres", "generate", "--out", str(path), "--scale", "2"],
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return path


def source_counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as source:
        return {table: source.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in TABLE_NAMES}


def migrate_command(catalog: Path, dsn: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "sqlite_to_postgres",
        "migrate",
        "--sqlite",
        str(catalog),
        "--dsn",
        dsn,
        "--batch-size",
        "100",
    ]


@pytest.mark.skipif(
    shutil.which("script") is None, reason="needs script(1) from util-linux for a pseudo-terminal"
)
def test_on_a_terminal_each_table_has_a_line_updated_in_place(catalog: Path, target_dsn: str) -> None:
    # `script` runs the command on a pseudo-terminal, as in a person's shell, and copies what it shows.
    command = shlex.join(migrate_command(catalog, target_dsn))
    process = subprocess.run(
        ["script", "-qec", command, "/dev/null"],
        cwd=PROJECT_ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=300,
        check=False,
    )
    shown = process.stdout.decode()
    assert process.returncode == 0, shown[-3000:]

    # Redrawn in place: the cursor goes back up over the live lines and clears them.
    assert "\x1b[1A" in shown and "\x1b[2K" in shown
    for step in ("checking the source", "loading", "rows/s"):
        assert step in shown
    # Each table's last state: done, every row counted.
    final = ESCAPES.sub("", shown)
    for table, rows in source_counts(catalog).items():
        assert re.search(rf"{table} +done +{rows:,}/{rows:,} +[0-9,]+ rows/s", final), table
    # Log records print whole above the live lines, not torn by a redraw: each is written in one piece
    # on a line just cleared (ESC [2K), where the live lines stood.
    logged = [line for line in shown.split("\n") if " INFO " in line]
    assert len(logged) >= len(TABLE_NAMES)
    for line in logged:
        assert LOG_LINE.fullmatch(line.rsplit("\x1b[2K", 1)[-1].removesuffix("\r")), repr(line)
    # The summary table follows, as on a pipe.
    assert re.search(r"^table +read +inserted", final, re.MULTILINE)


def test_through_a_pipe_the_output_is_plain_log_lines_and_the_summary(catalog: Path, target_dsn: str) -> None:
    process = subprocess.run(
        migrate_command(catalog, target_dsn),
        cwd=PROJECT_ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert process.returncode == 0, process.stderr[-3000:]

    for output in (process.stdout, process.stderr):
        assert "\x1b" not in output and "\r" not in output
    # stderr: the log, one record a line, the same lines as before there was a terminal display.
    log_lines = process.stderr.splitlines()
    assert all(LOG_LINE.fullmatch(line) for line in log_lines), log_lines
    messages = [line.split(" ", 2)[2] for line in log_lines]
    assert messages[0].startswith(f"Migrating {catalog} into ")
    counts = source_counts(catalog)
    for table, rows in counts.items():
        assert any(
            re.fullmatch(
                rf"{table}: {rows} rows read, {rows} inserted, 0 updated, 0 unchanged, 0 rejected in .*", m
            )
            for m in messages
        ), table
    # stdout: the summary table alone.
    summary = process.stdout.splitlines()
    assert summary[0].split() == [
        "table", "read", "inserted", "updated", "unchanged", "rejected", "deleted", "seconds", "rows/s"
    ]  # fmt: skip
    assert summary[-1].split()[:3] == ["total", f"{sum(counts.values()):,}", f"{sum(counts.values()):,}"]
