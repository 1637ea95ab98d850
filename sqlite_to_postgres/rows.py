"""Each table's two per-row steps, written out: a source row into its dataclass, a dataclass into a COPY line.

They run once per source row and are most of a migration's client time, so each column is written
inline rather than looped over: a value already in its target form costs a test or two and no call
(a canonical uuid, text without NUL, a float, an ISO timestamp once Python has read it; a date is one
C call). Any other value goes to its kind's ``parse_*`` function in ``values.py``, which converts it
or refuses it. A required column's parse function is called on None too, and refuses it like any
other wrong type. In the COPY line, only text can need escapes; uuids and ISO timestamps never do.

A new table in ``tables.TABLES`` needs its two functions here and an entry in ``ROW_CODE``;
tests/test_transform.py checks every table's functions against its columns, kinds and order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, TypeVar

from .errors import MigrationError
from .extract import SourceRow
from .models import FilmWork, Genre, GenreFilmWork, Person, PersonFilmWork, Record
from .values import (
    COPY_NULL,
    copy_float,
    escaped,
    is_canonical_uuid,
    is_iso_timestamp,
    parse_date,
    parse_float,
    parse_text,
    parse_timestamp_text,
    parse_uuid,
)

# Bound once, so the per-row code calls them without looking up an attribute.
timestamp_from_text = datetime.fromisoformat
date_from_text = date.fromisoformat

R = TypeVar("R", bound=Record)


@dataclass(slots=True, frozen=True)
class RowCode(Generic[R]):
    """The two per-row steps of one table."""

    parse: Callable[[SourceRow], R]
    render: Callable[[R], str]


def parse_genre(row: SourceRow) -> Genre:
    _, id_, name, description, created, modified = row
    return Genre(
        id_ if type(id_) is str and is_canonical_uuid(id_) else parse_uuid(id_),
        name if type(name) is str and "\x00" not in name else parse_text(name),
        None if description is None else
        description if type(description) is str and "\x00" not in description else parse_text(description),
        None if created is None else
        created if type(created) is str and is_iso_timestamp(created) and timestamp_from_text(created)
        else parse_timestamp_text(created),
        None if modified is None else
        modified if type(modified) is str and is_iso_timestamp(modified) and timestamp_from_text(modified)
        else parse_timestamp_text(modified),
    )  # fmt: skip


def render_genre(record: Genre) -> str:
    name = record.name
    if "\\" in name or "\t" in name or "\n" in name or "\r" in name:
        name = escaped(name)
    description = record.description
    if description is not None and (
        "\\" in description or "\t" in description or "\n" in description or "\r" in description
    ):
        description = escaped(description)
    created = record.created
    modified = record.modified
    return (
        f"{record.id}\t{name}\t{COPY_NULL if description is None else description}"
        f"\t{COPY_NULL if created is None else created}\t{COPY_NULL if modified is None else modified}\n"
    )


def parse_person(row: SourceRow) -> Person:
    _, id_, full_name, created, modified = row
    return Person(
        id_ if type(id_) is str and is_canonical_uuid(id_) else parse_uuid(id_),
        full_name if type(full_name) is str and "\x00" not in full_name else parse_text(full_name),
        None if created is None else
        created if type(created) is str and is_iso_timestamp(created) and timestamp_from_text(created)
        else parse_timestamp_text(created),
        None if modified is None else
        modified if type(modified) is str and is_iso_timestamp(modified) and timestamp_from_text(modified)
        else parse_timestamp_text(modified),
    )  # fmt: skip


def render_person(record: Person) -> str:
    full_name = record.full_name
    if "\\" in full_name or "\t" in full_name or "\n" in full_name or "\r" in full_name:
        full_name = escaped(full_name)
    created = record.created
    modified = record.modified
    return (
        f"{record.id}\t{full_name}"
        f"\t{COPY_NULL if created is None else created}\t{COPY_NULL if modified is None else modified}\n"
    )


def parse_film_work(row: SourceRow) -> FilmWork:
    _, id_, title, description, creation_date, rating, film_type, created, modified = row
    return FilmWork(
        id_ if type(id_) is str and is_canonical_uuid(id_) else parse_uuid(id_),
        title if type(title) is str and "\x00" not in title else parse_text(title),
        None if description is None else
        description if type(description) is str and "\x00" not in description else parse_text(description),
        None if creation_date is None else
        date_from_text(creation_date) if type(creation_date) is str else parse_date(creation_date),
        None if rating is None else rating if type(rating) is float else parse_float(rating),
        film_type if type(film_type) is str and "\x00" not in film_type else parse_text(film_type),
        None if created is None else
        created if type(created) is str and is_iso_timestamp(created) and timestamp_from_text(created)
        else parse_timestamp_text(created),
        None if modified is None else
        modified if type(modified) is str and is_iso_timestamp(modified) and timestamp_from_text(modified)
        else parse_timestamp_text(modified),
    )  # fmt: skip


def render_film_work(record: FilmWork) -> str:
    title = record.title
    if "\\" in title or "\t" in title or "\n" in title or "\r" in title:
        title = escaped(title)
    description = record.description
    if description is not None and (
        "\\" in description or "\t" in description or "\n" in description or "\r" in description
    ):
        description = escaped(description)
    creation_date = record.creation_date
    rating = record.rating
    film_type = record.type
    if "\\" in film_type or "\t" in film_type or "\n" in film_type or "\r" in film_type:
        film_type = escaped(film_type)
    created = record.created
    modified = record.modified
    return (
        f"{record.id}\t{title}\t{COPY_NULL if description is None else description}"
        f"\t{COPY_NULL if creation_date is None else creation_date.isoformat()}"
        f"\t{COPY_NULL if rating is None else copy_float(rating)}\t{film_type}"
        f"\t{COPY_NULL if created is None else created}\t{COPY_NULL if modified is None else modified}\n"
    )


def parse_genre_film_work(row: SourceRow) -> GenreFilmWork:
    _, id_, film_work_id, genre_id, created = row
    return GenreFilmWork(
        id_ if type(id_) is str and is_canonical_uuid(id_) else parse_uuid(id_),
        film_work_id if type(film_work_id) is str and is_canonical_uuid(film_work_id)
        else parse_uuid(film_work_id),
        genre_id if type(genre_id) is str and is_canonical_uuid(genre_id) else parse_uuid(genre_id),
        None if created is None else
        created if type(created) is str and is_iso_timestamp(created) and timestamp_from_text(created)
        else parse_timestamp_text(created),
    )  # fmt: skip


def render_genre_film_work(record: GenreFilmWork) -> str:
    created = record.created
    return f"{record.id}\t{record.film_work_id}\t{record.genre_id}\t{COPY_NULL if created is None else created}\n"


def parse_person_film_work(row: SourceRow) -> PersonFilmWork:
    _, id_, film_work_id, person_id, role, created = row
    return PersonFilmWork(
        id_ if type(id_) is str and is_canonical_uuid(id_) else parse_uuid(id_),
        film_work_id if type(film_work_id) is str and is_canonical_uuid(film_work_id)
        else parse_uuid(film_work_id),
        person_id if type(person_id) is str and is_canonical_uuid(person_id) else parse_uuid(person_id),
        role if type(role) is str and "\x00" not in role else parse_text(role),
        None if created is None else
        created if type(created) is str and is_iso_timestamp(created) and timestamp_from_text(created)
        else parse_timestamp_text(created),
    )  # fmt: skip


def render_person_film_work(record: PersonFilmWork) -> str:
    role = record.role
    if "\\" in role or "\t" in role or "\n" in role or "\r" in role:
        role = escaped(role)
    created = record.created
    return (
        f"{record.id}\t{record.film_work_id}\t{record.person_id}\t{role}"
        f"\t{COPY_NULL if created is None else created}\n"
    )


ROW_CODE: dict[str, RowCode[Any]] = {
    "genre": RowCode(parse_genre, render_genre),
    "person": RowCode(parse_person, render_person),
    "film_work": RowCode(parse_film_work, render_film_work),
    "genre_film_work": RowCode(parse_genre_film_work, render_genre_film_work),
    "person_film_work": RowCode(parse_person_film_work, render_person_film_work),
}


def row_code(table: str) -> RowCode[Any]:
    """The per-row steps of ``table``; a clear error for a table that has none here yet."""
    try:
        return ROW_CODE[table]
    except KeyError:
        raise MigrationError(f"table {table!r} has no row code: add its functions to rows.py") from None
