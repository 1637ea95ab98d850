"""One dataclass per table of the catalog, in the target's column names and types.

Not frozen, though nothing mutates them: a frozen dataclass sets each field through
object.__setattr__, which made building one 4x dearer (0.94 against 0.23 us for a link
row), and a migration builds one per source row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import NewType

UuidText = NewType("UuidText", str)
"""A UUID as PostgreSQL prints it: lowercase hex digits in 8-4-4-4-12 groups.

Text rather than uuid.UUID: source ids nearly always arrive in this form, and checking the form is a
quarter of the cost of building a UUID object and printing it back (docs/BENCHMARKS.md).
"""


@dataclass(slots=True)
class Genre:
    id: UuidText
    name: str
    description: str | None
    created: datetime | None
    modified: datetime | None


@dataclass(slots=True)
class Person:
    id: UuidText
    full_name: str
    created: datetime | None
    modified: datetime | None


@dataclass(slots=True)
class FilmWork:
    id: UuidText
    title: str
    description: str | None
    creation_date: date | None
    rating: float | None
    type: str
    created: datetime | None
    modified: datetime | None


@dataclass(slots=True)
class GenreFilmWork:
    id: UuidText
    film_work_id: UuidText
    genre_id: UuidText
    created: datetime | None


@dataclass(slots=True)
class PersonFilmWork:
    id: UuidText
    film_work_id: UuidText
    person_id: UuidText
    role: str
    created: datetime | None


Record = Genre | Person | FilmWork | GenreFilmWork | PersonFilmWork
