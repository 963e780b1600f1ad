"""Load an export split into parts: one mapped task per file, a pool bounding how many run at once.

A warehouse export often arrives as several files (``data/loyalty_events_parts/part-*.ndjson``
here; ``s3://exports/loyalty/part-*.ndjson.gz`` in production). ``list_parts`` finds them when the
run starts, and the load is mapped over them: one task per file, each on whichever worker is free,
each checked, sent and checkpointed on its own, so a retry redoes only what its part left.

Every mapped task takes a slot of the ``monetate_api`` pool, shared with the Monetate tasks of every
other DAG, and keeps at most ``max_in_flight`` requests open: at most (pool slots x max_in_flight)
requests reach the Data API at once, however many parts or DAGs there are. Create the pool once,
e.g. ``airflow pools set monetate_api 2 "Monetate Data API"`` (``make up`` does); a task whose pool
does not exist is never scheduled.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow.decorators import task
    from airflow.models.dag import DAG

from airflow_provider_monetate.operators.monetate import MonetateCreateDatasetOperator, MonetatePostRecordsOperator

PARTS = Path(__file__).parent / "data" / "loyalty_events_parts"
FIELDS = {
    "event_id": {"data_type": "STRING", "unique_key": True},  # a unique key makes retries upserts
    "customer_id": {"data_type": "STRING", "identifier": True},
    "occurred_at": {"data_type": "DATETIME", "event_time": True},
    "points": {"data_type": "NUMBER"},
    "channel": {"data_type": "STRING"},
}

with DAG(
    "example_monetate_load_mapped",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["monetate", "example"],
    doc_md=__doc__,
):
    create_dataset = MonetateCreateDatasetOperator(
        task_id="create_dataset", name="loyalty_events", type="event", fields=FIELDS,
        named_identifier="customer_id",
    )

    @task
    def list_parts() -> list[str]:
        """The files of this run's export: a new part needs no change to the DAG."""
        return sorted(str(path) for path in PARTS.glob("part-*.ndjson"))

    load_part = MonetatePostRecordsOperator.partial(
        task_id="load_part",
        dataset="loyalty_events",
        pool="monetate_api",  # the Data API budget every Monetate task of every DAG shares
        max_in_flight=1,  # requests open per task: 2 pool slots x 1 = at most 2 at once
        retries=2,
        retry_delay=timedelta(seconds=30),
    ).expand(source=list_parts())

    create_dataset >> load_part
