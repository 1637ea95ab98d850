"""Verify: prove that PostgreSQL holds what SQLite holds, every row accounted for, in bounded memory.

>>> from sqlite_to_postgres.verify import check_consistency
>>> report = check_consistency(source, target)  # doctest: +SKIP
>>> print(report.format()); report.ok  # doctest: +SKIP

Both sides are reduced to one canonical text per column (``normalise``) and compared as two
streams sorted by id, a merge join (``compare``), so memory holds one batch per side whatever the
table size: ``source`` reads SQLite, ordered by the canonical form of its ids so ids written in upper
case or with braces still line up, and ``target`` reads PostgreSQL. A source value that does not parse
is a difference, unless the migration set its row aside in ``migration.rejects``. ``report`` holds
what was found and prints it.

By default the chunk digests a re-run compares come first (``digests``: the source's raw values
summed by worker processes, PostgreSQL's values as text summed by the server meanwhile); the rows of
chunks whose digests agree count as matched (their encodings agree only where the values do), and
only the chunks that differ and those holding an id written otherwise are compared row by row, as
``full=True`` compares every row.
"""

from .compare import DEFAULT_BATCH_SIZE, SHOWN_DIFFERENCES, check_consistency
from .report import ColumnDifference, ConsistencyReport, RowDifference, TableReport

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "SHOWN_DIFFERENCES",
    "ColumnDifference",
    "ConsistencyReport",
    "RowDifference",
    "TableReport",
    "check_consistency",
]
