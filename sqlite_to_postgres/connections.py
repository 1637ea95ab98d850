"""Opening the two databases: the SQLite source read-only, PostgreSQL from a DSN.

Where to find PostgreSQL, in order:

1. an explicit DSN (``--dsn`` on the command line, a connection in Airflow);
2. the environment variable ``MOVIES_PG_DSN``;
3. a server on ``127.0.0.1:5432`` as user ``postgres``, when one answers;
4. an embedded PostgreSQL 16 (the ``pgserver`` package) kept in ``.pgserver/``
   under the working directory, started for the run and stopped after it.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import warnings
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.extensions
import psycopg2.sql
from psycopg2.extensions import make_dsn, parse_dsn

from .errors import SourceError, TargetError
from .extract import READ_FORMAT

log = logging.getLogger(__name__)

try:
    _PACKAGE_VERSION = version("sqlite-to-postgres")
except PackageNotFoundError:  # run from a checkout that was not installed
    _PACKAGE_VERSION = "unknown"

DSN_ENV = "MOVIES_PG_DSN"
DEFAULT_DATABASE = "movies_database"
LOCAL_SERVER_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"
EMBEDDED_DIR = Path(".pgserver")
APPLICATION = f"sqlite_to_postgres {_PACKAGE_VERSION}"


@contextmanager
def open_source(path: str | os.PathLike[str]) -> Iterator[sqlite3.Connection]:
    """Open a SQLite file read-only; a clear SourceError when it is missing or not SQLite."""
    source = Path(path)
    if not source.is_file():
        raise SourceError(f"SQLite file {source} does not exist")
    if not os.access(source, os.R_OK):
        raise SourceError(f"SQLite file {source} is not readable")
    if source.stat().st_size == 0:
        raise SourceError(f"SQLite file {source} is empty")
    # mode=ro refuses every write; immutable is not used because another process may hold the file.
    uri = f"{source.resolve().as_uri()}?mode=ro"
    try:
        connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
        # Reading the schema touches the file header: a non-SQLite or corrupt file fails here.
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as error:
        raise SourceError(f"cannot read {source} as SQLite: {error}") from error
    try:
        yield connection
    finally:
        connection.close()


def source_fingerprint(path: str | os.PathLike[str]) -> str:
    """A cheap identity of the source file's content, used to tell whether a checkpoint still applies.

    Size and modification time, as make and rsync judge files, of the database and of its WAL
    (committed changes may wait there), with the version of this tool and of its reading (READ_FORMAT),
    which may change.
    """
    source = Path(path).resolve()
    parts = [str(source), _PACKAGE_VERSION, f"read {READ_FORMAT}"]
    for file in (source, source.with_name(source.name + "-wal")):
        if file.exists():
            stat = file.stat()
            parts.append(f"{stat.st_size}:{stat.st_mtime_ns}")
    return ":".join(parts)


@contextmanager
def open_target(dsn: str) -> Iterator[psycopg2.extensions.connection]:
    """Connect to PostgreSQL once for a whole run; a clear TargetError when it cannot."""
    try:
        # Named, so that a run waiting for a table can say which program holds it (pg_stat_activity).
        named = "application_name" in parse_dsn(dsn)
        connection = psycopg2.connect(dsn) if named else psycopg2.connect(dsn, application_name=APPLICATION)
    except (psycopg2.OperationalError, psycopg2.ProgrammingError) as error:
        raise TargetError(
            f"cannot connect to PostgreSQL ({describe_dsn(dsn)}): {_first_line(error)}"
        ) from error
    try:
        yield connection
    finally:
        connection.close()


def describe_dsn(dsn: str) -> str:
    """The DSN without its password, fit for a log line."""
    try:
        params = parse_dsn(dsn)
    except psycopg2.ProgrammingError:
        return "an unparsable DSN"
    params.pop("password", None)
    return str(make_dsn(**params))


def with_database(dsn: str, database: str) -> str:
    """The same server and credentials, another database."""
    return str(make_dsn(dsn, dbname=database))


def server_answers(dsn: str) -> bool:
    """Whether a PostgreSQL server accepts a connection with this DSN."""
    try:
        psycopg2.connect(make_dsn(dsn, connect_timeout=3)).close()
    except psycopg2.OperationalError:
        return False
    return True


def ensure_database(dsn: str) -> bool:
    """Create the DSN's database when the server does not have it yet; True if it was created."""
    database = parse_dsn(dsn).get("dbname", DEFAULT_DATABASE)
    admin = psycopg2.connect(with_database(dsn, "postgres"))
    try:
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            if cursor.fetchone():
                return False
            cursor.execute(psycopg2.sql.SQL("CREATE DATABASE {}").format(psycopg2.sql.Identifier(database)))
            return True
    finally:
        admin.close()


@contextmanager
def embedded_server(directory: Path = EMBEDDED_DIR) -> Iterator[str]:
    """Start a project-local PostgreSQL 16 for the duration of the block; yields its server DSN."""
    try:
        with warnings.catch_warnings():
            # platformdirs warns at import when XDG_RUNTIME_DIR is unset (CI, containers); pgserver does not need it.
            warnings.simplefilter("ignore")
            from pgserver import get_server  # type: ignore[attr-defined]
    except ImportError as error:
        raise TargetError(
            f"no PostgreSQL configured ({DSN_ENV} unset) or answering on 127.0.0.1:5432, "
            "and the embedded fallback needs the 'pgserver' package: pip install pgserver"
        ) from error
    # pgserver logs its bookkeeping at INFO, some of it from an atexit hook after logging is torn down.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    directory.mkdir(parents=True, exist_ok=True)
    server = get_server(directory.resolve(), cleanup_mode="stop")
    try:
        yield str(server.get_uri("postgres"))
    finally:
        server.cleanup()


def resolve_server(dsn: str | None = None) -> AbstractContextManager[str]:
    """A context giving the DSN of the server to use, by the order in this module's docstring."""
    explicit = dsn or os.environ.get(DSN_ENV)
    if explicit:
        return nullcontext(explicit)
    if server_answers(LOCAL_SERVER_DSN):
        return nullcontext(LOCAL_SERVER_DSN)
    log.warning(
        "No PostgreSQL configured (%s) or answering on 127.0.0.1:5432: starting an embedded one in %s",
        DSN_ENV,
        EMBEDDED_DIR.resolve(),
    )
    return embedded_server(EMBEDDED_DIR)


@contextmanager
def resolve_target(
    dsn: str | None = None, database: str = DEFAULT_DATABASE, *, create: bool = True
) -> Iterator[str]:
    """The DSN of the target database, created if missing (when ``create``); explicit DSNs keep their database."""
    with ExitStack() as stack:
        server_dsn = stack.enter_context(resolve_server(dsn))
        params: dict[str, Any] = parse_dsn(server_dsn)
        explicit = bool(dsn or os.environ.get(DSN_ENV))
        target = server_dsn if explicit and params.get("dbname") else with_database(server_dsn, database)
        try:
            if create and ensure_database(target):
                log.warning("Created database %s", parse_dsn(target)["dbname"])
        except psycopg2.Error as error:
            raise TargetError(
                f"cannot reach PostgreSQL ({describe_dsn(target)}): {_first_line(error)}"
            ) from error
        yield target


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
