"""The movies_migration DAG: wiring only; the work lives in ``movies_operators`` and the library."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG
from movies_operators import (
    MoviesConsistencyOperator,
    MoviesSchemaOperator,
    MoviesTableOperator,
    run_option_templates,
    run_params,
)
from movies_operators.assets import SOURCE_ASSET, table_asset

from sqlite_to_postgres.tables import TABLE_NAMES, TABLES

SQLITE_CONN_ID = "movies_sqlite"
POSTGRES_CONN_ID = "movies_pg"

DOC_MD = f"""
# movies_migration

Copies the legacy SQLite movie catalog (connection `{SQLITE_CONN_ID}`) into PostgreSQL
(connection `{POSTGRES_CONN_ID}`, database `movies_database`, schema `content`).

1. **apply_schema** checks the SQLite file (sound, with every table and column needed), then
   creates the `content` tables and indexes if they are missing.
2. **load_genre**, **load_person**, **load_film_work** run in parallel.
3. **load_genre_film_work** (after genre and film_work) and **load_person_film_work**
   (after person and film_work) follow the foreign keys.
4. **check_consistency** compares the target with the source and fails if they differ.

Loads are upserts: a second run inserts nothing and reports the rows as unchanged.
Each load task returns its summary (rows read, inserted, updated, unchanged, rejected,
seconds) as its XCom and logs it as a table.

**Params**: one per option of the command line's `migrate` (see the README's options table):
`tables` (which tables to load; the others are skipped, the rest of the run goes on, and the check
covers only the chosen tables), `batch_size`, `full_refresh`, `delete_missing`, `max_rejects`,
`max_reject_fraction`, `workers` and `lock_timeout` (how long a task waits for another run loading
the same table). A table whose parents are not chosen needs them already loaded in the target.

Load tasks retry on a PostgreSQL that cannot be reached, with exponential backoff; a
missing SQLite file or a failed check fails at once.
"""

# Only the loads retry: the schema is one quick statement, and the check would repeat its verdict.
LOAD_RETRY_ARGS = {
    "retries": 3,
    "retry_delay": timedelta(seconds=20),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=5),
}

with DAG(
    dag_id="movies_migration",
    description="Migrate the SQLite movie catalog into PostgreSQL (content schema)",
    doc_md=DOC_MD,
    schedule=None,
    catchup=False,
    max_active_runs=1,
    # Params reach the operators as native values (an int, a list), not their text.
    render_template_as_native_obj=True,
    tags=["movies", "migration"],
    # One param per run option, as the command line has one flag per option (see README).
    params=run_params(),
    default_args={
        "sqlite_conn_id": SQLITE_CONN_ID,
        "postgres_conn_id": POSTGRES_CONN_ID,
    },
) as dag:
    options = run_option_templates()
    schema = MoviesSchemaOperator(task_id="apply_schema", inlets=[SOURCE_ASSET], **options)

    loads = {
        table: MoviesTableOperator(
            task_id=f"load_{table}",
            table=table,
            **options,
            # A parent skipped by the tables param must not skip its children.
            trigger_rule="none_failed",
            outlets=[table_asset(table)],
            **LOAD_RETRY_ARGS,
        )
        for table in TABLE_NAMES
    }

    check = MoviesConsistencyOperator(
        task_id="check_consistency",
        trigger_rule="none_failed",
        **options,
    )

    # The edges are the catalog's foreign keys: a table loads after the tables it points at.
    for table, load in loads.items():
        parents = [loads[key.parent] for key in TABLES[table].foreign_keys]
        (parents or [schema]) >> load
        if not any(table in (key.parent for key in spec.foreign_keys) for spec in TABLES.values()):
            load >> check
