"""What a run did, per table, as data and as a text table for people."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .state import Counts
from .text_table import render_table


@dataclass(slots=True)
class TableSummary:
    """Counts for one table; ``rows_read`` = inserted + updated + unchanged + rejected."""

    table: str
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    deleted: int = 0
    seconds: float = 0.0
    # Rows an interrupted earlier run had already committed, which this run did not read again.
    resumed_rows: int = 0
    # Source columns with no target column that hold data: column -> rows with a value.
    unmapped: dict[str, int] = field(default_factory=dict)

    def add(self, counts: Counts) -> None:
        """Count what a batch, or a check after the rows, did."""
        self.rows_read += counts.rows_read
        self.inserted += counts.inserted
        self.updated += counts.updated
        self.unchanged += counts.unchanged
        self.rejected += counts.rejected

    @property
    def rows_per_second(self) -> float:
        read_now = self.rows_read - self.resumed_rows
        return read_now / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_per_second),
        }


_COLUMNS = ("table", "read", "inserted", "updated", "unchanged", "rejected", "deleted", "seconds", "rows/s")


def format_summaries(summaries: Sequence[TableSummary]) -> str:
    """A fixed-width table of the summaries with a total line, ready to print or log."""
    rows = [
        (
            s.table,
            f"{s.rows_read:,}",
            f"{s.inserted:,}",
            f"{s.updated:,}",
            f"{s.unchanged:,}",
            f"{s.rejected:,}",
            f"{s.deleted:,}",
            f"{s.seconds:.2f}",
            f"{s.rows_per_second:,.0f}",
        )
        for s in summaries
    ]
    if len(summaries) > 1:
        seconds = sum(s.seconds for s in summaries)
        read_now = sum(s.rows_read - s.resumed_rows for s in summaries)
        rows.append(
            (
                "total",
                f"{sum(s.rows_read for s in summaries):,}",
                f"{sum(s.inserted for s in summaries):,}",
                f"{sum(s.updated for s in summaries):,}",
                f"{sum(s.unchanged for s in summaries):,}",
                f"{sum(s.rejected for s in summaries):,}",
                f"{sum(s.deleted for s in summaries):,}",
                f"{seconds:.2f}",
                f"{read_now / seconds if seconds else 0:,.0f}",
            )
        )
    notes = [
        f"{s.table}: column {column} has data in {count:,} rows but no target column; it was not loaded"
        for s in summaries
        for column, count in s.unmapped.items()
    ]
    notes += [
        f"{s.table}: resumed after {s.resumed_rows:,} rows committed by an earlier run"
        for s in summaries
        if s.resumed_rows
    ]
    notes += [
        f"{s.table}: {s.rejected:,} rows rejected; see migration.rejects" for s in summaries if s.rejected
    ]
    return "\n".join([render_table(_COLUMNS, rows), *notes])
