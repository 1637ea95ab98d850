"""Running one command and measuring it: wall seconds, peak RSS of its process tree, CPU of client and server."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg2
from results import ProcessRun

PROJECT_ROOT = Path(__file__).resolve().parent.parent
POLL_SECONDS = 0.1
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


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


def require_success(run: ProcessRun, what: str) -> ProcessRun:
    if run.returncode != 0:
        last = run.output.strip().splitlines()[-1:] or ["no output"]
        raise BenchError(f"{what} exited with status {run.returncode}: {last[0].strip()}")
    return run


class BenchError(RuntimeError):
    """A measured command failed; recorded in the results, the benchmark goes on."""
