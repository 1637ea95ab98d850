"""The DAG's trigger form: one param per run option, titled and described from ``RunOptions`` itself."""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param

from sqlite_to_postgres.options import RunOptions, option_help
from sqlite_to_postgres.tables import TABLE_NAMES

from .operators import RUN_OPTIONS

# The JSON-schema of each option's value, as the form validates it before a run starts.
_SCHEMAS: dict[str, dict[str, Any]] = {
    "tables": {
        "type": "array",
        "items": {"type": "string", "enum": list(TABLE_NAMES)},
        "examples": list(TABLE_NAMES),
        "uniqueItems": True,
    },
    "batch_size": {"type": "integer", "minimum": 1},
    "full_refresh": {"type": "boolean"},
    "delete_missing": {"type": "boolean"},
    "max_rejects": {"type": ["null", "integer"], "minimum": 0},
    "max_reject_fraction": {"type": ["null", "number"], "minimum": 0, "maximum": 1},
    "workers": {"type": ["null", "integer"], "minimum": 0},
    "lock_timeout": {"type": "number", "minimum": 0},
}


def run_params() -> dict[str, Param]:
    """A param for every run option, with the library's default and help text."""
    defaults = RunOptions()
    params = {}
    for name in RUN_OPTIONS:
        default = getattr(defaults, name)
        params[name] = Param(
            list(default) if isinstance(default, tuple) else default,
            title=name.replace("_", " ").capitalize(),
            description=option_help(name),
            **_SCHEMAS[name],
        )
    return params


def run_option_templates() -> dict[str, str]:
    """Each run option as the template of its param, for an operator's keyword arguments."""
    return {name: f"{{{{ params.{name} }}}}" for name in RUN_OPTIONS}
