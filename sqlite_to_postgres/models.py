"""One dataclass per table of the catalog, in the target's column names and types."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID


@dataclass(slots=True, frozen=True)
class Genre:
    id: UUID
    name: str
    description: str | None
    created: datetime | None
    modified: datetime | None


@dataclass(slots=True, frozen=True)
class Person:
    id: UUID
    full_name: str
    created: datetime | None
    modified: datetime | None


@dataclass(slots=True, frozen=True)
class FilmWork:
    id: UUID
    title: str
    description: str | None
    creation_date: date | None
    rating: float | None
    type: str
    created: datetime | None
    modified: datetime | None


@dataclass(slots=True, frozen=True)
class GenreFilmWork:
    id: UUID
    film_work_id: UUID
    genre_id: UUID
    created: datetime | None


@dataclass(slots=True, frozen=True)
class PersonFilmWork:
    id: UUID
    film_work_id: UUID
    person_id: UUID
    role: str
    created: datetime | None


Record = Genre | Person | FilmWork | GenreFilmWork | PersonFilmWork
