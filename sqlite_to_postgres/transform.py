"""Transform: source rows into dataclasses, dataclasses into COPY lines.

Both steps are lazy and one-to-one, so a row that cannot be parsed travels on
as a ``Rejected`` in its place, keeping its rowid, and the loader accounts for
it in the same batch as its neighbours.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from operator import attrgetter
from typing import Any
from uuid import UUID

from .extract import SourceRow, UndecodableText
from .models import Record
from .tables import Kind, TableSpec


class InvalidValue(ValueError):
    """A source value that does not fit its target column."""


@dataclass(slots=True, frozen=True)
class Rejected:
    """A source row that will not be loaded, and why."""

    rowid: int
    source_id: str | None
    reason: str
    raw: dict[str, Any]


Parsed = tuple[int, Record | Rejected]
CopyLine = tuple[int, str | Rejected]


def _type_name(value: object) -> str:
    if isinstance(value, UndecodableText):
        return "text that is not valid UTF-8"
    return {bytes: "a blob", int: "an integer", float: "a number", str: "text"}.get(
        type(value), type(value).__name__
    )


def parse_uuid(value: object) -> UUID:
    if type(value) is not str:
        raise InvalidValue(f"expected a UUID as text, found {_type_name(value)}")
    try:
        return UUID(value)
    except ValueError:
        raise InvalidValue(f"{value[:60]!r} is not a UUID") from None


def parse_text(value: object) -> str:
    if isinstance(value, UndecodableText):
        raise InvalidValue(f"text is not valid UTF-8: {_printable(value)[:60]!r}")
    if type(value) is not str:
        raise InvalidValue(f"expected text, found {_type_name(value)}")
    if "\x00" in value:
        # PostgreSQL text cannot hold NUL; cutting the value would change it silently.
        raise InvalidValue("text contains a NUL character, which PostgreSQL cannot store")
    return value


def parse_timestamp(value: object) -> datetime:
    if type(value) is not str:
        raise InvalidValue(f"expected a timestamp as text, found {_type_name(value)}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidValue(f"{value[:60]!r} is not a timestamp") from None
    # Columns are declared "with time zone"; a value written without one is taken as UTC.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def parse_date(value: object) -> date:
    if type(value) is not str:
        raise InvalidValue(f"expected a date as text, found {_type_name(value)}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidValue(f"{value[:60]!r} is not a date") from None


def parse_float(value: object) -> float:
    if type(value) is float:
        return value
    if type(value) is int:
        return float(value)
    raise InvalidValue(f"expected a number, found {_type_name(value)} {str(value)[:60]!r}")


PARSERS: dict[Kind, Callable[[object], Any]] = {
    Kind.UUID: parse_uuid,
    Kind.TEXT: parse_text,
    Kind.TIMESTAMP: parse_timestamp,
    Kind.DATE: parse_date,
    Kind.FLOAT: parse_float,
}


def _printable(value: str) -> str:
    """Text with undecodable bytes shown as U+FFFD, which JSON and PostgreSQL accept."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _json_ready(value: object) -> object:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, UndecodableText):
        value = _printable(value)
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
    # A link table names the same film or person in many rows; parsing each of those UUIDs once per
    # batch-sized window saves a third of the parse time there. Bounded, so memory stays flat.
    cached_uuid = lru_cache(maxsize=65_536)(parse_uuid)
    parsers = [
        cached_uuid if column.kind is Kind.UUID and index > 0 else PARSERS[column.kind]
        for index, column in enumerate(spec.columns)
    ]
    required = [index for index, column in enumerate(spec.columns) if not column.nullable]
    model = spec.model
    for row in rows:
        if duplicates and row[0] in duplicates:
            reason = f"duplicate id: same as source rowid {duplicates[row[0]]}"
            yield (
                row[0],
                Rejected(row[0], row[1] if isinstance(row[1], str) else None, reason, raw_row(spec, row)),
            )
            continue
        try:
            # This loop runs once per source row: it is kept flat on purpose (see docs/BENCHMARKS.md).
            values: list[Any] = [
                None if value is None else parse(value) for parse, value in zip(parsers, row[1:], strict=True)
            ]
            for index in required:
                if values[index] is None:
                    raise InvalidValue
            record = model(*values)
        except (InvalidValue, TypeError, ValueError):
            yield row[0], _reject(spec, row)
            continue
        yield row[0], record


# COPY's text format: backslash escapes; NULL is \N.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def _copy_text(value: str) -> str:
    return value.translate(_COPY_ESCAPES)


def _copy_float(value: float) -> str:
    # repr is the shortest text that reads back to the same double; PostgreSQL spells the specials itself.
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return "NaN" if math.isnan(value) else repr(value)


def _copy_uuid(value: UUID) -> str:
    # PostgreSQL reads 32 bare hex digits as a uuid; .hex is cheaper to make than the hyphenated text.
    return value.hex


FORMATTERS: dict[Kind, Callable[[Any], str]] = {
    Kind.UUID: _copy_uuid,
    Kind.TEXT: _copy_text,
    Kind.TIMESTAMP: datetime.isoformat,
    Kind.DATE: date.isoformat,
    Kind.FLOAT: _copy_float,
}


def to_copy_lines(spec: TableSpec, records: Iterator[Parsed]) -> Iterator[CopyLine]:
    """Render each dataclass as one line of COPY text in the order of the target columns."""
    values_of = attrgetter(*spec.target_columns)
    formatters = [FORMATTERS[column.kind] for column in spec.columns]
    for rowid, record in records:
        if isinstance(record, Rejected):
            yield rowid, record
            continue
        fields = [
            "\\N" if value is None else format_value(value)
            for format_value, value in zip(formatters, values_of(record), strict=True)
        ]
        yield rowid, "\t".join(fields) + "\n"
