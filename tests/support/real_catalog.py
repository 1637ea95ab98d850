"""Facts measured on the real catalog, ../shared/data/movies.sqlite (see its README)."""

REAL_COUNTS = {
    "genre": 26,
    "person": 4166,
    "film_work": 999,
    "genre_film_work": 2231,
    "person_film_work": 5783,
}
