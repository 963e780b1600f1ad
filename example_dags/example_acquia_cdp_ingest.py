"""Load customers, transactions, transaction items and events into Acquia CDP, then soft-delete one customer.

The sample files in ``data/`` use one format each (CSV, JSON array, NDJSON) and the usual
warehouse habits: ISO timestamps, an epoch number, empty strings. The ingest task converts
timestamps to epoch seconds, sends empty strings as null and puts the connection's
``source_system_id`` on every record; it checks all four entities before sending any.

The second task soft-deletes customer C-1003 (``DeleteFlag: true``). Its transaction stays:
CDP keeps transactions for historical sales figures. The deletion is recorded in the
proof-of-deletion ledger under ``$AIRFLOW_HOME/monetate/deletion_ledger``.

The connection ``acquia_cdp_default`` needs the API host, ``tenant_id``, a ``token`` (or
``token_variable``) and ``source_system_id``; the emulator CLI prints one.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow.models.dag import DAG

from airflow_provider_monetate.operators.acquia_cdp import (
    AcquiaCdpDeleteCustomersOperator,
    AcquiaCdpIngestOperator,
)

DATA = Path(__file__).parent / "data"
LEDGER = Path(os.environ.get("AIRFLOW_HOME") or "~/airflow").expanduser() / "monetate" / "deletion_ledger"

with DAG(
    dag_id="example_acquia_cdp_ingest",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["acquia_cdp", "example"],
    doc_md=__doc__,
):
    ingest = AcquiaCdpIngestOperator(
        task_id="ingest",
        entities={
            "customers": str(DATA / "customers.csv"),
            "transactions": str(DATA / "transactions.json"),
            "transactionItems": str(DATA / "transaction_items.ndjson"),
            "events": str(DATA / "events.ndjson"),
        },
        # A retry skips the batches the failed try delivered (customers stay delivered even if
        # events failed), and never resends an unacknowledged events batch on its own.
        retries=2,
        retry_delay=timedelta(minutes=1),
    )
    forget = AcquiaCdpDeleteCustomersOperator(
        task_id="soft_delete_customer",
        customer_numbers=["C-1003"],
        ledger_path=str(LEDGER),
        retries=2,
        retry_delay=timedelta(minutes=1),
    )

    ingest >> forget
