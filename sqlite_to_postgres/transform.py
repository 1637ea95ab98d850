"""Transform: source rows into dataclasses, dataclasses into COPY lines.

Both steps are lazy and one-to-one, so a row that cannot be parsed travels on
as a ``Rejected`` in its place, keeping its rowid, and the loader accounts for
it in the same batch as its neighbours. Each table's per-row code is in ``rows.py``,
the rules for single values in ``values.py``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .extract import SourceRow, UndecodableText
from .models import Record
from .rows import row_code
from .tables import TableSpec

# The rules per value live in values.py; the stages that check single values import them from here.
from .values import (
    CANONICAL_UUID,
    PARSERS,
    InvalidValue,
    is_canonical_uuid,
    parse_date,
    parse_float,
    parse_text,
    parse_timestamp,
    parse_timestamp_text,
    parse_uuid,
    printable,
)

__all__ = [
    "CANONICAL_UUID",
    "PARSERS",
    "CopyLine",
    "InvalidValue",
    "Parsed",
    "Rejected",
    "is_canonical_uuid",
    "parse_date",
    "parse_float",
    "parse_text",
    "parse_timestamp",
    "parse_timestamp_text",
    "parse_uuid",
    "raw_row",
    "to_copy_lines",
    "to_records",
]


@dataclass(slots=True, frozen=True)
class Rejected:
    """A source row that will not be loaded, and why."""

    rowid: int
    source_id: str | None
    reason: str
    raw: dict[str, Any]


Parsed = tuple[int, Record | Rejected]
CopyLine = tuple[int, str | Rejected]


def _json_ready(value: object) -> object:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, UndecodableText):
        value = printable(value)
    if isinstance(value, str) and "\x00" in value:
        return value.replace("\x00", "\\u0000")  # jsonb cannot hold NUL either; keep it visible
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no Infinity or NaN
    return value


def raw_row(spec: TableSpec, row: SourceRow) -> dict[str, Any]:
    """The source row as a JSON-ready mapping, for the rejects table."""
    return {column: _json_ready(value) for column, value in zip(spec.source_columns, row[1:], strict=True)}


def _reject(spec: TableSpec, row: SourceRow) -> Rejected:
    for column, value in zip(spec.columns, row[1:], strict=True):
        try:
            if value is None:
                if not column.nullable:
                    raise InvalidValue("NULL where the target requires a value")
            else:
                PARSERS[column.kind](value)
        except InvalidValue as error:
            reason = f"{column.source}: {error}"
            break
    else:  # every column parsed: the dataclass itself refused the values
        reason = "row does not fit the target"
    source_id = row[1] if isinstance(row[1], str) else None
    return Rejected(row[0], source_id, reason, raw_row(spec, row))


def to_records(
    spec: TableSpec, rows: Iterator[SourceRow], duplicates: Mapping[int, int] | None = None
) -> Iterator[Parsed]:
    """Parse each source row into the table's dataclass, or a ``Rejected`` saying which column failed.

    ``duplicates`` maps the rowid of a row repeating an earlier row's id to that earlier rowid.
    """
    duplicates = duplicates or {}
    parse_row = row_code(spec.name).parse
    for row in rows:
        if duplicates and row[0] in duplicates:
            reason = f"duplicate id: same as source rowid {duplicates[row[0]]}"
            yield (
                row[0],
                Rejected(row[0], row[1] if isinstance(row[1], str) else None, reason, raw_row(spec, row)),
            )
            continue
        try:
            record = parse_row(row)
        except (InvalidValue, TypeError, ValueError):
            # The fast path only knows that something failed; _reject finds which column and why.
            yield row[0], _reject(spec, row)
            continue
        yield row[0], record


def to_copy_lines(spec: TableSpec, records: Iterator[Parsed]) -> Iterator[CopyLine]:
    """Render each dataclass as one line of COPY text in the order of the target columns."""
    render_row = row_code(spec.name).render
    for rowid, record in records:
        if isinstance(record, Rejected):
            yield rowid, record
            continue
        yield rowid, render_row(record)
