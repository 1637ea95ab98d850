"""The target schema: applying ``ddl/movies_database.ddl``, which is safe to apply again."""

from __future__ import annotations

from pathlib import Path

import psycopg2
import psycopg2.extensions

from .errors import TargetError, first_line
from .lock import check_locks, holding
from .options import DEFAULT_LOCK_TIMEOUT
from .tables import TABLE_NAMES

DDL_DIR = Path(__file__).resolve().parent / "ddl"
TARGET_DDL = DDL_DIR / "movies_database.ddl"
SOURCE_DDL = DDL_DIR / "sqlite.ddl"


def apply_schema(
    target: psycopg2.extensions.connection, ddl: Path = TARGET_DDL, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT
) -> None:
    """Create the ``content`` schema, its tables and the migration's bookkeeping where missing.

    Not while another run loads a table: its first load drops the table's indexes, which the DDL
    would create again under it. So the DDL waits for the loads in progress, as a check does.
    """
    try:
        with holding(target, check_locks(TABLE_NAMES), lock_timeout, "applying the schema"):
            with target.cursor() as cursor:
                # Two runs starting at once would race on CREATE ... IF NOT EXISTS; the lock makes them queue.
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext('sqlite_to_postgres.apply_schema'))")
                cursor.execute(ddl.read_text(encoding="utf-8"))
            target.commit()
    except psycopg2.Error as error:
        target.rollback()
        raise TargetError(f"cannot apply the schema {ddl.name}: {first_line(error)}") from error
