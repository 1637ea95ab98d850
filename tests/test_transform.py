"""The transforms on odd values: pure functions, no database."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import pytest

from sqlite_to_postgres.extract import UndecodableText
from sqlite_to_postgres.models import FilmWork, Genre, TimestampText, UuidText
from sqlite_to_postgres.rows import ROW_CODE
from sqlite_to_postgres.tables import TABLES, Kind, TableSpec
from sqlite_to_postgres.transform import (
    PARSERS,
    InvalidValue,
    Rejected,
    parse_date,
    parse_float,
    parse_text,
    parse_timestamp,
    parse_timestamp_text,
    parse_uuid,
    to_copy_lines,
    to_records,
)
from sqlite_to_postgres.values import FORMATTERS

GENRE_ID = "3d8d9bf5-0d90-4353-88ba-4ccc5d2c07ff"


@pytest.mark.parametrize(
    ("text", "microsecond"),
    [
        ("2021-06-16 20:14:09.309735+00", 309735),
        ("2021-06-16 20:14:09.30973+00", 309730),
        ("2021-06-16 20:14:09.3097+00", 309700),
        ("2021-06-16 20:14:09.309+00", 309000),
        ("2021-06-16 20:14:09+00", 0),
    ],
)
def test_timestamps_with_3_to_6_fraction_digits_keep_the_microsecond(text: str, microsecond: int) -> None:
    assert parse_timestamp(text) == datetime(2021, 6, 16, 20, 14, 9, microsecond, tzinfo=UTC)


def test_timestamp_offsets_are_kept_as_instants() -> None:
    parsed = parse_timestamp("2021-06-16 23:14:09.5+03")
    assert parsed.utcoffset() == timedelta(hours=3)
    assert parsed == datetime(2021, 6, 16, 20, 14, 9, 500000, tzinfo=UTC)


def test_timestamp_without_offset_is_taken_as_utc() -> None:
    assert parse_timestamp("2021-06-16 20:14:09").tzinfo == UTC


@pytest.mark.parametrize(
    ("text", "passed_on"),
    [
        ("2021-06-16 20:14:09.309735+00", "2021-06-16 20:14:09.309735+00"),
        ("2021-06-16T20:14:09Z", "2021-06-16T20:14:09Z"),
        ("2021-06-16 23:14:09.5+03:00", "2021-06-16 23:14:09.5+03:00"),
        # Forms PostgreSQL reads otherwise, or not at all, are written out again.
        ("2021-06-16 20:14:09", "2021-06-16T20:14:09+00:00"),
        ("2021-06-16 20:14:09.1234567+00", "2021-06-16T20:14:09.123456+00:00"),
        ("20210616T201409+0000", "2021-06-16T20:14:09+00:00"),
        ("2021-W24-3T20:14:09+00:00", "2021-06-16T20:14:09+00:00"),
    ],
)
def test_timestamp_text_is_passed_on_as_written_only_in_a_form_postgresql_reads_alike(
    text: str, passed_on: str
) -> None:
    assert parse_timestamp_text(text) == passed_on
    assert parse_timestamp(passed_on) == parse_timestamp(text)


@pytest.mark.parametrize("value", ["yesterday", "2021-13-01 00:00:00+00", 1623874449, b"2021"])
def test_bad_timestamps_are_refused(value: object) -> None:
    with pytest.raises(InvalidValue):
        parse_timestamp(value)


@pytest.mark.parametrize(
    "spelling",
    [GENRE_ID, GENRE_ID.upper(), GENRE_ID.replace("-", ""), "{" + GENRE_ID + "}", f"urn:uuid:{GENRE_ID}"],
)
def test_every_uuid_spelling_becomes_the_canonical_text(spelling: str) -> None:
    assert parse_uuid(spelling) == GENRE_ID == str(UUID(spelling))


@pytest.mark.parametrize("value", ["3d8d9bf5-0d90-4353-88ba-4ccc5d2c07fg", GENRE_ID[:-1], "", 42, None])
def test_what_is_not_a_uuid_is_refused(value: object) -> None:
    with pytest.raises(InvalidValue):
        parse_uuid(value)


@pytest.mark.parametrize("value", ["", "not-a-uuid", GENRE_ID[:-1], 12, None])
def test_bad_uuids_are_refused(value: object) -> None:
    with pytest.raises(InvalidValue):
        parse_uuid(value)


def test_text_keeps_tabs_newlines_quotes_and_backslashes() -> None:
    text = 'He said "no"\tthen\nleft \\ o\'clock'
    assert parse_text(text) == text


@pytest.mark.parametrize("value", ["a\x00b", b"blob", 42])
def test_text_postgres_cannot_store_is_refused(value: object) -> None:
    with pytest.raises(InvalidValue):
        parse_text(value)


def test_numbers_become_floats_and_text_is_refused() -> None:
    assert parse_float(8) == 8.0
    assert parse_float(8.6) == 8.6
    with pytest.raises(InvalidValue):
        parse_float("8.6 stars")


def test_dates_parse_and_timestamps_are_not_dates() -> None:
    assert parse_date("1977-05-25") == date(1977, 5, 25)
    with pytest.raises(InvalidValue):
        parse_date("25/05/1977")


def test_rows_become_dataclasses() -> None:
    rows = iter([(7, GENRE_ID, "Action", None, "2021-06-16 20:14:09.309735+00", None)])
    [(rowid, record)] = list(to_records(TABLES["genre"], rows))
    assert rowid == 7
    assert record == Genre(
        UuidText(GENRE_ID), "Action", None, TimestampText("2021-06-16 20:14:09.309735+00"), None
    )


def test_a_bad_row_becomes_a_reject_naming_its_column() -> None:
    rows = iter([(3, GENRE_ID, None, "desc", None, None)])
    [(_, rejected)] = list(to_records(TABLES["genre"], rows))
    assert isinstance(rejected, Rejected)
    assert rejected.rowid == 3
    assert rejected.source_id == GENRE_ID
    assert rejected.reason == "name: NULL where the target requires a value"
    assert rejected.raw == {
        "id": GENRE_ID,
        "name": None,
        "description": "desc",
        "created_at": None,
        "updated_at": None,
    }


def test_copy_lines_escape_what_copy_text_format_treats_specially() -> None:
    film = FilmWork(
        UuidText(GENRE_ID),
        "Tab\there",
        "line\nbreak\r\\ end",
        None,
        None,
        "movie",
        TimestampText("2021-06-16 20:14:09.309+00"),
        None,
    )
    [(_, line)] = list(to_copy_lines(TABLES["film_work"], iter([(1, film)])))
    assert line == (
        f"{GENRE_ID}\tTab\\there\tline\\nbreak\\r\\\\ end\t\\N\t\\N\tmovie\t2021-06-16 20:14:09.309+00\t\\N\n"
    )


def test_copy_lines_write_floats_that_read_back_exactly() -> None:
    rating = 0.1 + 0.2
    film = FilmWork(UuidText(GENRE_ID), "t", None, date(2000, 1, 2), rating, "movie", None, None)
    [(_, line)] = list(to_copy_lines(TABLES["film_work"], iter([(1, film)])))
    assert float(line.split("\t")[4]) == rating
    assert line.split("\t")[3] == "2000-01-02"


def test_text_that_is_not_utf8_is_refused_and_reported_readably() -> None:
    bad = UndecodableText(b"A\xffB".decode("utf-8", "surrogateescape"))
    with pytest.raises(InvalidValue, match="not valid UTF-8: 'A\ufffdB'"):
        parse_text(bad)
    [(_, rejected)] = list(to_records(TABLES["genre"], iter([(1, GENRE_ID, bad, None, None, None)])))
    assert isinstance(rejected, Rejected)
    assert rejected.raw["name"] == "A\ufffdB"


@pytest.mark.parametrize("column", range(5))
def test_a_row_with_null_in_any_required_column_is_rejected_naming_it(column: int) -> None:
    spec = TABLES["person_film_work"]
    row = [GENRE_ID, GENRE_ID, GENRE_ID, "actor", "2021-06-16 20:14:09+00"]
    row[column] = None
    [(_, result)] = list(to_records(spec, iter([(1, *row)])))
    if spec.columns[column].nullable:
        assert not isinstance(result, Rejected)
    else:
        assert isinstance(result, Rejected)
        assert result.reason == f"{spec.columns[column].source}: NULL where the target requires a value"


ODD_VALUES: list[object] = [
    None,
    "",
    " ",
    "\x00",
    "a\x00b",
    GENRE_ID,
    GENRE_ID.upper(),
    GENRE_ID.replace("-", ""),
    "{" + GENRE_ID + "}",
    "2021-06-16 20:14:09.309735+00",
    "2021-06-16T20:14:09Z",
    "2021-06-16 23:14:09.5+03",
    "2021-06-16 20:14:09.1234567+00",
    "2021-06-16 20:14:09+0530",
    "2021-06-16 20:14:09+25:00",
    "2021-W24-3T20:14:09+00:00",
    "\u0662\u0660\u0662\u0661-06-16 20:14:09+00",
    "2021-06-16",
    "2021-13-45",
    "Tab\there\\",
    "line\r\nbreak",
    "\\N",
    UndecodableText(b"A\xffB".decode("utf-8", "surrogateescape")),
    7,
    0,
    7.5,
    float("inf"),
    float("nan"),
    -0.0,
    b"\x00blob",
    True,
]


# One value per kind that parses, to fill the other columns of a row under test.
GOOD: dict[Kind, object] = {
    Kind.UUID: GENRE_ID,
    Kind.TEXT: "t",
    Kind.DATE: "2000-01-02",
    Kind.FLOAT: 7.0,
    Kind.TIMESTAMP: "2021-06-16 20:14:09.309+00",
}
EVERY_COLUMN = [(table, index) for table, spec in TABLES.items() for index in range(len(spec.columns))]


def _reference_line(spec: TableSpec, record: object) -> str:
    """The COPY line by the rules per kind, column by column: what each table's render must write."""
    values = [getattr(record, column.target) for column in spec.columns]
    return (
        "\t".join(
            "\\N" if value is None else FORMATTERS[column.kind](value)
            for column, value in zip(spec.columns, values, strict=True)
        )
        + "\n"
    )


