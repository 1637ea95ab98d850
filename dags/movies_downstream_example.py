"""An example of a DAG that runs when the migration has loaded ``content.film_work``.

Scheduled on the table's Asset, it runs once after each movies_migration run whose load_film_work
succeeded (several loads between two of its runs make one run that sees them all), and logs each
load's summary. Replace its task with the real follow-up: a search index rebuild, a report...
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, task
from movies_operators.assets import log_load_events, table_asset

FILM_WORK = table_asset("film_work")

with DAG(
    dag_id="movies_downstream_example",
    description="Example: runs after each migration that loads content.film_work",
    doc_md=__doc__,
    schedule=[FILM_WORK],
    catchup=False,
    # An example that only logs: live as soon as it is deployed, so that a migration shows it running.
    is_paused_upon_creation=False,
    tags=["movies", "example"],
) as dag:

    @task
    def log_film_work_loads(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        """The summaries of the loads that triggered this run, as logged and as XCom."""
        return log_load_events(triggering_asset_events or {})

    log_film_work_loads()
