"""What a consistency check found: per-table counts, the first differences, and their text for people."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from ..text_table import render_table

DifferenceKind = Literal["differing", "missing", "extra"]


@dataclass(slots=True, frozen=True)
class ColumnDifference:
    """One column of one row, as each side holds it (rendered for people)."""

    column: str
    source: str
    target: str


@dataclass(slots=True, frozen=True)
class RowDifference:
    """A row that differs, is missing in the target, or is extra in the target."""

    kind: DifferenceKind
    id: str
    source_rowid: int | None = None
    columns: tuple[ColumnDifference, ...] = ()
    note: str = ""


@dataclass(slots=True, frozen=True)
class TableReport:
    """The comparison of one table.

    ``source_rows`` = matched + differing + missing + rejected, and
    ``target_rows`` = matched + differing + extra.
    """

    table: str
    source_rows: int
    target_rows: int
    matched: int
    missing: int
    extra: int
    differing: int
    rejected: int
    # The first few differences, in id order.
    differences: tuple[RowDifference, ...] = ()
    # Unless the check was full: chunks compared by digest, and how many had to be compared row by row.
    chunks: int | None = None
    chunks_differing: int | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.missing == 0 and self.extra == 0 and self.differing == 0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok, "seconds": round(self.seconds, 3)}


@dataclass(slots=True, frozen=True)
class ConsistencyReport:
    """The comparison of every table checked; ``ok`` when none has a missing, extra or differing row.

    ``fast``: digests first, then the rows of differing chunks (what a check does by default); else
    every row (full).
    """

    tables: tuple[TableReport, ...]
    fast: bool = False

    @property
    def ok(self) -> bool:
        return all(table.ok for table in self.tables)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "mode": "fast" if self.fast else "full",
            "tables": [table.as_dict() for table in self.tables],
        }

    def format(self) -> str:
        """A text table of the counts, then each table's first differences side by side."""
        headers = ["table", "source", "target", "matched", "missing", "extra", "differing", "rejected"]
        if self.fast:
            headers.append("chunks differing")
        headers.append("result")
        verdict = "consistent" if self.ok else "NOT consistent"
        out = [
            f"Consistency check ({'fast' if self.fast else 'full'}): {verdict}",
            render_table(headers, [self._cells(table) for table in self.tables]),
        ]
        for table in self.tables:
            if table.ok:
                continue
            problems = table.missing + table.extra + table.differing
            out.append("")
            out.append(
                f"{table.table}: {problems:,} {'row differs' if problems == 1 else 'rows differ'} "
                f"(showing {len(table.differences)}; source value | target value)"
            )
            for difference in table.differences:
                out.extend(_format_difference(difference))
        return "\n".join(out)

    def _cells(self, table: TableReport) -> list[str]:
        counts = (
            table.source_rows,
            table.target_rows,
            table.matched,
            table.missing,
            table.extra,
            table.differing,
            table.rejected,
        )
        cells = [table.table, *(f"{count:,}" for count in counts)]
        if self.fast:
            cells.append(f"{table.chunks_differing or 0:,}/{table.chunks or 0:,}")
        cells.append("ok" if table.ok else "DIFFERS")
        return cells


def _format_difference(difference: RowDifference) -> list[str]:
    where = f" (source rowid {difference.source_rowid})" if difference.source_rowid is not None else ""
    label = {"differing": "differs", "missing": "missing in target", "extra": "extra in target"}[
        difference.kind
    ]
    note = f": {difference.note}" if difference.note else ""
    lines = [f"  id {difference.id}{where}: {label}{note}"]
    if difference.columns:
        column_width = max(len(column.column) for column in difference.columns)
        value_width = max(len(column.source) for column in difference.columns)
        lines.extend(
            f"      {column.column.ljust(column_width)}  {column.source.ljust(value_width)} | {column.target}"
            for column in difference.columns
        )
    return lines