def test_every_table_has_its_row_code_and_no_other() -> None:
    assert set(ROW_CODE) == set(TABLES)


@pytest.mark.parametrize("table", TABLES)
def test_each_dataclass_has_the_target_columns_in_order(table: str) -> None:
    spec = TABLES[table]
    assert tuple(field.name for field in fields(spec.model)) == spec.target_columns


@pytest.mark.parametrize(("table", "column"), EVERY_COLUMN)
@pytest.mark.parametrize("value", ODD_VALUES, ids=repr)
def test_each_tables_row_code_takes_refuses_and_writes_what_the_rules_per_kind_do(
    table: str, column: int, value: object
) -> None:
    spec = TABLES[table]
    good = [GOOD[other.kind] for other in spec.columns]
    row = (1, *good[:column], value, *good[column + 1 :])

    [(_, result)] = list(to_records(spec, iter([row])))

    kind, nullable = spec.columns[column].kind, spec.columns[column].nullable
    try:
        expected = None if value is None and nullable else PARSERS[kind](value)
    except InvalidValue:
        assert isinstance(result, Rejected) and result.reason.startswith(spec.columns[column].source)
        return
    assert not isinstance(result, Rejected)
    assert type(result) is spec.model
    for index, other in enumerate(spec.columns):
        parsed = getattr(result, other.target)
        wanted = expected if index == column else PARSERS[other.kind](good[index])
        assert type(parsed) is type(wanted)
        assert parsed == wanted or (parsed != parsed and wanted != wanted)  # NaN is not equal to itself
    [(_, line)] = list(to_copy_lines(spec, iter([(1, result)])))
    assert line == _reference_line(spec, result)
