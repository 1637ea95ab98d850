"""A deterministic synthetic legacy catalog in the source schema, shaped like the real one.

Scale 1 reproduces the real catalog's row counts and the distributions measured on it
(genres per film, people per film and role, links per person, ratings, NULLs, quoting,
timestamp text). Scale S writes S independent blocks of that shape, so every table grows
exactly S times while memory stays that of one block.
"""

from __future__ import annotations

import os
import random
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from string import Formatter
from typing import TypeVar

from .errors import MigrationError
from .schema import SOURCE_DDL

__all__ = ["BASE_COUNTS", "TABLE_ORDER", "expected_counts", "generate_catalog"]


# Parents before the tables that point at them, so the file never holds an orphan link.
TABLE_ORDER: tuple[str, ...] = ("genre", "person", "film_work", "genre_film_work", "person_film_work")

# Row counts of the real catalog; scale S writes S times each.
BASE_COUNTS: dict[str, int] = {
    "genre": 26,
    "person": 4166,
    "film_work": 999,
    "genre_film_work": 2231,
    "person_film_work": 5783,
}

# The real genres in their insertion order, with how many films use each (the weights).
GENRES: tuple[tuple[str, int], ...] = (
    ("Action", 244),
    ("Adventure", 213),
    ("Fantasy", 88),
    ("Sci-Fi", 311),
    ("Drama", 190),
    ("Music", 69),
    ("Romance", 77),
    ("Thriller", 27),
    ("Mystery", 14),
    ("Comedy", 206),
    ("Animation", 141),
    ("Family", 95),
    ("Biography", 32),
    ("Musical", 24),
    ("Crime", 14),
    ("Short", 172),
    ("Western", 18),
    ("Documentary", 157),
    ("History", 20),
    ("War", 12),
    ("Game-Show", 17),
    ("Reality-TV", 38),
    ("Horror", 16),
    ("Sport", 23),
    ("Talk-Show", 8),
    ("News", 5),
)

# Histograms measured on the real file, {value: how many}; each block uses them exactly,
# which is what makes the link counts come out exact rather than merely close.
GENRES_PER_FILM: dict[int, int] = {1: 337, 2: 278, 3: 272, 4: 65, 5: 29, 6: 12, 7: 4, 8: 1, 9: 1}
PEOPLE_PER_FILM: dict[str, dict[int, int]] = {
    "actor": {0: 70, 1: 67, 2: 40, 3: 34, 4: 788},
    "director": {0: 304, 1: 607, 2: 69, 3: 11, 4: 4, 5: 2, 7: 1, 10: 1},
    "writer": {
        0: 320, 1: 284, 2: 191, 3: 101, 4: 44, 5: 27, 6: 11, 7: 4,
        8: 3, 9: 4, 10: 4, 12: 1, 13: 2, 14: 2, 21: 1,
    },
}  # fmt: skip
LINKS_PER_PERSON: dict[int, int] = {
    1: 3377, 2: 538, 3: 114, 4: 52, 5: 22, 6: 18, 7: 8, 8: 7, 9: 7, 10: 2, 11: 4,
    12: 3, 13: 1, 14: 3, 15: 2, 16: 3, 19: 1, 23: 1, 29: 1, 32: 1, 51: 1,
}  # fmt: skip
# (film, person) pairs credited with several roles, as the real catalog has them.
SHARED_CREDITS: tuple[tuple[tuple[str, ...], int], ...] = (
    (("director", "writer"), 280),
    (("actor", "writer"), 55),
    (("actor", "director"), 24),
    (("actor", "director", "writer"), 49),
)
# Integer part of the 998 non-NULL ratings (1.0 .. 9.6); the decimal is drawn uniformly.
RATING_UNITS: dict[int, int] = {1: 6, 2: 16, 3: 29, 4: 56, 5: 139, 6: 288, 7: 305, 8: 147, 9: 12}
NULL_RATINGS = 1
NULL_DESCRIPTIONS = 249
# Films whose title carries a quote and whose text carries tabs, newlines or backslashes.
HOSTILE_FILMS = 70

