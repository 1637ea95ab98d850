"""Load: write one batch into its target table, with its rejects and its checkpoint.

Into an empty table a batch is COPYed straight into the target; otherwise it is
COPYed into a staging table and upserted, so unchanged rows are not rewritten.
Rows PostgreSQL would refuse are set aside into ``migration.rejects``. One batch
is one transaction: a crash never leaves half a batch.
"""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from types import TracebackType

import psycopg2
import psycopg2.errors
import psycopg2.extensions
from psycopg2 import sql

from .errors import first_line
from .keys import natural_key_label
from .range_digests import RangeDigests
from .state import (
    Counts,
    raw_json_fields,
    save_progress,
    save_range_digests,
    save_reject,
    set_aside,
    transaction,
)
from .tables import Kind, TableSpec
from .transform import CopyLine, InvalidValue, Rejected, parse_uuid

log = logging.getLogger(__name__)

_SQL_TYPES = {
    Kind.UUID: "uuid",
    Kind.TEXT: "text",
    Kind.DATE: "date",
    Kind.FLOAT: "double precision",
    Kind.TIMESTAMP: "timestamptz",
}

@dataclass(slots=True, frozen=True)
class BatchResult(Counts):
    """What one committed batch did, and the last source rowid it covered."""

    last_rowid: int = 0


@dataclass(slots=True, frozen=True)
class LoadMode:
    """How a table's batches go in, decided by the table's plan before the first batch."""

    # COPY straight into the target (a first load); otherwise through a staging table and an upsert.
    direct: bool = False
    # COPY without the per-row foreign-key triggers; the links are checked set-based at the end.
    skip_link_triggers: bool = False
    # Set while the table's keys are dropped: rebuilds them when a batch needs them (the staged way).
    restore_keys: Callable[[], None] | None = None


@dataclass(slots=True, frozen=True)
class Batch:
    """One batch ready to load: the COPY text of the rows that parsed, and the rows that did not.

    Built where the rows are parsed (a worker process), so what crosses to the loading process is one
    block of bytes rather than a Python object per row.
    """

    copy: bytes  # COPY text of the rows that parsed, in rowid order, UTF-8
    rowids: list[int]  # the source rowid of each line of ``copy``
    rejects: list[Rejected]
    last_rowid: int
    unchanged: int = 0  # rows read that need no write (chunks a re-run found unchanged)
    digests: tuple[RangeDigests, ...] = ()  # to store with the rows: those of its ranges that changed

    @classmethod
    def of(
        cls, lines: Iterable[CopyLine], last_rowid: int, unchanged: int = 0, digests: RangeDigests | None = None
    ) -> Batch:
        rowids, texts, rejects = [], [], []
        for rowid, item in lines:
            if isinstance(item, Rejected):
                rejects.append(item)
            else:
                rowids.append(rowid)
                texts.append(item)
        return cls("".join(texts).encode(), rowids, rejects, last_rowid, unchanged, () if digests is None else (digests,))

    @property
    def rows_read(self) -> int:
        return len(self.rowids) + len(self.rejects) + self.unchanged

    @property
    def written(self) -> int:
        """Rows it writes: those that parsed and those rejected."""
        return len(self.rowids) + len(self.rejects)

    def merged(self, later: Batch) -> Batch:
        """This batch and the ``later`` one, which follows it, as one: one transaction instead of two."""
        return Batch(
            self.copy + later.copy,
            self.rowids + later.rowids,
            self.rejects + later.rejects,
            later.last_rowid,
            self.unchanged + later.unchanged,
            self.digests + later.digests,
        )

    def staged_copy(self) -> bytes:
        """The lines with their source rowid in front, for the staging table."""
        # Every line ends in a newline, and escaped text holds none of its own.
        lines = self.copy.split(b"\n")[:-1]
        return b"".join(b"%d\t%s\n" % (rowid, line) for rowid, line in zip(self.rowids, lines, strict=True))


class KeysNeeded(Exception):
    """A batch needs the table's deferred keys back before it can be loaded the staged way."""


