"""The options of a run, in one place: the library's ``migrate()``, the CLI and the Airflow DAG share them.

Each field carries its help text, so the CLI's ``--help`` and the DAG's trigger form say the same thing.
Values arriving as text (an Airflow param rendered by Jinja) are converted once, by ``from_values``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from .errors import MigrationError
from .tables import TABLE_NAMES

# Measured at scale 100 (docs/BENCHMARKS.md): 2,000 rows take 5% longer than 5,000 or 10,000 but keep
# peak RSS at 41 MiB against 52 and 70, the same as on the 13,205-row real catalog.
DEFAULT_BATCH_SIZE = 2_000
# Long enough for another run to finish a large table (a 1.3 M-row catalog loads in about 10 s),
# short enough that a stuck run is reported within the hour.
DEFAULT_LOCK_TIMEOUT = 600.0


def default_workers() -> int:
    """One worker per core the process may run on (on 2 cores, 2 to 4 workers measured alike: docs/BENCHMARKS.md)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def selected_tables(names: Iterable[str] | str | None) -> tuple[str, ...]:
    """The named tables, each once, in foreign-key order; None or nothing means all of them.

    Accepts a list, a JSON list or comma-separated names, as an Airflow param may arrive as any of them.
    """
    if names is None:
        return TABLE_NAMES
    if isinstance(names, str):
        text = names.strip()
        if text.startswith("["):
            names = [str(name) for name in json.loads(text.replace("'", '"'))]
        else:
            names = [part.strip() for part in text.split(",")]
    chosen = {str(name) for name in names if str(name)}
    if not chosen:
        return TABLE_NAMES
    if unknown := sorted(chosen - set(TABLE_NAMES)):
        raise MigrationError(f"unknown table(s) {', '.join(unknown)}; known tables: {', '.join(TABLE_NAMES)}")
    return tuple(name for name in TABLE_NAMES if name in chosen)


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass(slots=True, frozen=True)
class RunOptions:
    """How one run migrates: which tables, in what batches, and what it does with rows and other runs."""

    tables: tuple[str, ...] = field(
        default=TABLE_NAMES, metadata=_help("tables to load (all by default); foreign-key order is kept")
    )
    batch_size: int = field(
        default=DEFAULT_BATCH_SIZE,
        metadata=_help("rows per batch: one COPY, one commit; memory is bounded by it"),
    )
    full_refresh: bool = field(
        default=False,
        metadata=_help("ignore the checkpoint of an interrupted run and read and compare every row again"),
    )
    delete_missing: bool = field(
        default=False,
        metadata=_help("delete target rows whose id the source no longer has (their links go with them)"),
    )
    max_rejects: int | None = field(
        default=None, metadata=_help("fail a table when more rows than this are rejected (none: no limit)")
    )
    max_reject_fraction: float | None = field(
        default=0.01,
        metadata=_help("fail a table when more than this fraction of its rows is rejected (none: no limit)"),
    )
    workers: int | None = field(
        default=None,
        metadata=_help("processes that read and parse rows; 0 parses in the main process (default: one per core)"),
    )
    lock_timeout: float = field(
        default=DEFAULT_LOCK_TIMEOUT,
        metadata=_help("seconds to wait for another run that is loading the same table before giving up"),
    )
    retries: int = field(
        default=3, metadata=_help("reconnections, with backoff, after a dropped connection to PostgreSQL")
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "tables", selected_tables(self.tables))
        if self.batch_size < 1:
            raise MigrationError(f"batch size must be at least 1, not {self.batch_size}")
        if self.max_rejects is not None and self.max_rejects < 0:
            raise MigrationError(f"the reject limit must be 0 or more rows, not {self.max_rejects}")
        if self.max_reject_fraction is not None and not 0 <= self.max_reject_fraction <= 1:
            raise MigrationError(f"the reject fraction must be between 0 and 1, not {self.max_reject_fraction}")
        if self.workers is not None and self.workers < 0:
            raise MigrationError(f"workers must be 0 or more, not {self.workers}")
        if self.lock_timeout < 0:
            raise MigrationError(f"the lock timeout must be 0 or more seconds, not {self.lock_timeout}")
        if self.retries < 0:
            raise MigrationError(f"retries must be 0 or more, not {self.retries}")

    @property
    def worker_count(self) -> int:
        return default_workers() if self.workers is None else self.workers

    def reject_breach(self, rejected: int, rows_read: int, *, final: bool) -> str | None:
        """Why ``rejected`` of ``rows_read`` rows fail the table, or None while within the limits."""
        if self.max_rejects is not None and rejected > self.max_rejects:
            return f"{rejected} rows rejected, more than the limit of {self.max_rejects}"
        # A fraction means little on the first few rows, so it is judged on the whole table.
        fraction = self.max_reject_fraction
        if final and fraction is not None and rows_read and rejected / rows_read > fraction:
            return f"{rejected} of {rows_read} rows rejected, more than the limit of {fraction:.1%}"
        return None

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> RunOptions:
        """Options from values that may be text (``"2000"``, ``"True"``, ``"None"``), as Airflow renders params."""
        known = {option.name: option for option in fields(cls)}
        if unknown := sorted(set(values) - set(known)):
            raise MigrationError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(known)}")
        converted: dict[str, Any] = {}
        for name, value in values.items():
            option = known[name]
            try:
                converted[name] = _convert(value, option.default, optional="None" in str(option.type))
            except (TypeError, ValueError) as error:
                raise MigrationError(f"option {name}: cannot read {value!r}: {error}") from None
        return cls(**converted)


def option_help(name: str) -> str:
    """The help text of one option, as the CLI and the DAG's trigger form show it."""
    return str(next(option for option in fields(RunOptions) if option.name == name).metadata["help"])


def _convert(value: Any, default: Any, *, optional: bool) -> Any:
    if value is None or (isinstance(value, str) and value.strip() in ("", "None", "null")):
        if optional or isinstance(default, tuple):
            return None
        raise ValueError("a value is needed")
    if isinstance(default, tuple):
        return value
    if isinstance(default, bool):
        if isinstance(value, str):
            if value.strip().lower() not in ("true", "false", "1", "0"):
                raise ValueError("not a boolean")
            return value.strip().lower() in ("true", "1")
        return bool(value)
    if isinstance(default, float) or (default is None and isinstance(value, float)):
        return float(value)
    if isinstance(value, str) and "." in value:
        return float(value)
    return int(value)
