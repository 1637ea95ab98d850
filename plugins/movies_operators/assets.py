"""The migration's Airflow Assets: the SQLite catalog it reads and each ``content`` table it writes.

Each load task declares its table's Asset as an outlet; when the load succeeds, Airflow records an
asset event carrying the table's summary as its extra, and runs the DAGs scheduled on that Asset::

    from airflow.sdk import DAG
    from movies_operators.assets import table_asset

    with DAG("rebuild_search_index", schedule=[table_asset("film_work")]): ...

A skipped load (a table left out of the run's ``tables``) or a failed one records no event.

Names are fixed strings, the table's qualified name in ``movies_database``: a URI with the server's
host and port would need the connection looked up while the DAG file is parsed, and the same tables
keep the same name whichever server a deployment points ``movies_pg`` at.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk import Asset

from sqlite_to_postgres.tables import get_table

TARGET_DATABASE = "movies_database"

# The legacy catalog, named for the Airflow connection that says which file it is.
SOURCE_ASSET = Asset(name="movies_sqlite", group="sqlite")

log = logging.getLogger(__name__)


def table_asset(table: str) -> Asset:
    """The Asset of one target table: ``movies_database.content.<table>``."""
    spec = get_table(table)
    return Asset(name=f"{TARGET_DATABASE}.{spec.target_schema}.{spec.name}", group=TARGET_DATABASE)


def announce_load(context: Mapping[str, Any], table: str, summary: dict[str, Any]) -> dict[str, Any]:
    """Attach a load's summary (rows read, inserted, updated, rejected...) to its table's asset event.

    Airflow records the event only when the task succeeds, so a load that fails after this call
    records none. Called outside a task run (``execute({})`` in a test), there is no event to record.
    Returns ``summary``, for the operator to return as its XCom.
    """
    if (outlet_events := context.get("outlet_events")) is not None:
        outlet_events[table_asset(table)].extra = summary
    return summary


def log_load_events(triggering_asset_events: Mapping[Asset, Sequence[Any]]) -> list[dict[str, Any]]:
    """Log each asset event that triggered a run, with the load's summary; returns the summaries."""
    summaries = []
    for asset, events in triggering_asset_events.items():
        for event in events:
            log.info(
                "%s changed by %s.%s (run %s): %s",
                asset.name,
                event.source_dag_id,
                event.source_task_id,
                event.source_run_id,
                ", ".join(f"{key} {value}" for key, value in event.extra.items()),
            )
            summaries.append(dict(event.extra))
    return summaries
