"""Load warehouse records into a Monetate dataset: create it if missing, post a file, report.

The loader checks every row against the dataset's schema before the first request (a file
with a bad row sends nothing unless ``max_rejected_rows`` allows it), posts 500-row batches
with up to 4 in flight, and resumes after the acknowledged batches when the task is retried.
Its summary goes to XCom and to the ``loyalty_events`` asset, so downstream DAGs can be
scheduled on the dataset being loaded.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

try:
    from airflow.sdk import DAG, Asset, task
except ImportError:  # Airflow 2.11
    from airflow.datasets import Dataset as Asset
    from airflow.decorators import task
    from airflow.models.dag import DAG

from airflow_provider_monetate.operators.monetate import MonetateCreateDatasetOperator, MonetatePostRecordsOperator

SAMPLE = Path(__file__).parent / "data" / "monetate_loyalty_events.ndjson"
LOYALTY_EVENTS = Asset("monetate://datasets/loyalty_events")
FIELDS = {
    "event_id": {"data_type": "STRING", "unique_key": True},  # a unique key makes retries upserts
    "customer_id": {"data_type": "STRING", "identifier": True},
    "occurred_at": {"data_type": "DATETIME", "event_time": True},
    "points": {"data_type": "NUMBER"},
    "channel": {"data_type": "STRING"},
}

with DAG(
    "example_monetate_load",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["monetate", "example"],
):
    create_dataset = MonetateCreateDatasetOperator(
        task_id="create_dataset", name="loyalty_events", type="event", fields=FIELDS,
        named_identifier="customer_id",
    )
    post_records = MonetatePostRecordsOperator(
        task_id="post_records", dataset="loyalty_events", source=str(SAMPLE), outlets=[LOYALTY_EVENTS],
    )

    @task
    def report(summary: dict) -> None:
        print(
            f"{summary['rows_sent']} of {summary['rows_read']} rows sent in {summary['batches']} batches "
            f"({summary['rows_rejected']} rejected, {summary['retries']} retries, {summary['rows_per_second']} rows/s)"
        )

    create_dataset >> post_records >> report(post_records.output)