class TableLoader:
    """Loads batches of COPY lines into one target table over a connection it is given."""

    def __init__(self, connection: psycopg2.extensions.connection, spec: TableSpec, mode: LoadMode) -> None:
        self.connection = connection
        self.spec = spec
        self.mode = mode
        # Whether the keys are still dropped; a refused batch has them rebuilt (see load).
        self._keys_dropped = mode.restore_keys is not None
        self.target = sql.Identifier(spec.target_schema, spec.name)
        self.stage = sql.Identifier(f"stage_{spec.name}")
        self.columns = [sql.Identifier(column) for column in spec.target_columns]
        self._create_stage()
        self._checks = self._check_statements()
        self._upsert = self._upsert_statement()
        self._copy_staged = (
            sql.SQL("COPY {stage} (_rowid, {columns}) FROM STDIN")
            .format(stage=self.stage, columns=sql.SQL(", ").join(self.columns))
            .as_string(connection)
        )
        self._copy_direct = (
            sql.SQL("COPY {target} ({columns}) FROM STDIN")
            .format(target=self.target, columns=sql.SQL(", ").join(self.columns))
            .as_string(connection)
        )

    def _create_stage(self) -> None:
        # Temporary and emptied at each commit: the staging table costs no WAL and holds one batch at most.
        definition = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(column.target), sql.SQL(_SQL_TYPES[column.kind]))
            for column in self.spec.columns
        )
        with self.connection.cursor() as cursor:
            cursor.execute(
                sql.SQL(
                    "CREATE TEMP TABLE IF NOT EXISTS {stage} (_rowid bigint NOT NULL, {definition}) "
                    "ON COMMIT DELETE ROWS"
                ).format(stage=self.stage, definition=definition)
            )
        self.connection.commit()

    def _set_aside(
        self, condition: sql.Composable, reason: sql.Composable, using: sql.Composable
    ) -> sql.Composed:
        return set_aside(self.spec, self.stage, condition, reason, using)

    def _check_statements(self) -> list[sql.Composed]:
        """Set-based checks for what only PostgreSQL can see: duplicates and links to missing rows."""
        checks = [
            self._set_aside(
                sql.SQL("s.id = first.id AND s._rowid > first._rowid"),
                sql.SQL("'duplicate id: same as source rowid ' || first._rowid"),
                sql.SQL("USING {stage} AS first").format(stage=self.stage),
            )
        ]
        for key in self.spec.foreign_keys:
            parent = sql.Identifier(self.spec.target_schema, key.parent)
            column = sql.Identifier(key.column)
            checks.append(
                self._set_aside(
                    sql.SQL("NOT EXISTS (SELECT 1 FROM {parent} AS p WHERE p.id = s.{column})").format(
                        parent=parent, column=column
                    ),
                    sql.SQL("{label} || s.{column} || {missing}").format(
                        label=sql.Literal(f"{key.column} "),
                        column=column,
                        missing=sql.Literal(f" does not exist in {key.parent}"),
                    ),
                    sql.SQL(""),
                )
            )
        if self.spec.natural_key:
            label = natural_key_label(self.spec)

            def same_key(alias: str) -> sql.Composable:
                return sql.SQL(" AND ").join(
                    sql.SQL("s.{column} = {alias}.{column}").format(
                        column=sql.Identifier(column), alias=sql.Identifier(alias)
                    )
                    for column in self.spec.natural_key
                )

            checks.append(
                self._set_aside(
                    sql.SQL("{same} AND s._rowid > first._rowid").format(same=same_key("first")),
                    sql.SQL("{label} || ': same as source rowid ' || first._rowid").format(
                        label=sql.Literal(label)
                    ),
                    sql.SQL("USING {stage} AS first").format(stage=self.stage),
                )
            )
            checks.append(
                self._set_aside(
                    sql.SQL("{same} AND s.id <> loaded.id").format(same=same_key("loaded")),
                    sql.SQL("{label} || ': already loaded as id ' || loaded.id").format(
                        label=sql.Literal(label)
                    ),
                    sql.SQL("USING {target} AS loaded").format(target=self.target),
                )
            )
        return checks

    def _upsert_statement(self) -> sql.Composed:
        columns = sql.SQL(", ").join(self.columns)
        others = [column for column in self.columns if column != sql.Identifier("id")]
        changed = sql.SQL("({current}) IS DISTINCT FROM ({incoming})").format(
            current=sql.SQL(", ").join(sql.SQL("t.{}").format(column) for column in others),
            incoming=sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(column) for column in others),
        )
        # xmax = 0 marks a freshly inserted tuple; an updated one carries the updating transaction's id.
        return sql.SQL(
            "WITH upserted AS ("
            "INSERT INTO {target} AS t ({columns}) SELECT {columns} FROM {stage} "
            "ON CONFLICT (id) DO UPDATE SET {assignments} WHERE {changed} "
            "RETURNING (t.xmax = 0) AS inserted) "
            "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM upserted"
        ).format(
            target=self.target,
            columns=columns,
            stage=self.stage,
            assignments=sql.SQL(", ").join(
                sql.SQL("{column} = EXCLUDED.{column}").format(column=column) for column in others
            ),
            changed=changed,
        )

    def _copy_into_target(self, cursor: psycopg2.extensions.cursor, batch: Batch) -> bool:
        """COPY the rows straight into the target; False, with nothing written, if PostgreSQL refuses them.

        KeysNeeded when the table's keys are deferred: the staged way upserts on the primary key.
        """
        cursor.execute("SAVEPOINT direct")
        if self.mode.skip_link_triggers:
            # Local to the savepoint: a refused batch goes the staged way with the triggers back on.
            cursor.execute("SET LOCAL session_replication_role = replica")
        try:
            copy_text(cursor, self._copy_direct, batch.copy)
        except psycopg2.IntegrityError:
            cursor.execute("ROLLBACK TO SAVEPOINT direct")
            if self._keys_dropped:
                raise KeysNeeded from None
            return False
        cursor.execute("RELEASE SAVEPOINT direct")
        return True

    def _upsert_staged(self, cursor: psycopg2.extensions.cursor) -> int:
        """Upsert the staged rows; returns how many were set aside as rejects first."""
        # Clean data is the rule: try the upsert alone and pay for the checks only when PostgreSQL refuses it.
        cursor.execute("SAVEPOINT upsert")
        try:
            cursor.execute(self._upsert)
        except (psycopg2.IntegrityError, psycopg2.errors.CardinalityViolation):
            cursor.execute("ROLLBACK TO SAVEPOINT upsert")
        else:
            return 0
        set_aside = 0
        for check in self._checks:
            cursor.execute(check)
            set_aside += cursor.rowcount
        cursor.execute(self._upsert)
        return set_aside

    def load(self, batch: Batch) -> BatchResult:
        """Load one batch and commit it with the table's checkpoint; roll back on any error."""
        try:
            return self._load(batch)
        except KeysNeeded:
            # PostgreSQL refused a batch while the keys were off (a check of the user's own, say): the
            # staged way upserts on the primary key, so rebuild the keys first.
            assert self.mode.restore_keys is not None, "keys are dropped only with a way to restore them"
            self._keys_dropped = False
            self.mode.restore_keys()
            return self._load(batch)

    def _load(self, batch: Batch) -> BatchResult:
        with transaction(self.connection), self.connection.cursor() as cursor:
            # The commit need not wait for the disk: a batch lost to a server crash is lost together
            # with its checkpoint, so the next run loads it again. The table's last commit (the
            # pipeline's _finish) waits, which makes every batch before it durable too.
            cursor.execute("SET LOCAL synchronous_commit = off")
            for reject in batch.rejects:
                save_reject(cursor, self.spec.name, reject.rowid, reject.source_id, reject.reason, reject.raw)
            for digests in batch.digests:
                save_range_digests(cursor, self.spec.name, digests.after_rowid, digests.last_rowid, digests.digests)
            rows = len(batch.rowids)
            set_aside = inserted = updated = 0
            if rows and self.mode.direct and self._copy_into_target(cursor, batch):
                inserted = rows
            elif rows:
                copy_text(cursor, self._copy_staged, batch.staged_copy())
                set_aside = self._upsert_staged(cursor)
                inserted, updated = cursor.fetchone()
            result = BatchResult(
                rows_read=batch.rows_read,
                inserted=inserted,
                updated=updated,
                unchanged=rows - set_aside - inserted - updated + batch.unchanged,
                rejected=len(batch.rejects) + set_aside,
                last_rowid=batch.last_rowid,
            )
            save_progress(cursor, self.spec.name, result, batch.last_rowid)
        return result


