"""One block's ids and links: which film has which genres, and who plays, directs and writes what."""

from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import accumulate

from .draw import expand, new_id, pick
from .measured import (
    FILMS,
    GENRES,
    GENRES_PER_FILM,
    LINKS_PER_PERSON,
    PEOPLE,
    PEOPLE_PER_FILM,
    SHARED_CREDITS,
)

_ROLES: tuple[str, ...] = tuple(PEOPLE_PER_FILM)
_GENRE_INDEXES = range(len(GENRES))
_GENRE_CUMULATIVE = list(accumulate(weight for _, weight in GENRES))


@dataclass(slots=True)
class Block:
    """Everything one block's link tables need: ids and which film links to what."""

    index: int
    genre_ids: list[str]
    person_ids: list[str]
    film_ids: list[str]
    film_genres: list[tuple[int, int]]
    film_people: list[tuple[int, int, str]]


def plan(rng: random.Random, index: int) -> Block:
    """Draw a block's ids and links; only integers and ids, so a block costs little memory."""
    genre_ids = [new_id(rng) for _ in GENRES]
    person_ids = [new_id(rng) for _ in range(PEOPLE)]
    film_ids = [new_id(rng) for _ in range(FILMS)]

    per_film = expand(GENRES_PER_FILM)
    rng.shuffle(per_film)
    film_genres: list[tuple[int, int]] = []
    for film, wanted in enumerate(per_film):
        chosen: list[int] = []
        while len(chosen) < wanted:
            genre = rng.choices(_GENRE_INDEXES, cum_weights=_GENRE_CUMULATIVE)[0]
            if genre not in chosen:
                chosen.append(genre)
        film_genres.extend((film, genre) for genre in chosen)
    # The real link rows are in no particular film order; neither are these.
    rng.shuffle(film_genres)

    film_people = cast_people(rng, FILMS)
    return Block(index, genre_ids, person_ids, film_ids, film_genres, film_people)


class Casting:
    """People in (film, role) slots, only ever rearranged by swaps so each person's link count holds."""

    def __init__(self, slots: list[tuple[int, str]], people: list[int]) -> None:
        self.slots = slots
        self.people = people
        self.taken: set[tuple[int, int, str]] = set()
        self.placed = [False] * len(slots)
        self.locked = [False] * len(slots)
        self.by_film_role: dict[tuple[int, str], list[int]] = {}
        self.by_person: dict[int, list[int]] = {}
        for k, slot in enumerate(slots):
            self.by_film_role.setdefault(slot, []).append(k)
            self.by_person.setdefault(people[k], []).append(k)

    def _key(self, k: int) -> tuple[int, int, str]:
        film, role = self.slots[k]
        return film, self.people[k], role

    def place(self, rng: random.Random) -> None:
        """Seat everyone, then swap away every repeated (film, person, role)."""
        clashes = []
        for k in range(len(self.slots)):
            if self._key(k) in self.taken:
                clashes.append(k)
            else:
                self.taken.add(self._key(k))
                self.placed[k] = True
        for k in clashes:
            while not self.swap(k, rng.randrange(len(self.slots))):
                pass

    def swap(self, i: int, j: int) -> bool:
        """Exchange the people of slots i and j, unless that would repeat a (film, person, role)."""
        if self.people[i] == self.people[j]:
            return False
        old = [self._key(k) for k in (i, j) if self.placed[k]]
        self.taken.difference_update(old)
        (film_i, role_i), (film_j, role_j) = self.slots[i], self.slots[j]
        new_i, new_j = (film_i, self.people[j], role_i), (film_j, self.people[i], role_j)
        if new_i == new_j or new_i in self.taken or new_j in self.taken:
            self.taken.update(old)
            return False
        self.taken.update((new_i, new_j))
        person_i, person_j = self.people[i], self.people[j]
        self.by_person[person_i].remove(i)
        self.by_person[person_j].remove(j)
        self.by_person[person_i].append(j)
        self.by_person[person_j].append(i)
        self.people[i], self.people[j] = person_j, person_i
        self.placed[i] = self.placed[j] = True
        return True

    def share(self, film: int, roles: tuple[str, ...], pool: list[int], rng: random.Random) -> bool:
        """Give one person every role of ``roles`` in ``film``, moving them out of other films."""
        targets = []
        for role in roles:
            free = [k for k in self.by_film_role.get((film, role), ()) if not self.locked[k]]
            if not free:
                return False
            targets.append(pick(rng, free))
        for _ in range(20):
            person = pick(rng, pool)
            donors = [k for k in self.by_person[person] if not self.locked[k] and self.slots[k][0] != film]
            if len(donors) < len(targets):
                continue
            moved = [
                t for t, d in zip(targets, rng.sample(donors, len(targets)), strict=True) if self.swap(t, d)
            ]
            for t in moved:
                self.locked[t] = True
            if len(moved) == len(targets):
                return True
            if moved:
                # Half-shared is still a valid catalog; don't pile another person onto this film.
                return False
        return False

    def rows(self) -> list[tuple[int, int, str]]:
        return [self._key(k) for k in range(len(self.slots))]


def cast_people(rng: random.Random, films: int) -> list[tuple[int, int, str]]:
    """Who plays, directs and writes what: the real per-film and per-person counts, shared credits too."""
    slots: list[tuple[int, str]] = []
    for role in _ROLES:
        counts = expand(PEOPLE_PER_FILM[role])
        rng.shuffle(counts)
        slots.extend((film, role) for film, count in enumerate(counts) for _ in range(count))
    links = expand(LINKS_PER_PERSON)
    rng.shuffle(links)
    people = [person for person, count in enumerate(links) for _ in range(count)]
    rng.shuffle(people)
    casting = Casting(slots, people)
    casting.place(rng)
    # Only people credited more than once can take a second role without leaving another film.
    pool = [person for person, count in enumerate(links) if count > 1]
    for roles, wanted in SHARED_CREDITS:
        candidates = [f for f in range(films) if all((f, role) in casting.by_film_role for role in roles)]
        rng.shuffle(candidates)
        done = 0
        for film in candidates:
            if done == wanted:
                break
            done += casting.share(film, roles, pool, rng)
    film_people = casting.rows()
    # The real link rows are in no particular film order; neither are these.
    rng.shuffle(film_people)
    return film_people
