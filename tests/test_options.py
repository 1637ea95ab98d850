"""One set of run options: the library's RunOptions, the CLI's migrate flags and the DAG's trigger form agree."""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

import pytest

from sqlite_to_postgres.cli import build_parser, run_options
from sqlite_to_postgres.errors import MigrationError
from sqlite_to_postgres.options import RunOptions
from sqlite_to_postgres.tables import TABLE_NAMES

PROJECT_ROOT = Path(__file__).resolve().parent.parent

OPTIONS = {option.name for option in fields(RunOptions)}
# Flags of migrate that are not run options, and why.
CLI_ONLY = {
    "sqlite": "the source file: in Airflow, the movies_sqlite connection",
    "dsn": "the target: in Airflow, the movies_pg connection",
    "no_schema": "in the DAG the schema is a task of its own, apply_schema",
    "help": "argparse's own",
}
# Run options the trigger form does not offer, and why.
NOT_IN_THE_FORM = {"retries": "a task that lost its connection is retried by Airflow (the load tasks' retries)"}


def _migrate_flags() -> dict[str, argparse.Action]:
    commands = next(
        action for action in build_parser()._actions if isinstance(action, argparse._SubParsersAction)
    )
    return {action.dest: action for action in commands.choices["migrate"]._actions}


def test_the_command_line_has_a_flag_for_every_run_option_and_no_other() -> None:
    assert set(_migrate_flags()) - set(CLI_ONLY) == OPTIONS


def test_the_command_line_defaults_are_the_library_defaults() -> None:
    parsed = build_parser().parse_args(["migrate"])
    assert run_options(parsed) == RunOptions()


def test_each_flag_reaches_its_option() -> None:
    parsed = build_parser().parse_args(
        ["migrate", "--tables", "person", "genre", "--batch-size", "7", "--full-refresh", "--delete-missing", "--max-rejects", "3", "--max-reject-fraction", "none", "--workers", "0", "--lock-timeout", "2.5", "--retries", "1"]
    )
    assert run_options(parsed) == RunOptions(
        tables=("genre", "person"),
        batch_size=7,
        full_refresh=True,
        delete_missing=True,
        max_rejects=3,
        max_reject_fraction=None,
        workers=0,
        lock_timeout=2.5,
        retries=1,
    )


@pytest.mark.airflow
def test_the_trigger_form_offers_every_run_option_with_the_library_default() -> None:
    pytest.importorskip("airflow.sdk")
    import sys

    sys.path.insert(0, str(PROJECT_ROOT / "plugins"))
    try:
        from movies_operators import run_params
    finally:
        sys.path.remove(str(PROJECT_ROOT / "plugins"))

    params = run_params()
    assert set(params) == OPTIONS - set(NOT_IN_THE_FORM)
    defaults = RunOptions()
    for name, param in params.items():
        default = getattr(defaults, name)
        assert param.value == (list(default) if isinstance(default, tuple) else default), name
        assert param.description and param.schema.get("title"), name
    # What the form sends back as native values is read as the same options.
    assert RunOptions.from_values({name: param.value for name, param in params.items()}) == defaults


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"batch_size": "7", "full_refresh": "True", "max_rejects": "None"}, RunOptions(batch_size=7, full_refresh=True)),
        ({"tables": "film_work, genre", "max_reject_fraction": "0.5"}, RunOptions(tables=("genre", "film_work"), max_reject_fraction=0.5)),
        ({"tables": "['person']", "workers": "", "lock_timeout": "3"}, RunOptions(tables=("person",), lock_timeout=3)),
        ({"tables": [], "delete_missing": False, "max_reject_fraction": None}, RunOptions(max_reject_fraction=None)),
    ],
)
def test_values_rendered_as_text_are_read_once(values: dict[str, object], expected: RunOptions) -> None:
    assert RunOptions.from_values(values) == expected


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"batch_size": "0"}, "batch size must be at least 1"),
        ({"batch_size": "None"}, "option batch_size: cannot read 'None'"),
        ({"full_refresh": "maybe"}, "option full_refresh: cannot read 'maybe'"),
        ({"tables": ["movies"]}, "unknown table"),
        ({"max_reject_fraction": "2"}, "between 0 and 1"),
        ({"bogus": 1}, "unknown option"),
    ],
)
def test_bad_values_are_refused_with_one_line(values: dict[str, object], message: str) -> None:
    with pytest.raises(MigrationError, match=message):
        RunOptions.from_values(values)


def test_tables_keep_foreign_key_order_each_once() -> None:
    assert RunOptions(tables=("person_film_work", "genre", "genre")).tables == ("genre", "person_film_work")
    assert RunOptions(tables=()).tables == TABLE_NAMES
