"""Test DAG: rows and IDs that look like Jinja are sent as they are, and never shown in rendered fields.

Run by tests/integration/test_templates_in_airflow.py against the emulator.
"""

from __future__ import annotations

from datetime import datetime

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow.decorators import task
    from airflow.models.dag import DAG

from airflow_provider_monetate.operators.monetate import MonetateCreateDatasetOperator, MonetatePostRecordsOperator
from airflow_provider_monetate.operators.monetate_privacy import MonetateSubmitDeletionsOperator

FIELDS = {
    "profile_id": {"data_type": "STRING", "unique_key": True},
    "customer_id": {"data_type": "STRING", "identifier": True},
    "note": {"data_type": "STRING"},
}
TRAPS = ["{{ conn.acquia_cdp_default.password }}", "{{SAVE10}}", "{{ ds }}", "{% if %}"]
ERASE = ["{{ ds }}", "secret-erase-1", "secret-erase-2"]
ROWS = [{"profile_id": f"P{i}", "customer_id": f"secret-customer-{i}", "note": note} for i, note in enumerate(TRAPS)]

with DAG("template_probe", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    create = MonetateCreateDatasetOperator(task_id="create", name="profiles", type="attribute", fields=FIELDS,
                                           allow_customer_dataset=True)

    @task
    def rows_from_upstream() -> list[dict]:
        return [{**row, "profile_id": f"X{i}", "customer_id": f"xcom-customer-{i}"} for i, row in enumerate(ROWS)]

    literal = MonetatePostRecordsOperator(task_id="load_literal", dataset="profiles", records=ROWS)
    from_xcom = MonetatePostRecordsOperator(task_id="load_xcom", dataset="profiles", records=rows_from_upstream())
    erase = MonetateSubmitDeletionsOperator(task_id="erase", privacy_dataset="gdpr", customer_ids=ERASE,
                                            create_dataset_if_missing=True, hash_ids=True)
    create >> [literal, from_xcom, erase]
