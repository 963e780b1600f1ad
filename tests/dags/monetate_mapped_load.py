"""Test DAG: one mapped MonetatePostRecordsOperator task per file (files from MAPPED_FILES)."""

from __future__ import annotations

import json
import os
from datetime import datetime

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow.models.dag import DAG

from airflow_provider_monetate.operators.monetate import MonetateCreateDatasetOperator, MonetatePostRecordsOperator

FIELDS = {
    "event_id": {"data_type": "STRING", "unique_key": True},
    "customer_id": {"data_type": "STRING", "identifier": True},
    "occurred_at": {"data_type": "DATETIME", "event_time": True},
}

with DAG("monetate_mapped_load", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    create = MonetateCreateDatasetOperator(task_id="create", name="mapped_events", type="event", fields=FIELDS)
    load = MonetatePostRecordsOperator.partial(task_id="load", dataset="mapped_events", batch_size=50).expand(
        source=json.loads(os.environ.get("MAPPED_FILES", "[]"))
    )
    create >> load
