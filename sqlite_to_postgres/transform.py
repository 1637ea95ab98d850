"""Transform: source rows into dataclasses, dataclasses into COPY lines.

Both steps are lazy and one-to-one, so a row that cannot be parsed travels on
as a ``Rejected`` in its place, keeping its rowid, and the loader accounts for
it in the same batch as its neighbours.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from typing import Any
from uuid import UUID

from .extract import SourceRow, UndecodableText
from .models import Record, TimestampText, UuidText
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


CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
"""The form PostgreSQL prints a uuid in; text in this form is already its own canonical spelling."""

is_canonical_uuid = CANONICAL_UUID.fullmatch
"""A match when text is a uuid in canonical form, else None."""


def parse_uuid(value: object) -> UuidText:
    if type(value) is not str:
        raise InvalidValue(f"expected a UUID as text, found {_type_name(value)}")
    if is_canonical_uuid(value):
        return UuidText(value)
    try:
        # Capitals, braces, no hyphens, a urn: prefix: the spellings uuid.UUID reads, as PostgreSQL would.
        return UuidText(str(UUID(value)))
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


ISO_TIMESTAMP = re.compile(
    r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:[+-]\d\d(?::\d\d)?|Z)", re.ASCII
)
"""Timestamp text with an offset that PostgreSQL and Python read as the same instant, once Python
accepts its numbers (no seventh fraction digit, which PostgreSQL would round; no week dates)."""

is_iso_timestamp = ISO_TIMESTAMP.fullmatch


def parse_timestamp_text(value: object) -> TimestampText:
    """The timestamp as ISO text with its offset: as written when that is safe, else written out again."""
    parsed = parse_timestamp(value)
    if type(value) is str and is_iso_timestamp(value):
        return TimestampText(value)
    return TimestampText(parsed.isoformat())


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
    Kind.TIMESTAMP: parse_timestamp_text,
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
    parse_row = _compiled(spec).parse_row
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


# COPY's text format: backslash escapes; NULL is \N.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def _copy_text(value: str) -> str:
    # Most text needs no escape, and four substring tests cost a tenth of translate() (measured).
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return _escaped(value)
    return value


def _escaped(value: str) -> str:
    return value.translate(_COPY_ESCAPES)


def _copy_float(value: float) -> str:
    # repr is the shortest text that reads back to the same double; PostgreSQL spells the specials itself.
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return "NaN" if math.isnan(value) else repr(value)


FORMATTERS: dict[Kind, Callable[[Any], str]] = {
    Kind.UUID: str,  # already canonical text, which needs no escape
    Kind.TEXT: _copy_text,
    Kind.TIMESTAMP: str,  # already ISO text, which needs no escape
    Kind.DATE: date.isoformat,
    Kind.FLOAT: _copy_float,
}


def to_copy_lines(spec: TableSpec, records: Iterator[Parsed]) -> Iterator[CopyLine]:
    """Render each dataclass as one line of COPY text in the order of the target columns."""
    render_row = _compiled(spec).render_row
    for rowid, record in records:
        if isinstance(record, Rejected):
            yield rowid, record
            continue
        yield rowid, render_row(record)


@dataclass(slots=True, frozen=True)
class RowFunctions:
    """The two per-row steps of one table, written out for its columns."""

    parse_row: Callable[[SourceRow], Record]
    render_row: Callable[[Record], str]
    source: str


# Per kind, the parse written inline: a value already in its target form is taken as it is (a
# canonical uuid, text, a float, an ISO timestamp once Python has parsed it) or converted by one C
# call (a date); anything else goes to the kind's parse_* function ({parse}), which refuses it with
# its reason or converts it. Each must take nothing that function would refuse or convert otherwise
# (tests/test_transform.py checks them against each other).
_INLINE_PARSE: dict[Kind, str] = {
    Kind.UUID: "{v} if type({v}) is str and is_canonical_uuid({v}) else {parse}",
    Kind.TEXT: '{v} if type({v}) is str and "\\x00" not in {v} else {parse}',
    Kind.FLOAT: "{v} if type({v}) is float else {parse}",
    Kind.TIMESTAMP: "{v} if type({v}) is str and is_iso_timestamp({v}) and datetime_from_text({v}) else {parse}",
    Kind.DATE: "date_from_text({v}) if type({v}) is str else {parse}",
}

# Written before a text value goes into the line: most text needs no escape (see _copy_text).
_ESCAPE_TEXT = (
    '    if {v} is not None and ("\\\\" in {v} or "\\t" in {v} or "\\n" in {v} or "\\r" in {v}):\n'
    "        {v} = escape({v})"
)


@cache
def _compiled(spec: TableSpec) -> RowFunctions:
    """Write the table's parse and render steps as straight-line code, as dataclasses writes __init__.

    These two run once per source row and are most of a migration's client time. A loop over the
    columns pays for the loop, a zip, a None test and a call per value; written out, a value already
    in its target form (a canonical uuid, an ISO timestamp, text, a float) costs a test or two and no call, and a whole
    load takes less than half the client time (docs/BENCHMARKS.md). ``RowFunctions.source`` holds
    the code; for genre_film_work it reads:

        def parse_row(row):
            _, v0, v1, v2, v3 = row
            return model((v0 if type(v0) is str and is_canonical_uuid(v0) else parse0(v0)), ...,
                         None if v3 is None else (v3 if type(v3) is str and is_iso_timestamp(v3)
                                                  and datetime_from_text(v3) else parse3(v3)))

        def render_row(record):
            v0 = record.id
            ...
            v3 = record.created
            return f"{v0}\\t{v1}\\t{v2}\\t{NULL if v3 is None else v3}\\n"

    A required column's parser is called on None too, and refuses it like any other wrong type.
    """
    names: dict[str, Any] = {
        "model": spec.model,
        "NULL": "\\N",
        "is_canonical_uuid": is_canonical_uuid,
        "is_iso_timestamp": is_iso_timestamp,
        "datetime_from_text": datetime.fromisoformat,
        "date_from_text": date.fromisoformat,
        "escape": _escaped,  # the generated code has made _copy_text's test already
    }
    arguments, fields, prepare_fields = [], [], []
    for index, column in enumerate(spec.columns):
        if not column.target.isidentifier():
            raise ValueError(f"{spec.name}.{column.target}: a target column must be a Python identifier")
        names[f"parse{index}"] = PARSERS[column.kind]
        names[f"format{index}"] = FORMATTERS[column.kind]
        value = f"v{index}"
        parse = _INLINE_PARSE[column.kind].format(v=value, t=f"t{index}", parse=f"parse{index}({value})")
        arguments.append(f"None if {value} is None else ({parse})" if column.nullable else f"({parse})")

        if column.kind is Kind.TEXT:
            prepare_fields += [f"    {value} = record.{column.target}", _ESCAPE_TEXT.format(v=value)]
            formatted = value
        elif column.kind in (Kind.UUID, Kind.TIMESTAMP):
            # Canonical uuid text and ISO timestamps need no escape.
            prepare_fields.append(f"    {value} = record.{column.target}")
            formatted = value
        else:
            prepare_fields.append(f"    {value} = record.{column.target}")
            formatted = f"format{index}({value})"
        fields.append(
            f"{{NULL if {value} is None else {formatted}}}" if column.nullable else f"{{{formatted}}}"
        )
    values = ", ".join(f"v{index}" for index in range(len(spec.columns)))
    line = "\\t".join(fields) + "\\n"  # the escapes are written into the generated f-string
    source = "\n".join(
        [
            "def parse_row(row):",
            f"    _, {values} = row",
            f"    return model({', '.join(arguments)})",
            "",
            "def render_row(record):",
            *prepare_fields,
            f'    return f"{line}"',
        ]
    )
    exec(compile(source, f"<row functions of {spec.name}>", "exec"), names)
    return RowFunctions(names["parse_row"], names["render_row"], source)