def may_skip_triggers(connection: psycopg2.extensions.connection, spec: TableSpec) -> bool:
    """Whether this role may set session_replication_role (superusers, or those granted it)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = replica")
    except psycopg2.errors.InsufficientPrivilege:
        log.info("%s: this role may not skip foreign-key triggers; links are checked row by row", spec.name)
        return False
    finally:
        connection.rollback()
    return True


def reject_orphans(
    connection: psycopg2.extensions.connection, spec: TableSpec, rowid_of: Callable[[str], int]
) -> int:
    """Move target rows whose parent row does not exist into the rejects table; returns how many.

    The set-based check that stands in for the foreign-key triggers a first load skipped. ``rowid_of``
    finds the source rowid of a loaded id, which the rejects table is keyed on. The checkpoint's counts
    follow in the same transaction.
    """
    target = sql.Identifier(spec.target_schema, spec.name)
    raw = raw_json_fields(spec, "t")
    moved = 0
    with transaction(connection), connection.cursor() as cursor:
        for key in spec.foreign_keys:
            cursor.execute(
                sql.SQL(
                    "DELETE FROM {target} AS t WHERE NOT EXISTS (SELECT FROM {parent} AS p WHERE p.id = t.{column}) "
                    "RETURNING t.id::text, t.{column}::text, jsonb_build_object({raw})"
                ).format(
                    target=target,
                    parent=sql.Identifier(spec.target_schema, key.parent),
                    column=sql.Identifier(key.column),
                    raw=raw,
                )
            )
            for loaded_id, missing, row in cursor.fetchall():
                reason = f"{key.column} {missing} does not exist in {key.parent}"
                save_reject(cursor, spec.name, rowid_of(loaded_id), loaded_id, reason, row)
                moved += 1
        save_progress(cursor, spec.name, Counts.moved_to_rejects(moved), None)
    return moved


def delete_missing(
    connection: psycopg2.extensions.connection, spec: TableSpec, source_ids: Iterator[object], batch_size: int
) -> int:
    """Delete target rows whose id is not among ``source_ids``; returns how many went."""
    with transaction(connection), connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE source_ids (id uuid) ON COMMIT DROP")
        lines = _uuid_lines(source_ids)
        while chunk := list(islice(lines, batch_size)):
            copy_text(cursor, "COPY source_ids (id) FROM STDIN", "".join(chunk).encode())
        cursor.execute("ANALYZE source_ids")
        cursor.execute(
            sql.SQL(
                "DELETE FROM {} AS t WHERE NOT EXISTS (SELECT 1 FROM source_ids AS s WHERE s.id = t.id)"
            ).format(sql.Identifier(spec.target_schema, spec.name))
        )
        return int(cursor.rowcount)


def _uuid_lines(ids: Iterator[object]) -> Iterator[str]:
    for source_id in ids:
        try:
            yield f"{parse_uuid(source_id)}\n"
        except InvalidValue:
            continue  # such a row was never loaded, so nothing in the target answers to it


def copy_text(cursor: psycopg2.extensions.cursor, statement: str, data: bytes) -> None:
    """Run a ``COPY ... FROM STDIN`` with ``data`` (COPY text, UTF-8) handed over in one piece.

    psycopg2 calls the file's read() once per buffer, and each call needs the GIL; while another
    thread parses the next batch, every call can wait a whole switch interval (5 ms). One read
    of the whole batch instead of one per 8 KiB keeps PostgreSQL fed.
    """
    with _driver_noise_dropped():
        cursor.copy_expert(statement, io.BytesIO(data), size=max(len(data), 8192))


@contextmanager
def _driver_noise_dropped() -> Iterator[None]:
    """Keep psycopg2's stray print of a dead connection off the user's terminal during a COPY.

    When the server goes away in the middle of a COPY it sends two fatal results; psycopg2 decodes the
    second while the first is pending and prints the resulting SystemError through ``sys.excepthook``
    (measured: 27 of 30 COPYs cut at random points). The error itself still reaches the caller as an
    OperationalError, which the run reports in one line and retries; only that print is dropped.
    """
    previous = sys.excepthook

    def hook(kind: type[BaseException], error: BaseException, traceback: TracebackType | None) -> None:
        if isinstance(error, SystemError) and isinstance(error.__cause__, psycopg2.Error):
            log.debug("psycopg2 after a dropped connection: %s (%s)", error, first_line(error.__cause__))
            return
        previous(kind, error, traceback)

    sys.excepthook = hook
    try:
        yield
    finally:
        sys.excepthook = previous
