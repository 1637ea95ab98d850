"""One value at a time, per column kind: a source value into its target form, and out as COPY text.

Each ``parse_*`` function refuses a value that does not fit its kind with ``InvalidValue``, saying
why; ``rows.py`` calls them for any value not already in its target form, and ``transform.py``
calls them again on a row that failed, to name the column and the reason.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, TypeGuard, cast
from uuid import UUID

from .extract import UndecodableText
from .models import TimestampText, UuidText
from .tables import Kind


class InvalidValue(ValueError):
    """A source value that does not fit its target column."""


def _type_name(value: object) -> str:
    if isinstance(value, UndecodableText):
        return "text that is not valid UTF-8"
    return {bytes: "a blob", int: "an integer", float: "a number", str: "text"}.get(
        type(value), type(value).__name__
    )


def printable(value: str) -> str:
    """Text with undecodable bytes shown as U+FFFD, which JSON and PostgreSQL accept."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
"""The form PostgreSQL prints a uuid in; text in this form is already its own canonical spelling."""

is_canonical_uuid = cast("Callable[[str], TypeGuard[UuidText]]", CANONICAL_UUID.fullmatch)
"""True (a match) when text is a uuid in canonical form, else None (false).

Typed as a guard because text it matches already is a ``UuidText``: rows.py passes it on as it is,
where a ``UuidText(value)`` would cost a call per value.
"""


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
        raise InvalidValue(f"text is not valid UTF-8: {printable(value)[:60]!r}")
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

is_iso_timestamp = cast("Callable[[str], TypeGuard[TimestampText]]", ISO_TIMESTAMP.fullmatch)
"""True (a match) when text has that form; a guard as ``is_canonical_uuid`` is. Python must still read it."""


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


# COPY's text format: backslash escapes; NULL is \N.
COPY_NULL = "\\N"
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def copy_text(value: str) -> str:
    # Most text needs no escape, and four substring tests cost a tenth of translate() (measured).
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return escaped(value)
    return value


def escaped(value: str) -> str:
    """Text with COPY's special characters escaped; ``copy_text`` without its test for whether any occur."""
    return value.translate(_COPY_ESCAPES)


def copy_float(value: float) -> str:
    # repr is the shortest text that reads back to the same double; PostgreSQL spells the specials itself.
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return "NaN" if math.isnan(value) else repr(value)


FORMATTERS: dict[Kind, Callable[[Any], str]] = {
    Kind.UUID: str,  # already canonical text, which needs no escape
    Kind.TEXT: copy_text,
    Kind.TIMESTAMP: str,  # already ISO text, which needs no escape
    Kind.DATE: date.isoformat,
    Kind.FLOAT: copy_float,
}
"""Per kind, a parsed value as COPY text; ``rows.py`` writes the same out per column."""
