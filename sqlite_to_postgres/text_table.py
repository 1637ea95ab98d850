"""Fixed-width text tables for people: the run summary (CLI and task logs) and the consistency report."""

from __future__ import annotations

from collections.abc import Sequence


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """The headers, a rule of dashes, then the rows, each column as wide as its widest cell.

    The first column (a name) is left-aligned and the others (counts) right-aligned, two spaces
    apart; cells come already formatted, so a column of numbers lines up on its last digit.
    """
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    lines = [_line(headers, widths), "  ".join("-" * width for width in widths)]
    lines.extend(_line(row, widths) for row in rows)
    return "\n".join(lines)


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(
        cell.ljust(width) if i == 0 else cell.rjust(width)
        for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
    )
