"""errors.first_line: the one line a report shows of an error."""

from __future__ import annotations

from sqlite_to_postgres.errors import first_line


def test_first_line_keeps_what_went_wrong_and_drops_detail_and_hint() -> None:
    error = RuntimeError('  relation "content.genre" does not exist\nLINE 1: SELECT ...\nHINT: check the schema\n')

    assert first_line(error) == 'relation "content.genre" does not exist'


def test_an_error_without_a_message_is_named_by_its_type() -> None:
    assert first_line(ConnectionResetError()) == "ConnectionResetError"
    assert first_line(ValueError("  \n ")) == "ValueError"
