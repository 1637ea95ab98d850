"""One dataclass per table of the catalog, in the target's column names and types.

Not frozen, though nothing mutates them: a frozen dataclass sets each field through
object.__setattr__, which made building one 4x dearer (0.94 against 0.23 us for a link
row), and a migration builds one per source row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import NewType

UuidText = NewType("UuidText", str)
"""A UUID as PostgreSQL prints it: lowercase hex digits in 8-4-4-4-12 groups.

Text rather than uuid.UUID: source ids nearly always arrive in this form, and checking the form is a
quarter of the cost of building a UUID object and printing it back (docs/BENCHMARKS.md).
"""

TimestampText = NewType("TimestampText", str)
"""A timestamp with its UTC offset, as ISO 8601 text that PostgreSQL reads as the same instant.

Source text already in that form (``2021-06-16 20:14:09.309735+00``) is kept as written, after
Python has parsed it to check it; any other form is parsed and written out again. Text rather than
datetime: printing a datetime with its offset was a fifth of a whole load's client time.
"""


@dataclass(slots=True)
class Genre:
    id: UuidText
    name: str
    description: str | None
    created: TimestampText | None
    modified: TimestampText | None


@dataclass(slots=True)
class Person:
    id: UuidText
    full_name: str
    created: TimestampText | None
    modified: TimestampText | None


@dataclass(slots=True)
class FilmWork:
    id: UuidText
    title: str
    description: str | None
    creation_date: date | None
    rating: float | None
    type: str
    created: TimestampText | None
    modified: TimestampText | None


@dataclass(slots=True)
class GenreFilmWork:
    id: UuidText
    film_work_id: UuidText
    genre_id: UuidText
    created: TimestampText | None


@dataclass(slots=True)
class PersonFilmWork:
    id: UuidText
    film_work_id: UuidText
    person_id: UuidText
    role: str
    created: TimestampText | None


Record = Genre | Person | FilmWork | GenreFilmWork | PersonFilmWork
