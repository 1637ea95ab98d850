"""The real catalog's shape, as measured on it: what every sample block reproduces exactly."""

from __future__ import annotations

from datetime import UTC, datetime

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

# The real catalog loaded film_work first, then the other tables in foreign-key order, so its
# created_at ranges follow that order.
FIRST_LOADED = "film_work"
LOAD_STARTED = datetime(2021, 6, 16, 20, 14, 9, 221838, tzinfo=UTC)
# Microseconds between consecutive rows and between created_at and updated_at, as measured.
ROW_STEP = (36, 62)
UPDATE_DELAY = (15, 30)
TABLE_GAP = 40_000

# Rows of one block, which follow from the histograms above.
FILMS = sum(GENRES_PER_FILM.values())
PEOPLE = sum(LINKS_PER_PERSON.values())
GENRE_LINKS = sum(genres * films for genres, films in GENRES_PER_FILM.items())
PERSON_LINKS = sum(links * people for links, people in LINKS_PER_PERSON.items())
