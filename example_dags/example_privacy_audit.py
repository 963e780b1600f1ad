"""Every day: are the erasure requests on time, are erased customers still gone, is the ledger unedited?

1. ``check_deadlines`` (``ErasureDeadlineSensor``) reads the request register beside the ledger:
   it warns when a request has used 50% and 80% of its legal time (GDPR: one month; CCPA: 45
   days; later when extended) and fails when one is overdue, naming the requests and the systems
   still open, with their customers' statuses.
2. ``reverify_erasures`` asks Monetate again about a sample of customers whose erasure settled
   30 or more days ago, and records ``reappeared`` for any Monetate holds again (something sent
   them after their erasure; ``exclude_erased`` keeps them out of loads from then on).
3. ``verify_ledger`` checks that no ledger or register entry was edited, inserted or removed since
   it was written (each entry carries the hash of the one before it), and prints the chain's
   heads: keep them somewhere else to show later that nothing was cut off.
4. ``export_for_auditors`` writes the CCPA record keeping of the last 24 months (request date,
   nature and manner, response date and nature, basis for any denial) as CSV.

``make demo`` runs it after ``example_monetate_privacy`` (the demo runs the DAGs in name order),
whose request it audits; with the emulator's defaults the CDP part stays open (CDP's 30-day SLA),
well within its month.
"""

from __future__ import annotations

from datetime import datetime, timedelta

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow.decorators import task
    from airflow.models.dag import DAG

from airflow_provider_monetate.monetate.privacy import DeletionLedger, ErasureRegister
from airflow_provider_monetate.operators.monetate_reverify import MonetateReverifyErasuresOperator
from airflow_provider_monetate.sensors.erasure import ErasureDeadlineSensor
from airflow_provider_monetate.storage import default_ledger, state_dir

with DAG(
    dag_id="example_privacy_audit",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["monetate", "acquia_cdp", "privacy", "example"],
    doc_md=__doc__,
):
    deadlines = ErasureDeadlineSensor(task_id="check_deadlines")  # the default ledger: pass ledger= for yours
    reverify = MonetateReverifyErasuresOperator(
        task_id="reverify_erasures",
        privacy_dataset="gdpr_deletions",
        older_than_days=30,
        sample=100,  # a hundred a day, drawn anew each run
    )

    @task
    def verify_ledger() -> dict:
        """Fail if any entry of the ledger or the register does not fit its hash chain."""
        check = DeletionLedger(default_ledger()).verify()
        print(check.describe())
        if not check.ok:
            raise ValueError(f"The proof-of-deletion ledger was changed after it was written: {check.describe()}")
        return {"parts": check.parts, "entries": check.entries, "heads": check.heads}

    @task
    def export_for_auditors(dag_run=None) -> dict:
        """The record keeping of the requests received in the last 24 months, as CSV."""
        # A run triggered through the API or the UI may have no logical date (Airflow 3).
        day = (dag_run.logical_date or dag_run.run_after).date()
        since = (day - timedelta(days=730)).isoformat()
        target = state_dir() / "audit" / f"erasure-requests-{day.isoformat()}.csv"
        rows = ErasureRegister(default_ledger()).export(target, since=since)
        print(f"{rows} row(s) in {target}")
        return {"rows": rows, "path": str(target)}

    deadlines >> reverify >> verify_ledger() >> export_for_auditors()
