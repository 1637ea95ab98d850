"""The catalog's tables as data: how each source column maps onto the target.

Adding a table is one dataclass in ``models``, one entry in ``TABLES`` and its
row code in ``rows`` (a test fails until it is there); the pipeline reads
everything else it needs from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from . import models
from .errors import MigrationError


class Kind(StrEnum):
    """The target type of a column, which decides how a source value is parsed."""

    UUID = "uuid"
    TEXT = "text"
    DATE = "date"
    FLOAT = "float"
    TIMESTAMP = "timestamptz"


@dataclass(slots=True, frozen=True)
class Column:
    source: str
    target: str
    kind: Kind
    nullable: bool = True


@dataclass(slots=True, frozen=True)
class ForeignKey:
    column: str
    parent: str


@dataclass(slots=True, frozen=True)
class TableSpec:
    """A source table, its target table and everything that links the two."""

    name: str
    model: type[models.Record]
    columns: tuple[Column, ...]
    # Source columns with no target column: data found there is reported, not dropped silently.
    unmapped: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    # Target columns of a UNIQUE constraint besides the primary key.
    natural_key: tuple[str, ...] = ()
    target_schema: str = "content"

    @property
    def source_columns(self) -> tuple[str, ...]:
        return tuple(column.source for column in self.columns)

    @property
    def target_columns(self) -> tuple[str, ...]:
        return tuple(column.target for column in self.columns)


def _id() -> Column:
    return Column("id", "id", Kind.UUID, nullable=False)


def _created() -> Column:
    return Column("created_at", "created", Kind.TIMESTAMP)


def _modified() -> Column:
    return Column("updated_at", "modified", Kind.TIMESTAMP)


# In foreign-key order: parents before the tables that point at them.
TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec(
            name="genre",
            model=models.Genre,
            columns=(
                _id(),
                Column("name", "name", Kind.TEXT, nullable=False),
                Column("description", "description", Kind.TEXT),
                _created(),
                _modified(),
            ),
        ),
        TableSpec(
            name="person",
            model=models.Person,
            columns=(
                _id(),
                Column("full_name", "full_name", Kind.TEXT, nullable=False),
                _created(),
                _modified(),
            ),
        ),
        TableSpec(
            name="film_work",
            model=models.FilmWork,
            columns=(
                _id(),
                Column("title", "title", Kind.TEXT, nullable=False),
                Column("description", "description", Kind.TEXT),
                Column("creation_date", "creation_date", Kind.DATE),
                Column("rating", "rating", Kind.FLOAT),
                Column("type", "type", Kind.TEXT, nullable=False),
                _created(),
                _modified(),
            ),
            unmapped=("file_path",),
        ),
        TableSpec(
            name="genre_film_work",
            model=models.GenreFilmWork,
            columns=(
                _id(),
                Column("film_work_id", "film_work_id", Kind.UUID, nullable=False),
                Column("genre_id", "genre_id", Kind.UUID, nullable=False),
                _created(),
            ),
            foreign_keys=(ForeignKey("film_work_id", "film_work"), ForeignKey("genre_id", "genre")),
            natural_key=("film_work_id", "genre_id"),
        ),
        TableSpec(
            name="person_film_work",
            model=models.PersonFilmWork,
            columns=(
                _id(),
                Column("film_work_id", "film_work_id", Kind.UUID, nullable=False),
                Column("person_id", "person_id", Kind.UUID, nullable=False),
                Column("role", "role", Kind.TEXT, nullable=False),
                _created(),
            ),
            foreign_keys=(ForeignKey("film_work_id", "film_work"), ForeignKey("person_id", "person")),
            natural_key=("film_work_id", "person_id", "role"),
        ),
    )
}

TABLE_NAMES: tuple[str, ...] = tuple(TABLES)


def get_table(name: str) -> TableSpec:
    """The spec of table ``name``; a clear error for a name the catalog does not have."""
    try:
        return TABLES[name]
    except KeyError:
        raise MigrationError(f"unknown table {name!r}; known tables: {', '.join(TABLE_NAMES)}") from None
