"""Canonical values: each side's value of a column reduced to one text (``None`` for NULL), compared as is.

* uuid: lowercase canonical text, which sorts byte for byte like PostgreSQL's ``uuid`` (a memcmp of the
  16 bytes);
* timestamptz: the instant in UTC to the microsecond, ISO 8601;
* date: ISO 8601;
* float: the 8 bytes of the IEEE double in hex, so the comparison is exact;
* text: the text itself; NULL stays distinct from ''.

Source values go through the same parsers as the migration (``transform.PARSERS``), then ``_RENDER``;
PostgreSQL renders its stored values with ``SQL_RENDER``, written beside it. A source value that does
not parse becomes an ``Invalid``, equal to no target value.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from ..tables import Column, Kind
from ..transform import PARSERS, is_canonical_uuid, parse_timestamp

_SHOWN_VALUE_CHARS = 60


@dataclass(slots=True, frozen=True)
class Invalid:
    """A source value the migration's parsers refuse; equal to no target value."""

    raw: object
    reason: str


Canonical = str | None | Invalid


@dataclass(slots=True, frozen=True)
class Row:
    """One row of either side: its sort key (canonical id, '' when it has none) and canonical values."""

    key: str
    values: tuple[Canonical, ...]
    source_rowid: int | None = None
    raw_id: object = None


def _float_bits(value: float) -> str:
    # The bits, not a decimal spelling: Python and PostgreSQL print doubles differently but store them alike.
    return struct.pack(">d", value).hex()


def _utc_instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _same_text(value: str) -> str:
    return value


_RENDER: dict[Kind, Callable[[Any], str]] = {
    Kind.UUID: str,
    Kind.TEXT: _same_text,
    Kind.DATE: date.isoformat,
    Kind.FLOAT: _float_bits,
    Kind.TIMESTAMP: _utc_instant,
}

# The same renderings in PostgreSQL; ``{c}`` is the column. Infinite dates and timestamps have no
# to_char; they are spelled as PostgreSQL prints them, which matches no source value.
SQL_RENDER: dict[Kind, str] = {
    Kind.UUID: "{c}::text",
    Kind.TEXT: "{c}::text",
    Kind.DATE: "CASE WHEN isfinite({c}) THEN to_char({c}, 'YYYY-MM-DD') ELSE {c}::text END",
    Kind.FLOAT: "encode(float8send({c}), 'hex')",
    Kind.TIMESTAMP: (
        "CASE WHEN isfinite({c}) "
        "THEN to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"') "
        "ELSE {c}::text END"
    ),
}

# The canonical-uuid test in SQLite's GLOB (case-sensitive), so canonical ids sort without calling Python.
CANONICAL_UUID_GLOB = "-".join("[0-9a-f]" * digits for digits in (8, 4, 4, 4, 12))


def normaliser(column: Column) -> Callable[[object], Canonical]:
    """Source value -> canonical text, through the migration's own parser for the column's kind."""
    # Timestamps are compared as instants, parsed here apart from the text the migration passes on.
    parse = parse_timestamp if column.kind is Kind.TIMESTAMP else PARSERS[column.kind]
    render = _RENDER[column.kind]
    is_uuid = column.kind is Kind.UUID

    def normalise(value: object) -> Canonical:
        if value is None:
            return None if column.nullable else Invalid(value, "NULL where the target requires a value")
        # Canonical uuid text is its own canonical form: the parse (the check's hottest path) is skipped.
        if is_uuid and type(value) is str and is_canonical_uuid(value):
            return value
        try:
            return render(parse(value))
        except (ValueError, OverflowError) as error:  # InvalidValue is a ValueError
            return Invalid(value, str(error))

    return normalise


def uuid_key(value: object) -> str | None:
    """The canonical text of a source id, or None when it is no uuid (such rows sort first)."""
    if type(value) is not str:
        return None
    try:
        return str(UUID(value))
    except ValueError:
        return None


def clip(text: str) -> str:
    return text if len(text) <= _SHOWN_VALUE_CHARS else text[: _SHOWN_VALUE_CHARS - 3] + "..."


def display(kind: Kind, value: Canonical) -> str:
    """A canonical value for people: NULL spelled out, text quoted so '' and whitespace show."""
    if value is None:
        return "NULL"
    if isinstance(value, Invalid):
        return f"{clip(repr(value.raw))} (does not parse: {clip(value.reason)})"
    if kind is Kind.FLOAT:
        return repr(struct.unpack(">d", bytes.fromhex(value))[0])
    if kind is Kind.TEXT:
        return clip(repr(value))
    return value
