"""What the benchmark keeps: one measured command, all repeats of a measurement, a scale, the machine."""

from __future__ import annotations

import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

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


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def write_section(path: Path, begin: str, end: str, text: str) -> None:
    """Put ``text`` between the markers ``begin`` and ``end`` in ``path``, in place of what was there,
    or at the end of the file the first time."""
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    section = f"{begin}\n{text}\n{end}"
    if begin in existing and end in existing:
        before, rest = existing.split(begin, 1)
        after = rest.split(end, 1)[1]
        path.write_text(before + section + after, encoding="utf-8")
    else:
        path.write_text(existing.rstrip("\n") + "\n\n" + section + "\n", encoding="utf-8")
