"""Keep the Acquia CDP bearer token alive: rotate it daily, then check it has life left.

The connection ``acquia_cdp_default`` needs the integration user (login/password), its
``environment`` and a ``token_variable`` extra: the Variable where the rotation keeps the token
state and where ingestion tasks read the token. Trigger with ``{"policy": "accelerated"}`` (or a
custom policy dict) to change the policy; the default is Acquia's extended cycle.
"""

from __future__ import annotations

from datetime import datetime, timedelta

try:
    from airflow.sdk import DAG, Param
except ImportError:  # Airflow 2.11
    from airflow.models.dag import DAG
    from airflow.models.param import Param

from airflow_provider_monetate.operators.acquia_cdp_tokens import AcquiaCdpRotateTokenOperator
from airflow_provider_monetate.sensors.acquia_cdp_tokens import AcquiaCdpTokenExpirySensor

with DAG(
    dag_id="example_acquia_cdp_token_rotation",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    # Two overlapping runs could each create a token and invalidate the other's.
    max_active_runs=1,
    # Hands the policy param to the operator as a str or a dict, not as the dict's repr.
    render_template_as_native_obj=True,
    params={
        "policy": Param(
            "extended",
            description="extended, accelerated, combined, or a dict such as "
            '{"rotate_after_days": 120, "extend_when_days_left": 30, "tokens_per_cycle": 3}',
            type=["string", "object"],
        )
    },
    tags=["acquia_cdp", "example"],
    doc_md=__doc__,
):
    rotate = AcquiaCdpRotateTokenOperator(
        task_id="rotate_token",
        policy="{{ params.policy }}",
        # A try that dies half-way (worker lost, CDP or the store unreachable) is finished by the next
        # try: the state counts each creation before it happens, so a retry never exceeds the limit.
        retries=3,
        retry_delay=timedelta(minutes=5),
    )
    check = AcquiaCdpTokenExpirySensor(task_id="check_token_expiry")

    rotate >> check
