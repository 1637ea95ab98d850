"""Fingerprints of a batch on both sides, so a re-run can skip batches the target already holds.

The source side renders the raw SQLite values, without parsing them; the
target side renders the stored values with ``::text`` in UTC. For a well-formed
legacy row (canonical lowercase uuids, ``+00`` timestamps as PostgreSQL prints
them) both renderings are the same text, so equal digests mean equal rows. Any
other spelling only makes the digests differ, and the batch is loaded as usual:
a mismatch costs time, never correctness.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from psycopg2 import sql

from .extract import SourceRow
from .tables import TableSpec

# Each value is written as <length>:<text> and NULL as "-", so no text can pass for two values or for NULL.
_NULL = "-"


def _render(value: object) -> str:
    if value is None:
        return _NULL
    if type(value) is float:
        # PostgreSQL prints 9.0 as "9" and otherwise the same shortest text as repr.
        text = repr(value)
        text = text.removesuffix(".0")
    else:
        text = str(value)
    return f"{len(text)}:{text}"


def source_digest(rows: Sequence[SourceRow]) -> tuple[str, str]:
    """The ids of ``(rowid, id, ...)`` rows as an array literal, and the md5 of their rendering in id order."""
    ordered = sorted(rows, key=lambda row: str(row[1]))
    text = "\n".join("\t".join([_render(value) for value in row[1:]]) for row in ordered)
    # One array literal is far cheaper to send than a list adapted element by element. An id that breaks
    # its syntax fails the cast (the batch is then loaded as usual) or names rows whose digest cannot match.
    ids = '{"' + '","'.join(str(row[1]) for row in ordered) + '"}'
    return ids, hashlib.md5(text.encode("utf-8", "surrogateescape")).hexdigest()


def target_digest_query(spec: TableSpec) -> sql.Composed:
    """One query giving (row count, md5 of the rendering in id order) of the target rows with the given ids."""
    rendered = sql.SQL(" || E'\\t' || ").join(
        sql.SQL("CASE WHEN {c} IS NULL THEN {null} ELSE length({c}::text) || ':' || {c}::text END").format(
            c=sql.Identifier(column.target), null=sql.Literal(_NULL)
        )
        for column in spec.columns
    )
    return sql.SQL(
        "SELECT count(*), coalesce(md5(string_agg({rendered}, E'\\n' ORDER BY id)), '') "
        "FROM {target} WHERE id = ANY(%s::uuid[])"
    ).format(rendered=rendered, target=sql.Identifier(spec.target_schema, spec.name))
