"""A source that cannot be read gives one clear error line, exit 1 and nothing written; a good one is left as is."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import psycopg2.extensions
import pytest

from sqlite_to_postgres.errors import SourceError
from sqlite_to_postgres.pipeline import migrate
from tests.support.crafted import (
    content_counts,
    error_lines,
    execute,
    person,
    person_link,
    run_cli,
    sha256,
    small_catalog,
    write_catalog,
)


def _catalog(path: Path) -> Path:
    # Enough rows for the last table to span many pages, so damage can hit it alone.
    rows = small_catalog(
        person=[person(n) for n in range(10, 3000)],
        person_film_work=[person_link(n, 1, n) for n in range(10, 3000)],
    )
    return write_catalog(path, rows)


def _damage(path: Path, start: int, end: int) -> None:
    data = bytearray(path.read_bytes())
    data[start:end] = random.Random(0).randbytes(len(data[start:end]))
    path.write_bytes(bytes(data))


def missing_file(path: Path) -> Path:
    return path


def empty_file(path: Path) -> Path:
    path.touch()
    return path


def text_file(path: Path) -> Path:
    path.write_text("id,title\n1,Star Wars\n", encoding="utf-8")
    return path


def garbage_after_header(path: Path) -> Path:
    _damage(_catalog(path), 100, path.stat().st_size)
    return path


def truncated(path: Path) -> Path:
    size = _catalog(path).stat().st_size
    path.write_bytes(path.read_bytes()[: size // 2])
    return path


def corrupt_last_pages(path: Path) -> Path:
    size = _catalog(path).stat().st_size
    _damage(path, size - size // 4, size)
    return path


def missing_table(path: Path) -> Path:
    execute(_catalog(path), "DROP TABLE person_film_work")
    return path


def missing_column(path: Path) -> Path:
    execute(
        _catalog(path), "DROP INDEX film_work_person_role", "ALTER TABLE person_film_work DROP COLUMN role"
    )
    return path


# case -> (how the file is made, what the one error line says after "error: ")
SOURCES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "missing file": (missing_file, "SQLite file {path} does not exist"),
    "empty file": (empty_file, "SQLite file {path} is empty"),
    "not SQLite": (text_file, "cannot read {path} as SQLite: file is not a database"),
    "garbage after the header": (garbage_after_header, "cannot read {path} as SQLite: "),
    "truncated": (truncated, "cannot read {path} as SQLite: database disk image is malformed"),
    "corrupt last pages": (corrupt_last_pages, "the SQLite file is corrupt: Page "),
    "missing table": (missing_table, "table person_film_work: the SQLite file has no such table"),
    "missing mapped column": (
        missing_column,
        "table person_film_work: the SQLite table lacks column(s) role",
    ),
}

@pytest.mark.parametrize(("make", "message"), SOURCES.values(), ids=SOURCES)
def test_cli_reports_an_unreadable_source_in_one_line_and_exits_1(
    tmp_path: Path, target_dsn: str, make: Callable[[Path], Path], message: str
) -> None:
    source = make(tmp_path / "source.sqlite")

    result = run_cli("migrate", "--sqlite", source, "--dsn", target_dsn)

    assert result.returncode == 1
    [line] = error_lines(result.stderr)
    assert line.startswith("error: " + message.format(path=source)), line
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("make", [make for make, _ in SOURCES.values()], ids=SOURCES)
def test_an_unreadable_source_writes_nothing(
    tmp_path: Path, target_dsn: str, target: psycopg2.extensions.connection, make: Callable[[Path], Path]
) -> None:
    source = make(tmp_path / "source.sqlite")

    with pytest.raises(SourceError):
        migrate(source, target_dsn)

    assert set(content_counts(target).values()) <= {0}


def test_source_file_is_byte_identical_after_a_run(tmp_path: Path, target_dsn: str) -> None:
    source = write_catalog(tmp_path / "source.sqlite", small_catalog())
    before = sha256(source)

    result = run_cli("migrate", "--sqlite", source, "--dsn", target_dsn)

    assert result.returncode == 0, result.stderr
    assert sha256(source) == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["source.sqlite"]  # no journal or WAL left
