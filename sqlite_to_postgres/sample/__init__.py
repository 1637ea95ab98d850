"""Sample data: a deterministic synthetic legacy catalog in the source schema, shaped like the real one.

Scale 1 reproduces the real catalog's row counts and the distributions measured on it
(genres per film, people per film and role, links per person, ratings, NULLs, quoting,
timestamp text). Scale S writes S independent blocks of that shape, so every table grows
exactly S times while memory stays that of one block. A tool for tests and benchmarks, not a
stage of the migration: ``python -m sqlite_to_postgres generate --out X --scale S``.

- ``measured``: the real catalog's shape; ``words`` and ``text``: the sample text;
- ``links``: one block's ids and links; ``recipes``: each table's rows;
- ``catalog``: the file, its tables and columns taken from the source DDL.
"""

from .catalog import expected_counts, generate_catalog

__all__ = ["expected_counts", "generate_catalog"]
