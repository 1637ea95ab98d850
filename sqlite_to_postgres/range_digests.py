"""What the source held at the last run, range by range, so a re-run parses only the rows changed since.

Each batch's range of rowids ``(after, last]`` is cut into slots of about ``SLOT_ROWS`` rows by rowid
value, and each slot is summarised by 8 bytes of the SHA-1 of its rows as SQLite writes them
(``slot_sql``). A run stores its batches' digests with the rows they describe, in the batch's
transaction (``state.save_range_digests``). The next re-run, when the target table is untouched since
that run finished, computes the same ranges' digests again in the worker processes and parses only the
slots whose digest changed, the slots holding rejected rows (a parent loaded since may let them in),
and the rows no stored range covers. Reading a slot costs SQLite alone, about a tenth of parsing it.

The rows are written with SQLite's ``json_array``, which escapes text so no two rows run together; a
number or a blob goes in as ``[quote(value)]``, since json_array would print a double with 15 digits
(and refuses a blob), and quote() gives it back exactly. Equal digests mean the same values of the
same types in the same rowids, bar a 64-bit collision; any other difference, even one the load would
not see, only costs parsing the slot again. (Digests stored by a version that hashed with md5 all differ: the first
re-run after upgrading parses every row once.)
"""

from __future__ import annotations

import hashlib
import math
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from .errors import SourceError
from .extract import quote
from .tables import TableSpec

# Rows per slot: a change of one row parses about this many again; each slot costs one query of SQLite's
# (128 against 64: a tenth less time computing them, measured at scale 100).
SLOT_ROWS = 128
DIGEST_BYTES = 8


@dataclass(slots=True, frozen=True)
class RangeDigests:
    """The digests of the slots of the rows ``after_rowid < rowid <= last_rowid``, as a batch stores them."""

    after_rowid: int
    last_rowid: int
    digests: bytes


def slot_count(rows: int) -> int:
    """Slots for a range holding ``rows`` rows."""
    return max(1, math.ceil(rows / SLOT_ROWS))


def slot_bounds(after_rowid: int, last_rowid: int, slots: int) -> list[tuple[int, int]]:
    """The range ``(after, last]`` cut into ``slots`` ranges of rowids of (nearly) equal width, in order."""
    width = last_rowid - after_rowid
    edges = [after_rowid + width * number // slots for number in range(slots + 1)]
    return list(pairwise(edges))


def slot_sql(spec: TableSpec) -> str:
    """SQLite: the rows ``rowid > ? AND rowid <= ?`` written out in rowid order as one blob (NULL if none)."""
    # Anything but text or NULL (numbers sort before text, blobs after it; ``+`` drops the column's
    # affinity, BINARY any collation of the file's, which this process may not know) goes in as
    # [quote(value)]: comparisons cost a fifth less than typeof() per value.
    values = ", ".join(
        f"iif(+{column} COLLATE BINARY < '' OR +{column} COLLATE BINARY >= x'', json_array(quote({column})), {column})"
        for column in (quote(name) for name in spec.source_columns)
    )
    # A plain scan of a rowid range visits the rows in rowid order, so the text is the same each time.
    return (
        f"SELECT CAST(group_concat(json_array({values}), '') AS BLOB) FROM {quote(spec.name)} "
        "WHERE rowid > ? AND rowid <= ?"
    )


def range_digests(
    connection: sqlite3.Connection, spec: TableSpec, after_rowid: int, last_rowid: int, slots: int
) -> bytes:
    """The digests of the range's ``slots`` slots, ``DIGEST_BYTES`` each, in order."""
    query = slot_sql(spec)
    digests = []
    try:
        for low, high in slot_bounds(after_rowid, last_rowid, slots):
            text = connection.execute(query, (low, high)).fetchone()[0]
            # SHA-1 hashes a slot's ~20 KB in 40% of md5's time where the CPU has SHA extensions (measured:
            # 1.8 against 0.7 GB/s); about as fast elsewhere.
            digests.append(hashlib.sha1(text or b"", usedforsecurity=False).digest()[:DIGEST_BYTES])
    except sqlite3.DatabaseError as error:
        raise SourceError(f"cannot read rows after rowid {after_rowid}: {error}", table=spec.name) from error
    return b"".join(digests)


def changed_slots(
    fresh: bytes, stored: bytes | None, bounds: Sequence[tuple[int, int]], rejected: Sequence[int]
) -> list[tuple[int, int]]:
    """The slots (as rowid ranges) to parse again: digest changed or unknown, or holding a rejected rowid."""
    changed = []
    for number, (low, high) in enumerate(bounds):
        start = number * DIGEST_BYTES
        same = stored is not None and stored[start : start + DIGEST_BYTES] == fresh[start : start + DIGEST_BYTES]
        if not same or any(low < rowid <= high for rowid in rejected):
            changed.append((low, high))
    return changed


def rowid_condition(ranges: Sequence[tuple[int, int]]) -> tuple[str, tuple[object, ...]]:
    """SQLite condition (and its parameters) for the rows in any of ``ranges``, each ``(after, last]``."""
    parameters: list[object] = []
    for low, high in ranges:
        parameters += [low, high]
    return " OR ".join(["(rowid > ? AND rowid <= ?)"] * len(ranges)), tuple(parameters)
