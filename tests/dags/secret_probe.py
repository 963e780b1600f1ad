"""Test DAG: exercise every credential path of both hooks, then record the secrets used.

The secrets go to a side file named by PROBE_SECRETS_FILE (test instrumentation, outside
Airflow) so the test can prove none of them reached the task output, logs or XCom.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime
from pathlib import Path

try:
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2.11
    from airflow.decorators import dag, task

from airflow_provider_monetate.exceptions import ApiError
from airflow_provider_monetate.hooks.acquia_cdp import AcquiaCdpHook
from airflow_provider_monetate.hooks.monetate import MonetateHook

log = logging.getLogger(__name__)


def record(**secrets):
    path = Path(os.environ["PROBE_SECRETS_FILE"])
    known = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps({**known, **secrets}))


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def secret_probe():
    @task
    def monetate() -> dict:
        hook = MonetateHook()
        good, message = hook.test_connection()
        jwt = hook.build_jwt()
        token = hook.get_token().token
        record(monetate_token=token, monetate_jwt=jwt, monetate_key=hook._conn.password)
        try:
            hook.post_rows("absent_dataset", [{"a": 1}])
        except ApiError as exc:
            log.exception("expected failure: %s", exc)
        log.info("hook state: %r %r", hook.get_token(), hook.api.session.headers)
        return {"ok": good, "message": message, "token": repr(hook.get_token())}

    @task
    def acquia_cdp() -> dict:
        hook = AcquiaCdpHook()
        created = hook.create_token()
        record(cdp_created=created.token, cdp_password=hook._conn.password)
        verified = hook.verify_token(created.token)
        try:
            hook.verify_token("not-a-valid-token-123")
        except ApiError as exc:
            log.exception("expected failure: %s", exc)
        return {"created": repr(created), "days": verified.days_left}

    monetate()
    acquia_cdp()


secret_probe()
