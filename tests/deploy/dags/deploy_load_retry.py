"""Deployment test DAG: one load of a file given at trigger time, retried on failure.

tests/deploy/test_retry_after_kill.py triggers it with ``{"source": ..., "dataset": ...}`` and kills
the load's task process mid-delivery; the retry must resume from the checkpoint. The dataset has a
unique key, so a batch the killed try sent without an acknowledgement is resent as an upsert.
Only the test lane (make test-deploy) puts this folder in the deployment's DAG folder.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, Param

from airflow_provider_monetate.operators.monetate import MonetateCreateDatasetOperator, MonetatePostRecordsOperator

BATCH_SIZE = 50
MAX_IN_FLIGHT = 2

with DAG(
    "deploy_load_retry",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"source": Param("", type="string"), "dataset": Param("retry_events", type="string")},
    tags=["deploy-test"],
):
    create = MonetateCreateDatasetOperator(
        task_id="create_dataset", name="{{ params.dataset }}", type="event",
        fields={
            "event_id": {"data_type": "STRING", "unique_key": True},
            "customer_id": {"data_type": "STRING", "identifier": True},
            "occurred_at": {"data_type": "DATETIME", "event_time": True},
        },
    )
    load = MonetatePostRecordsOperator(
        task_id="load", dataset="{{ params.dataset }}", source="{{ params.source }}",
        batch_size=BATCH_SIZE, max_in_flight=MAX_IN_FLIGHT,
        retries=2, retry_delay=timedelta(seconds=2),
    )
    create >> load