# The real catalog was loaded in this order, so its created_at ranges follow it.
LOAD_ORDER: tuple[str, ...] = ("film_work", "genre", "person", "genre_film_work", "person_film_work")
LOAD_STARTED = datetime(2021, 6, 16, 20, 14, 9, 221838, tzinfo=UTC)
# Microseconds between consecutive rows and between created_at and updated_at, as measured.
ROW_STEP = (36, 62)
UPDATE_DELAY = (15, 30)
TABLE_GAP = 40_000

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ROLES: tuple[str, ...] = tuple(PEOPLE_PER_FILM)
_GENRE_INDEXES = range(len(GENRES))
_GENRE_CUMULATIVE = list(accumulate(weight for _, weight in GENRES))

_INSERT: dict[str, str] = {
    "genre": "INSERT INTO genre (id, name, description, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
    "person": "INSERT INTO person (id, full_name, created_at, updated_at) VALUES (?, ?, ?, ?)",
    "film_work": (
        "INSERT INTO film_work (id, title, description, creation_date, file_path, rating, type,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ),
    "genre_film_work": (
        "INSERT INTO genre_film_work (id, film_work_id, genre_id, created_at) VALUES (?, ?, ?, ?)"
    ),
    "person_film_work": (
        "INSERT INTO person_film_work (id, film_work_id, person_id, role, created_at) VALUES (?, ?, ?, ?, ?)"
    ),
}

Row = tuple[str | float | None, ...]
T = TypeVar("T")

# --- vocabulary -------------------------------------------------------------------------

FIRST_NAMES = (
    "Aaron", "Adam", "Alan", "Albert", "Alex", "Alice", "Amanda", "Amy", "Andrew", "Angela", "Anna",
    "Anthony", "Arthur", "Barbara", "Ben", "Bill", "Billy", "Bob", "Brian", "Bruce", "Carl", "Carol",
    "Carrie", "Charles", "Chris", "Christopher", "Claire", "Dan", "Daniel", "David", "Dean", "Dennis",
    "Diane", "Donald", "Dorothy", "Douglas", "Ed", "Edward", "Elizabeth", "Emily", "Emma", "Eric",
    "Frank", "Fred", "Gary", "Gene", "George", "Grace", "Greg", "Hannah", "Harold", "Harrison",
    "Helen", "Henry", "Ian", "Jack", "Jake", "James", "Jane", "Jason", "Jeff", "Jennifer", "Jessica",
    "Jim", "Joan", "Joe", "John", "Jonathan", "Joseph", "Judy", "Julia", "Karen", "Kate", "Keith",
    "Ken", "Kevin", "Kim", "Larry", "Laura", "Lee", "Leonard", "Linda", "Lisa", "Lucy", "Mark",
    "Martin", "Mary", "Matt", "Michael", "Michelle", "Mike", "Nancy", "Nick", "Norman", "Patrick",
    "Paul", "Peter", "Philip", "Rachel", "Ralph", "Richard", "Rick", "Robert", "Roger", "Ron", "Ruth",
    "Sam", "Sarah", "Scott", "Sean", "Stephen", "Steve", "Susan", "Thomas", "Tim", "Tom", "Tony",
    "Victoria", "Walter", "William", "Akira", "Hiroshi", "Kenji", "Yuki", "Lars", "Karel", "Jan",
    "Marco", "Luca", "Pierre", "Hans", "Ingrid", "Olga", "Igor", "Pavel", "Carlos", "Miguel",
)  # fmt: skip
ACCENTED_FIRST_NAMES = (
    "André", "José", "Céline", "Renée", "Jørgen", "Søren", "Álvaro", "Yûichi", "Väinö", "Zoë",
    "Chloé", "Björn", "Mónica", "Inés", "Raúl", "François", "Jérôme", "Héctor", "Ángeles", "Kôko",
)  # fmt: skip
LAST_NAMES = (
    "Adams", "Allen", "Anderson", "Baker", "Barnes", "Bell", "Bennett", "Brooks", "Brown", "Butler",
    "Campbell", "Carter", "Clark", "Collins", "Cook", "Cooper", "Cox", "Davis", "Dunne", "Edwards",
    "Evans", "Fisher", "Ford", "Foster", "Gibson", "Gordon", "Graham", "Gray", "Green", "Hall",
    "Hamill", "Harris", "Hayes", "Hill", "Howard", "Hughes", "Hunt", "Jackson", "James", "Jenkins",
    "Johnson", "Jones", "Kelly", "Kennedy", "King", "Knight", "Lane", "Lee", "Lewis", "Lucas",
    "Marshall", "Martin", "Mason", "Miller", "Mitchell", "Moore", "Morgan", "Morris", "Murphy",
    "Nelson", "Nichols", "Owen", "Palmer", "Parker", "Perry", "Phillips", "Porter", "Powell", "Price",
    "Reed", "Reynolds", "Richards", "Roberts", "Robinson", "Rogers", "Ross", "Russell", "Scott",
    "Shaw", "Simpson", "Smith", "Spencer", "Stewart", "Stone", "Sullivan", "Taylor", "Thomas",
    "Thompson", "Turner", "Walker", "Ward", "Watson", "Webb", "Wells", "West", "White", "Williams",
    "Wilson", "Wood", "Wright", "Young", "Tanaka", "Suzuki", "Nakamura", "Larsen", "Nielsen",
    "Novak", "Rossi", "Bianchi", "Dubois", "Moreau", "Schmidt", "Weber", "Ivanov", "Petrov",
    "Garcia", "Lopez", "Martinez", "Kowalski", "Andersson", "Lindqvist", "Kaufman", "Abrams",
)  # fmt: skip
ACCENTED_LAST_NAMES = (
    "Peña", "Treviño", "Verdú", "Mollà", "Béhat", "Møller", "Brüel", "Gråbøl", "Safránková", "Mädel",
    "Ôtsuka", "Müller", "Núñez", "Gómez", "Sánchez", "Zíma", "Mínguez", "Deyriès", "Endô", "Smolík",
)  # fmt: skip
QUOTED_LAST_NAMES = ("O'Bannon", "O'Reilly", "O'Connor", "O'Hara", "O'Ross", "D'Amico", "Nyong'o")
NICKNAMES = ("Giz", "Big Boy", "Gabby", "Primo", "So", "T.C.", "Doc")
PARTICLES = ("de", "del", "van", "von", "da", "di")
MONONYMS = ("Buronson", "DTeflon", "Madonna", "Prince", "Cher", "Moebius", "Vangelis", "Sting")

TITLE_NOUNS = (
    "Wars", "Trek", "Command", "Crossed", "Runners", "Kid", "Maker", "Hotel", "Sheriffs", "Tours",
    "Racers", "Man", "Child", "Light", "Quest", "Legacy", "Voyage", "Gate", "Fleet", "Academy",
    "Patrol", "Dream", "Fever", "Search", "Night", "Girl", "Boy", "City", "Island", "Road",
)  # fmt: skip
TITLE_ADJECTIVES = (
    "Lone", "Bright", "Dark", "Flaming", "Evening", "Morning", "Falling", "Shooting", "North", "Rock",
    "Pop", "Last", "Lucky", "Blue", "Red", "Silver", "Golden", "Lost", "Little", "Big", "Five",
    "Dying", "Distant", "Frozen", "Wandering", "Rising", "Black", "Hidden", "Brave", "Broken",
)  # fmt: skip
TITLE_SUBTITLES = (
    "A New Hope", "The Next Generation", "The Search", "Origins", "Revelations", "The Complete Saga",
    "The Final Frontier", "Beyond the Rim", "Of Gods and Men", "The Adventure Begins", "Renegades",
    "The Clone Wars", "Resurgence", "The Lost Episodes", "Legends", "Into Darkness", "Nemesis",
    "The Animated Series", "Behind the Magic", "Holiday Special", "First Contact", "Insurrection",
)  # fmt: skip
# Short and long forms mixed so lengths spread like the real titles' (median 22, up to 80).
TITLE_FORMS = (
    "Star {noun}: Episode {roman} - {subtitle}",
    "Star {noun}: {subtitle}",
    "Star {noun}: {subtitle}",
    "Star {noun} {roman}: The {adjective} {other}",
    "{adjective} Star",
    "The {adjective} Star",
    "A {adjective} Star Is Born",
    "{noun} of the {adjective} Star",
    "The {adjective} Star: {subtitle}",
    "Star {noun} {roman}",
    "The Star {noun}",
    "{adjective} {noun}",
    "{last} {n}: {adjective} Star",
    "{adjective} Star {noun}: The {other} of {last}",
    "{last} and the {adjective} Star",
)
ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX")
FOREIGN_TITLES = (
    "Star académie", "Unser Star für Oslo", "À la recherche de la nouvelle star", "È nata una star?",
    "Top star magazín", "Star suburb: La banlieue des étoiles", "Starmania. Österreich sucht den Star",
    "Beam Me Up - Die große Star Trek Show", "Star Trek: D·A·C", "Masters of Teräs Käsi",
)  # fmt: skip

JOBS = (
    "pilot", "smuggler", "detective", "farm boy", "singer", "scientist", "soldier", "thief",
    "journalist", "teacher", "doctor", "senator", "bounty hunter", "dancer", "engineer", "cowboy",
)  # fmt: skip
PLACES = (
    "a distant planet", "Texas", "the outskirts of London", "a small town in Iowa", "Hollywood",
    "the Delta Quadrant", "New York", "a mining colony", "the Neutral Zone", "Tokyo", "Paris",
    "a space station", "the Canadian Rockies", "Sicily", "Calcutta", "the frozen north",
)  # fmt: skip
ACCENTED_PLACES = ("Malmö", "São Paulo", "Reykjavík", "Zürich", "Kraków", "Besançon", "Córdoba", "Tromsø")
GOALS = (
    "save the galaxy", "find a missing sister", "win the championship", "clear a family name",
    "stop an invasion", "rescue a captured princess", "return home", "uncover a conspiracy",
    "make it in show business", "defend the town", "repair the ship", "deliver a secret message",
    "pay off an old debt", "survive the winter", "reunite the band", "bring peace to the colonies",
)  # fmt: skip
THREATS = (
    "the Empire strikes", "the money runs out", "the storm arrives", "the election", "time runs out",
    "the rebels attack", "the studio closes", "the wormhole collapses", "the fleet arrives",
)  # fmt: skip
THINGS = (
    "an ancient map", "a stolen droid", "a talking dog", "a meteor", "a forgotten diary",
    "a mysterious signal", "a cursed guitar", "a hidden fortune", "a time machine", "a secret code",
)  # fmt: skip
GROUPS = ("Federation", "studio", "council", "crew", "family", "band", "academy", "resistance")

# Plain sentences: no quote of any kind, so the rate of quoted text is set below, not by chance.
PLAIN_SENTENCES = (
    "{a}, a {job} from {place}, must {goal}.",
    "When {a} discovers {thing}, everything changes.",
    "Years later, {a} returns to {place} to {goal}.",
    "{a} and {b} team up to {goal} before {threat}.",
    "The {group} sends {a} on a mission to {place}.",
    "Nobody believes {a} until {threat}.",
    "Together with {b}, {a} sets out to {goal}.",
    "Meanwhile {b}, a {job}, plans to {goal} first.",
    "Set in {year}, the story follows {a}, a young {job}.",
    "Trapped in {place}, {a} and {b} must {goal}.",
    "Only {a} can {goal}, but the {group} stands in the way.",
    "A {job} named {a} finds {thing} in {place}.",
)
APOSTROPHE_SENTENCES = (
    "But {a}'s past catches up with the {group}.",
    "{a} doesn't trust {b}, and the {group} has plans of its own.",
    "It's {year}, and {a} can't {goal} alone.",
    "The {group}'s only hope is {a}.",
)
QUOTED_SENTENCES = (
    'Based on the novel "{title}" by {b}.',
    'The {group} calls {a} "the {job}".',
    'A sequel to "{title}".',
)
SHORT_DESCRIPTIONS = (
    "A biography of {a}.",
    "A look at the out-takes of the film.",
    "A documentary about {a}.",
    "A TV movie based on {title}.",
    "Junior version of {title}.",
)
# Sentences per description are log-normal: median 3, a long tail up to essay length, as measured.
SENTENCES_MU = 1.25
SENTENCES_SIGMA = 0.8
MAX_SENTENCES = 40
APOSTROPHE_RATE = 0.38
DOUBLE_QUOTE_RATE = 0.15
SHORT_RATE = 0.03
ACCENT_RATE = 0.02


# --- timestamps -------------------------------------------------------------------------


class _Clock:
    """Stamps one table's rows as a bulk load would: increasing, microseconds apart."""

    __slots__ = ("_micros", "_prefix", "_second")

    def __init__(self, start: int) -> None:
        self._micros = start
        self._second = -1
        self._prefix = ""

    def tick(self, rng: random.Random) -> int:
        """Advance to the next row's created_at, in microseconds since the epoch."""
        self._micros = _nudge(self._micros + _between(rng, *ROW_STEP))
        return self._micros

    def text(self, micros: int) -> str:
        """Format like PostgreSQL prints timestamptz in UTC: trailing zeros trimmed, offset +00."""
        second, fraction = divmod(micros, 1_000_000)
        # Rows come microseconds apart, so the date/time part changes rarely: format it once.
        if second != self._second:
            self._second = second
            self._prefix = (_EPOCH + timedelta(seconds=second)).strftime("%Y-%m-%d %H:%M:%S")
        return f"{self._prefix}.{f'{fraction:06d}'.rstrip('0')}+00"


def _nudge(micros: int) -> int:
    """Keep 3 to 6 fraction digits after trimming, the range the source catalog is documented to have."""
    return micros + 1 if micros % 10_000 == 0 else micros


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _clocks(scale: int) -> dict[str, _Clock]:
    """One clock per table, each starting after the previous table's whole load could have ended."""
    clocks = {}
    start = _micros(LOAD_STARTED)
    for table in LOAD_ORDER:
        clocks[table] = _Clock(start)
        start += BASE_COUNTS[table] * scale * ROW_STEP[1] + TABLE_GAP
    return clocks


# --- one block: the real catalog's shape with fresh ids and text ------------------------


@dataclass(slots=True)
class _Block:
    """Everything one block's link tables need: ids and which film links to what."""

    index: int
    genre_ids: list[str]
    person_ids: list[str]
    film_ids: list[str]
    film_genres: list[tuple[int, int]]
    film_people: list[tuple[int, int, str]]


def _pick(rng: random.Random, options: Sequence[T]) -> T:
    """``rng.choice``, several times faster: it draws one float instead of looping on getrandbits."""
    return options[int(rng.random() * len(options))]


def _between(rng: random.Random, low: int, high: int) -> int:
    """``rng.randint`` the fast way, as ``_pick``."""
    return low + int(rng.random() * (high - low + 1))


def _new_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _expand(histogram: dict[int, int]) -> list[int]:
    """The histogram as one value per item, e.g. {1: 2, 3: 1} -> [1, 1, 3]."""
    return [value for value, count in histogram.items() for _ in range(count)]


def _plan(rng: random.Random, index: int) -> _Block:
    """Draw a block's ids and links; only integers and ids, so a block costs little memory."""
    films = BASE_COUNTS["film_work"]
    genre_ids = [_new_id(rng) for _ in GENRES]
    person_ids = [_new_id(rng) for _ in range(BASE_COUNTS["person"])]
    film_ids = [_new_id(rng) for _ in range(films)]

    per_film = _expand(GENRES_PER_FILM)
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

    film_people = _cast(rng, films)
    return _Block(index, genre_ids, person_ids, film_ids, film_genres, film_people)


class _Casting:
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
            targets.append(_pick(rng, free))
        for _ in range(20):
            person = _pick(rng, pool)
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


def _cast(rng: random.Random, films: int) -> list[tuple[int, int, str]]:
    """Who plays, directs and writes what: the real per-film and per-person counts, shared credits too."""
    slots: list[tuple[int, str]] = []
    for role in _ROLES:
        counts = _expand(PEOPLE_PER_FILM[role])
        rng.shuffle(counts)
        slots.extend((film, role) for film, count in enumerate(counts) for _ in range(count))
    links = _expand(LINKS_PER_PERSON)
    rng.shuffle(links)
    people = [person for person, count in enumerate(links) for _ in range(count)]
    rng.shuffle(people)
    casting = _Casting(slots, people)
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


# --- text -------------------------------------------------------------------------------


def _person_name(rng: random.Random) -> str:
    """A name with the real mix: mostly 'First Last', some initials, accents, quotes, mononyms."""
    roll = rng.random()
    if roll < 0.004:
        return _pick(rng, MONONYMS)
    first = _pick(rng, ACCENTED_FIRST_NAMES) if rng.random() < 0.02 else _pick(rng, FIRST_NAMES)
    pick = rng.random()
    if pick < 0.025:
        last = _pick(rng, ACCENTED_LAST_NAMES)
    elif pick < 0.031:
        last = _pick(rng, QUOTED_LAST_NAMES)
    else:
        last = _pick(rng, LAST_NAMES)
    if roll < 0.08:
        return f"{first} {_pick(rng, 'ABCDEFGHJKLMNPRSTW')}. {last}"
    if roll < 0.12:
        return f"{first} {_pick(rng, FIRST_NAMES)} {last}"
    if roll < 0.135:
        return f"{first} {_pick(rng, PARTICLES)} {last}"
    if roll < 0.145:
        return f"{first} {last} Jr."
    if roll < 0.148:
        return f"{first} '{_pick(rng, NICKNAMES)}' {last}"
    return f"{first} {last}"


def _title(rng: random.Random) -> str:
    """A title from the real catalog's mould (it was a search for 'star'); never with a quote."""
    if rng.random() < 0.01:
        return _pick(rng, FOREIGN_TITLES)
    return _pick(rng, TITLE_FORMS).format(
        noun=_pick(rng, TITLE_NOUNS),
        other=_pick(rng, TITLE_NOUNS),
        adjective=_pick(rng, TITLE_ADJECTIVES),
        subtitle=_pick(rng, TITLE_SUBTITLES),
        roman=_pick(rng, ROMAN),
        last=_pick(rng, LAST_NAMES),
        n=_between(rng, 2, 5),
    )


# How to draw each placeholder of the sentence templates; only the ones a template names are drawn.
_PLACEHOLDERS: dict[str, Callable[[random.Random], object]] = {
    "a": lambda rng: _pick(rng, FIRST_NAMES),
    "b": lambda rng: f"{_pick(rng, FIRST_NAMES)} {_pick(rng, LAST_NAMES)}",
    "job": lambda rng: _pick(rng, JOBS),
    "place": lambda rng: _pick(rng, PLACES),
    "goal": lambda rng: _pick(rng, GOALS),
    "threat": lambda rng: _pick(rng, THREATS),
    "thing": lambda rng: _pick(rng, THINGS),
    "group": lambda rng: _pick(rng, GROUPS),
    "year": lambda rng: _between(rng, 1850, 2400),
    "title": _title,
}
_FIELDS: dict[str, tuple[str, ...]] = {
    template: tuple(dict.fromkeys(name for _, name, _, _ in Formatter().parse(template) if name))
    for template in (*PLAIN_SENTENCES, *APOSTROPHE_SENTENCES, *QUOTED_SENTENCES, *SHORT_DESCRIPTIONS)
}


def _fill(template: str, rng: random.Random) -> str:
    return template.format_map({name: _PLACEHOLDERS[name](rng) for name in _FIELDS[template]})


def _sentences(rng: random.Random) -> list[str]:
    """A description as sentences, with quotes and accents at the rates the real text has them."""
    if rng.random() < SHORT_RATE:
        return [_fill(_pick(rng, SHORT_DESCRIPTIONS), rng)]
    count = min(MAX_SENTENCES, max(1, round(rng.lognormvariate(SENTENCES_MU, SENTENCES_SIGMA))))
    sentences = [_fill(_pick(rng, PLAIN_SENTENCES), rng) for _ in range(count)]
    if rng.random() < APOSTROPHE_RATE:
        sentences[rng.randrange(count)] = _fill(_pick(rng, APOSTROPHE_SENTENCES), rng)
    if rng.random() < DOUBLE_QUOTE_RATE:
        sentences.insert(rng.randrange(count + 1), _fill(_pick(rng, QUOTED_SENTENCES), rng))
    if rng.random() < ACCENT_RATE:
        sentences.append(f"It was shot on location in {_pick(rng, ACCENTED_PLACES)}.")
    return sentences


def _hostile(rng: random.Random, ordinal: int) -> tuple[str, str]:
    """Title and description that break naive text protocols: COPY needs every one escaped."""
    name = _pick(rng, FIRST_NAMES)
    title = _title(rng)
    # Every hostile title has a quote, as the real catalog's 70 quoted titles do.
    quote = ordinal % 3
    if quote == 0:
        title = f"{name}'s {title}"
    elif quote == 1:
        title = f'{title}: The "{_pick(rng, TITLE_NOUNS)}" Cut'
    else:
        title = f"{title} - '{_pick(rng, TITLE_ADJECTIVES)}'"
    parts = _sentences(rng)
    # Separators only show between sentences, so a one-line description gets a second line.
    if len(parts) < 2:
        parts.append(_fill(_pick(rng, PLAIN_SENTENCES), rng))
    kind = ordinal % 8
    if kind == 0:
        return title, "\t".join(parts)
    if kind == 1:
        return title, "\n\n".join(parts)
    if kind == 2:
        return title, "\r\n".join(parts)
    if kind == 3:
        return title, " ".join([*parts, "Restored from C:\\Archive\\Star\\reel1.mov."])
    if kind == 4:
        # A literal backslash-N is COPY's NULL marker: it must arrive as text, not as NULL.
        return title, " ".join([*parts, "Runtime: \\N minutes."])
    if kind == 5:
        return title, " ".join(parts) + " \\"
    if kind == 6:
        return f"{title} \\ Director's Cut", " ".join(parts)
    return title, " ".join(parts[:1]) + '\n\t"Quoted,\\t not a tab" \\\\ ' + " ".join(parts[1:])


# --- rows -------------------------------------------------------------------------------


def _genre_rows(block: _Block, rng: random.Random, clock: _Clock) -> Iterator[Row]:
    # Names repeat per block, so later blocks number theirs to keep genre names distinct.
    suffix = "" if block.index == 0 else f" {block.index + 1}"
    for genre_id, (name, _) in zip(block.genre_ids, GENRES, strict=True):
        created = clock.tick(rng)
        updated = _nudge(created + _between(rng, *UPDATE_DELAY))
        yield genre_id, f"{name}{suffix}", None, clock.text(created), clock.text(updated)


def _person_rows(block: _Block, rng: random.Random, clock: _Clock) -> Iterator[Row]:
    seen: set[str] = set()
    for person_id in block.person_ids:
        name = _person_name(rng)
        # The real catalog has no repeated name; redraw rather than repeat one within a block.
        while name in seen:
            name = _person_name(rng)
        seen.add(name)
        created = clock.tick(rng)
        updated = _nudge(created + _between(rng, *UPDATE_DELAY))
        yield person_id, name, clock.text(created), clock.text(updated)


def _film_rows(block: _Block, rng: random.Random, clock: _Clock) -> Iterator[Row]:
    films = len(block.film_ids)
    hostile = rng.sample(range(films), HOSTILE_FILMS)
    ordinals = {film: ordinal for ordinal, film in enumerate(sorted(hostile))}
    # Hostile rows keep their description: the hard text is mostly there.
    null_descriptions = set(rng.sample(sorted(set(range(films)) - set(hostile)), NULL_DESCRIPTIONS))
    units: list[int | None] = [*_expand(RATING_UNITS), *([None] * NULL_RATINGS)]
    rng.shuffle(units)
    for film, (film_id, unit) in enumerate(zip(block.film_ids, units, strict=True)):
        description: str | None
        if film in ordinals:
            title, description = _hostile(rng, ordinals[film])
        else:
            title = _title(rng)
            description = None if film in null_descriptions else " ".join(_sentences(rng))
        rating = None if unit is None else round(unit + _between(rng, 0, 6 if unit == 9 else 9) / 10, 1)
        created = clock.tick(rng)
        updated = _nudge(created + _between(rng, *UPDATE_DELAY))
        yield (
            film_id, title, description, None, None, rating, "movie", clock.text(created), clock.text(updated)
        )  # fmt: skip


def _genre_link_rows(block: _Block, rng: random.Random, clock: _Clock) -> Iterator[Row]:
    for film, genre in block.film_genres:
        created = clock.tick(rng)
        yield _new_id(rng), block.film_ids[film], block.genre_ids[genre], clock.text(created)


def _person_link_rows(block: _Block, rng: random.Random, clock: _Clock) -> Iterator[Row]:
    for film, person, role in block.film_people:
        created = clock.tick(rng)
        yield _new_id(rng), block.film_ids[film], block.person_ids[person], role, clock.text(created)


# --- the file ---------------------------------------------------------------------------


def _check_arguments(target: Path, scale: int, seed: int, overwrite: bool) -> None:
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise MigrationError(f"scale must be a whole number of at least 1, not {scale!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise MigrationError(f"seed must be an integer, not {seed!r}")
    if target.is_dir():
        raise MigrationError(f"{target} is a directory; give the path of a SQLite file to write")
    if target.exists() and not overwrite:
        raise MigrationError(
            f"{target} already exists; pass overwrite=True (--force on the command line) to replace it"
        )
    if not target.parent.is_dir():
        raise MigrationError(f"cannot write {target}: directory {target.parent} does not exist")


def _write(connection: sqlite3.Connection, scale: int, seed: int) -> dict[str, int]:
    counts = dict.fromkeys(TABLE_ORDER, 0)
    clocks = _clocks(scale)
    makers = {
        "genre": _genre_rows,
        "person": _person_rows,
        "film_work": _film_rows,
        "genre_film_work": _genre_link_rows,
        "person_film_work": _person_link_rows,
    }
    cursor = connection.cursor()
    cursor.execute("BEGIN")
    for index in range(scale):
        # A stream per block: block 0 is the same at every scale, and a block's memory is freed
        # before the next is drawn.
        rng = random.Random(f"sqlite_to_postgres.generate:{seed}:{index}")
        block = _plan(rng, index)
        for table in TABLE_ORDER:
            rows: Iterable[Row] = makers[table](block, rng, clocks[table])
            cursor.executemany(_INSERT[table], rows)
            counts[table] += cursor.rowcount
    cursor.execute("COMMIT")
    return counts


def generate_catalog(
    path: str | os.PathLike[str], scale: int = 1, seed: int = 0, *, overwrite: bool = False
) -> dict[str, int]:
    """Write a legacy catalog shaped like the real one, ``scale`` times over; return rows per table."""
    target = Path(path)
    _check_arguments(target, scale, seed, overwrite)
    # Build beside the target and rename at the end, so a failed run never leaves half a catalog.
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)
    try:
        connection = sqlite3.connect(partial, isolation_level=None)
        try:
            # Nothing to protect while the file is private and discarded on failure: skip the
            # journal and fsyncs. Neither setting is stored in the file.
            connection.execute("PRAGMA journal_mode=OFF")
            connection.execute("PRAGMA synchronous=OFF")
            # Random uuid keys touch index pages all over the file; a 32 MB page cache (instead of
            # 2 MB) turns most of those page reads from system calls into memory hits.
            connection.execute("PRAGMA cache_size=-32768")
            connection.executescript(SOURCE_DDL.read_text(encoding="utf-8"))
            counts = _write(connection, scale, seed)
            connection.execute("PRAGMA journal_mode=DELETE")
        finally:
            connection.close()
        if target.exists() and not overwrite:
            raise MigrationError(f"{target} appeared while generating; pass overwrite=True to replace it")
        os.replace(partial, target)
    except (sqlite3.Error, OSError) as error:
        raise MigrationError(f"cannot write {target}: {error}") from error
    finally:
        partial.unlink(missing_ok=True)
    return counts


def expected_counts(scale: int = 1) -> dict[str, int]:
    """Rows per table that ``generate_catalog`` writes at ``scale``."""
    return {table: BASE_COUNTS[table] * scale for table in TABLE_ORDER}
