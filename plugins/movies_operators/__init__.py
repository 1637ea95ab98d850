"""Airflow operators for the movie catalog migration, thin over ``sqlite_to_postgres``.

The package sits in Airflow's plugins folder, which Airflow puts on ``sys.path`` in
every process that imports it (dag processor, scheduler, task runner, ``airflow dags
test``), so a DAG imports it as a plain package::

    from movies_operators import MoviesSchemaOperator, MoviesTableOperator, MoviesConsistencyOperator
"""

from .operators import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_POSTGRES_CONN_ID,
    DEFAULT_SQLITE_CONN_ID,
    RUN_OPTIONS,
    MoviesConsistencyOperator,
    MoviesSchemaOperator,
    MoviesTableOperator,
    selected_tables,
)
from .params import run_option_templates, run_params

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_POSTGRES_CONN_ID",
    "DEFAULT_SQLITE_CONN_ID",
    "RUN_OPTIONS",
    "MoviesConsistencyOperator",
    "MoviesSchemaOperator",
    "MoviesTableOperator",
    "run_option_templates",
    "run_params",
    "selected_tables",
]
