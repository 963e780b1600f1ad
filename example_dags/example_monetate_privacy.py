"""Erase customers from Monetate and Acquia CDP for one erasure request, and prove it.

1. ``submit_deletions`` opens the erasure request in the register beside the ledger (its id, when
   it was received, the GDPR deadline: one month), asks Monetate which of the customers it holds,
   posts the IDs to the ``customer_data_privacy`` dataset (created if missing; in whichever body
   form the account takes) and records a ``submitted`` entry per customer in the proof-of-deletion ledger
   (``$AIRFLOW_HOME/monetate/deletion_ledger`` here; use object storage in production), and a
   ``not_held`` entry for each customer Monetate did not hold (nothing to erase).
2. ``wait_until_erased`` defers to the triggerer until Monetate reports every held ID
   ``NOT_FOUND`` (its nightly batches take 24-48 h), recording each confirmation in the ledger.
3. ``erase_from_cdp`` erases the request's customers from Acquia CDP through its GDPR/CCPA data
   erasure API (a hard erasure, not a ``DeleteFlag``): CDP accepts them (``submitted``) and erases
   them within its 30-day SLA; the same task run again later confirms each one CDP no longer finds.
4. ``audit_report`` reads the ledger back: when each customer was asked about and confirmed gone,
   and the request as the register tells it (due date, each system's progress).

``example_privacy_audit`` guards the request's deadline every day.

Trigger with ``{"customer_ids": ["C1001", "C1002"], "request_id": "TICKET-42", "received_at":
"2026-01-05"}`` to erase other customers (the CDP IDs are ``cdp_customer_ids``). Point the
``exclude_erased`` parameter of your load tasks at the same ledger so the next load does not
send these customers again.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

try:
    from airflow.sdk import DAG, Param, task
except ImportError:  # Airflow 2.11
    from airflow.decorators import task
    from airflow.models.dag import DAG
    from airflow.models.param import Param

from airflow_provider_monetate.monetate.privacy import DeletionLedger, ErasureRegister
from airflow_provider_monetate.operators.acquia_cdp_erasure import AcquiaCdpEraseCustomersOperator
from airflow_provider_monetate.operators.monetate_privacy import MonetateSubmitDeletionsOperator
from airflow_provider_monetate.sensors.monetate import MonetateDeletionSensor
from airflow_provider_monetate.storage import as_location

# DEMO ONLY: set by scripts/demo.sh when the DAG runs against the local emulator, whose
# nightly batch is moved forward by a task below; a real Monetate account needs hours.
EMULATOR_URL = os.environ.get("MONETATE_EMULATOR_URL")

with DAG(
    dag_id="example_monetate_privacy",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    # Hands the customer_ids param to the operator as a list, not as the list's repr.
    render_template_as_native_obj=True,
    params={
        "customer_ids": Param(["C1001", "C1002", "C1003"], type="array", description="Monetate IDs to erase"),
        "cdp_customer_ids": Param(["C-1001", "C-1002"], type="array", description="the same people's CDP IDs"),
        "request_id": Param(None, type=["null", "string"], description="the erasure request (default: the run id)"),
        "received_at": Param(None, type=["null", "string"], description="when it arrived (default: the run's date)"),
    },
    tags=["monetate", "privacy", "example"],
    doc_md=__doc__,
):
    request = {  # every task of one request names it alike: its deadline runs from received_at
        "request_id": "{{ params.request_id or run_id }}",
        # A run triggered through the API may have no logical date (Airflow 3): then its run_after.
        "received_at": "{{ params.received_at or (dag_run.logical_date or dag_run.run_after) | ds }}",
        "regime": "gdpr",
        "request_manner": "web form",
    }
    submit = MonetateSubmitDeletionsOperator(
        task_id="submit_deletions",
        privacy_dataset="gdpr_deletions",
        customer_ids="{{ params.customer_ids }}",
        create_dataset_if_missing=True,
        retries=2,  # safe: a retry skips what was delivered and re-asks only what is in doubt
        **request,
    )
    erase_cdp = AcquiaCdpEraseCustomersOperator(
        task_id="erase_from_cdp",
        customer_ids="{{ params.cdp_customer_ids }}",
        retries=2,  # safe: a retry skips the calls CDP answered
        **request,
    )

    @task
    def load_demo_customers(customer_ids: list) -> str:
        """DEMO ONLY: give the emulator data about these customers, so that there is something to
        erase (a customer Monetate never held is recorded ``not_held``). Delete this task in a real
        DAG; without MONETATE_EMULATOR_URL it does nothing."""
        if not EMULATOR_URL:
            return "not running against the emulator: nothing to do"
        from airflow_provider_monetate.hooks.monetate import MonetateHook

        hook = MonetateHook()
        if hook.find_schema("demo_profiles") is None:
            hook.create_schema({"name": "demo_profiles", "type": "attribute",
                                "fields": {"customer_id": {"data_type": "STRING", "identifier": True}}})
        hook.post_rows("demo_profiles", [{"customer_id": str(c)} for c in customer_ids])
        return f"the emulator holds data about {len(customer_ids)} customer(s)"

    @task
    def advance_emulator_clock() -> str:
        """DEMO ONLY: move the emulator's clock past its nightly deletion batch. Delete this task
        in a real DAG; without MONETATE_EMULATOR_URL it does nothing."""
        if not EMULATOR_URL:
            return "not running against the emulator: nothing to do"
        from airflow_provider_monetate.testing import EmulatorClient

        EmulatorClient(EMULATOR_URL).clock.advance(timedelta(days=1).total_seconds())
        return "emulator clock moved one day ahead, past its nightly deletion batch"

    wait = MonetateDeletionSensor(
        task_id="wait_until_erased",
        receipt=submit.output,
        deferrable=True,
        # Monetate erases in nightly batches: hourly checks are plenty. The demo checks often.
        poke_interval=timedelta(seconds=5) if EMULATOR_URL else timedelta(hours=1),
    )

    @task
    def audit_report(report: dict, receipt: dict) -> dict:
        """Read the ledger back, as an auditor would: when was each customer asked about and confirmed gone?"""
        ledger = DeletionLedger(as_location(report["ledger"]))
        print(ErasureRegister(as_location(report["ledger"])).request(receipt["request_id"]).describe())
        audit = {}
        for customer_id, outcome in report.get("outcomes", {}).items():  # inline up to 100 IDs; see report_path
            asked = [r["delete_request_time"] for r in ledger.records(customer_id, system="monetate")]
            audit[customer_id] = {"requested": min(filter(None, asked)), "outcome": outcome,
                                  "gone": ledger.confirmed_at(customer_id)}
            print(f"{customer_id}: erasure requested {audit[customer_id]['requested']}, {outcome} "
                  f"{audit[customer_id]['gone'] or ''}")
        print(f"{report['confirmed']} of {report['total']} confirmed gone, {report['not_held']} not held; "
              f"per-ID report {report['report_path']}")
        return {"confirmed": report["confirmed"], "total": report["total"], "customers": audit}

    load_demo_customers("{{ params.customer_ids }}") >> submit >> advance_emulator_clock() >> wait
    submit >> erase_cdp >> audit_report(wait.output, submit.output)
