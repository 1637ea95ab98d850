"""Each table's sample rows, one block at a time, stamped as a bulk load would stamp them.

A table of ``tables.TABLES`` gets its sample rows from its entry in ``RECIPES``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..tables import TABLES
from .draw import between, expand, new_id
from .links import Block
from .measured import (
    FILMS,
    FIRST_LOADED,
    GENRE_LINKS,
    GENRES,
    HOSTILE_FILMS,
    LOAD_STARTED,
    NULL_DESCRIPTIONS,
    NULL_RATINGS,
    PEOPLE,
    PERSON_LINKS,
    RATING_UNITS,
    ROW_STEP,
    TABLE_GAP,
    UPDATE_DELAY,
)
from .text import description_sentences, film_title, hostile_text, person_name

Row = dict[str, str | float | None]
"""A source row by column name; a column of the source DDL that a row leaves out is NULL."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Clock:
    """Stamps one table's rows as a bulk load would: increasing, microseconds apart."""

    __slots__ = ("_micros", "_prefix", "_second")

    def __init__(self, start: int) -> None:
        self._micros = start
        self._second = -1
        self._prefix = ""

    def tick(self, rng: random.Random) -> int:
        """Advance to the next row's created_at, in microseconds since the epoch."""
        self._micros = nudge(self._micros + between(rng, *ROW_STEP))
        return self._micros

    def text(self, micros: int) -> str:
        """Format like PostgreSQL prints timestamptz in UTC: trailing zeros trimmed, offset +00."""
        second, fraction = divmod(micros, 1_000_000)
        # Rows come microseconds apart, so the date/time part changes rarely: format it once.
        if second != self._second:
            self._second = second
            self._prefix = (_EPOCH + timedelta(seconds=second)).strftime("%Y-%m-%d %H:%M:%S")
        return f"{self._prefix}.{f'{fraction:06d}'.rstrip('0')}+00"


def nudge(micros: int) -> int:
    """Keep 3 to 6 fraction digits after trimming, the range the source catalog is documented to have."""
    return micros + 1 if micros % 10_000 == 0 else micros


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def genre_rows(block: Block, rng: random.Random, clock: Clock) -> Iterator[Row]:
    # Names repeat per block, so later blocks number theirs to keep genre names distinct.
    suffix = "" if block.index == 0 else f" {block.index + 1}"
    for genre_id, (name, _) in zip(block.genre_ids, GENRES, strict=True):
        created = clock.tick(rng)
        updated = nudge(created + between(rng, *UPDATE_DELAY))
        yield {
            "id": genre_id,
            "name": f"{name}{suffix}",
            "created_at": clock.text(created),
            "updated_at": clock.text(updated),
        }


def person_rows(block: Block, rng: random.Random, clock: Clock) -> Iterator[Row]:
    seen: set[str] = set()
    for person_id in block.person_ids:
        name = person_name(rng)
        # The real catalog has no repeated name; redraw rather than repeat one within a block.
        while name in seen:
            name = person_name(rng)
        seen.add(name)
        created = clock.tick(rng)
        updated = nudge(created + between(rng, *UPDATE_DELAY))
        yield {
            "id": person_id,
            "full_name": name,
            "created_at": clock.text(created),
            "updated_at": clock.text(updated),
        }


def film_rows(block: Block, rng: random.Random, clock: Clock) -> Iterator[Row]:
    films = len(block.film_ids)
    hostile = rng.sample(range(films), HOSTILE_FILMS)
    ordinals = {film: ordinal for ordinal, film in enumerate(sorted(hostile))}
    # Hostile rows keep their description: the hard text is mostly there.
    null_descriptions = set(rng.sample(sorted(set(range(films)) - set(hostile)), NULL_DESCRIPTIONS))
    units: list[int | None] = [*expand(RATING_UNITS), *([None] * NULL_RATINGS)]
    rng.shuffle(units)
    for film, (film_id, unit) in enumerate(zip(block.film_ids, units, strict=True)):
        description: str | None
        if film in ordinals:
            title, description = hostile_text(rng, ordinals[film])
        else:
            title = film_title(rng)
            description = None if film in null_descriptions else " ".join(description_sentences(rng))
        rating = None if unit is None else round(unit + between(rng, 0, 6 if unit == 9 else 9) / 10, 1)
        created = clock.tick(rng)
        updated = nudge(created + between(rng, *UPDATE_DELAY))
        yield {
            "id": film_id,
            "title": title,
            "description": description,
            "rating": rating,
            "type": "movie",
            "created_at": clock.text(created),
            "updated_at": clock.text(updated),
        }


def genre_link_rows(block: Block, rng: random.Random, clock: Clock) -> Iterator[Row]:
    for film, genre in block.film_genres:
        created = clock.tick(rng)
        yield {
            "id": new_id(rng),
            "film_work_id": block.film_ids[film],
            "genre_id": block.genre_ids[genre],
            "created_at": clock.text(created),
        }


def person_link_rows(block: Block, rng: random.Random, clock: Clock) -> Iterator[Row]:
    for film, person, role in block.film_people:
        created = clock.tick(rng)
        yield {
            "id": new_id(rng),
            "film_work_id": block.film_ids[film],
            "person_id": block.person_ids[person],
            "role": role,
            "created_at": clock.text(created),
        }


@dataclass(slots=True, frozen=True)
class Recipe:
    """How one table's sample rows are made, and how many rows one block has."""

    rows_per_block: int
    make_rows: Callable[[Block, random.Random, Clock], Iterator[Row]]


RECIPES: dict[str, Recipe] = {
    "genre": Recipe(len(GENRES), genre_rows),
    "person": Recipe(PEOPLE, person_rows),
    "film_work": Recipe(FILMS, film_rows),
    "genre_film_work": Recipe(GENRE_LINKS, genre_link_rows),
    "person_film_work": Recipe(PERSON_LINKS, person_link_rows),
}


def clocks(scale: int) -> dict[str, Clock]:
    """One clock per table, each starting after the previous table's whole load could have ended."""
    clocks = {}
    start = (LOAD_STARTED - _EPOCH) // timedelta(microseconds=1)
    for table in (FIRST_LOADED, *(table for table in TABLES if table != FIRST_LOADED)):
        clocks[table] = Clock(start)
        start += RECIPES[table].rows_per_block * scale * ROW_STEP[1] + TABLE_GAP
    return clocks
