"""One text-table renderer: the run summary and the check's report print exactly as before it was shared."""

from __future__ import annotations

import re
from pathlib import Path

from sqlite_to_postgres.summary import TableSummary, format_summaries
from sqlite_to_postgres.text_table import render_table
from sqlite_to_postgres.verify import ColumnDifference, ConsistencyReport, RowDifference, TableReport

README = Path(__file__).resolve().parent.parent / "README.md"


def test_names_align_left_and_counts_right_under_a_rule() -> None:
    assert render_table(["table", "rows"], [["genre", "26"], ["person_film_work", "13,179"]]) == (
        "table               rows\n"
        "----------------  ------\n"
        "genre                 26\n"
        "person_film_work  13,179"
    )


def test_summary_table_is_the_one_the_readme_shows() -> None:
    # Times chosen to give the README's rates: 26 rows at 4,506 rows/s, 13,205 in all at 40,942 rows/s.
    genre = TableSummary("genre", rows_read=26, inserted=26, seconds=26 / 4506.2)
    links = TableSummary(
        "person_film_work", rows_read=13_179, inserted=13_179, seconds=13_205 / 40_942.2 - 26 / 4506.2
    )

    printed = format_summaries([genre, links]).splitlines()

    block = re.search(r"```\n(table +read .*?)\n```", README.read_text(), re.S)
    assert block is not None
    shown = [line for line in block.group(1).splitlines() if line != "..."]
    assert shown == [printed[0], printed[1], printed[2], printed[-1]]


def test_summary_text_is_unchanged_byte_for_byte() -> None:
    """Expected text as printed by the hand-drawn table before the renderer was shared (commit 59159d8)."""
    summaries = [
        TableSummary("genre", rows_read=26, inserted=26, seconds=26 / 4506.3),
        TableSummary(
            "person_film_work",
            rows_read=13_153,
            inserted=13_179,
            rejected=3,
            seconds=0.3142,
            resumed_rows=10,
            unmapped={"file_path": 7},
        ),
    ]

    assert format_summaries(summaries) == (
        "table               read  inserted  updated  unchanged  rejected  deleted  seconds  rows/s\n"
        "----------------  ------  --------  -------  ---------  --------  -------  -------  ------\n"
        "genre                 26        26        0          0         0        0     0.01   4,506\n"
        "person_film_work  13,153    13,179        0          0         3        0     0.31  41,830\n"
        "total             13,179    13,205        0          0         3        0     0.32  41,157\n"
        "person_film_work: column file_path has data in 7 rows but no target column; it was not loaded\n"
        "person_film_work: resumed after 10 rows committed by an earlier run\n"
        "person_film_work: 3 rows rejected; see migration.rejects"
    )
    assert format_summaries([TableSummary("genre")]) == (
        "table  read  inserted  updated  unchanged  rejected  deleted  seconds  rows/s\n"
        "-----  ----  --------  -------  ---------  --------  -------  -------  ------\n"
        "genre     0         0        0          0         0        0     0.00       0"
    )


def test_consistency_report_text_is_unchanged_byte_for_byte() -> None:
    """Expected text as printed by verify's own table before the renderer was shared (commit 59159d8)."""
    differences = (
        RowDifference(
            "differing",
            "abc",
            7,
            (ColumnDifference("full_name", "'a'", "'b'"), ColumnDifference("modified", "x", "y")),
        ),
        RowDifference("missing", "def", 9, note="a second source row"),
        RowDifference("extra", "ghi"),
    )
    tables = (
        TableReport("genre", 26, 26, 26, 0, 0, 0, 0, chunks=16, chunks_differing=0),
        TableReport("person", 5000, 5001, 4997, 1, 2, 2, 0, differences, chunks=256, chunks_differing=3),
    )
    details = (
        "\n\nperson: 5 rows differ (showing 3; source value | target value)\n"
        "  id abc (source rowid 7): differs\n"
        "      full_name  'a' | 'b'\n"
        "      modified   x   | y\n"
        "  id def (source rowid 9): missing in target: a second source row\n"
        "  id ghi: extra in target"
    )

    assert ConsistencyReport(tables, fast=True).format() == (
        "Consistency check (fast): NOT consistent\n"
        "table   source  target  matched  missing  extra  differing  rejected  chunks differing   result\n"
        "------  ------  ------  -------  -------  -----  ---------  --------  ----------------  -------\n"
        "genre       26      26       26        0      0          0         0              0/16       ok\n"
        "person   5,000   5,001    4,997        1      2          2         0             3/256  DIFFERS"
        + details
    )
    assert ConsistencyReport(tables).format() == (
        "Consistency check (full): NOT consistent\n"
        "table   source  target  matched  missing  extra  differing  rejected   result\n"
        "------  ------  ------  -------  -------  -----  ---------  --------  -------\n"
        "genre       26      26       26        0      0          0         0       ok\n"
        "person   5,000   5,001    4,997        1      2          2         0  DIFFERS" + details
    )
