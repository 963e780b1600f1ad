"""Check both connections: mint a Monetate token and list datasets; verify the CDP bearer token.

Put this at the start of an integration to fail fast on a bad key, a wrong shortname or an
expired CDP token, with a message that says what to fix.
"""

from __future__ import annotations

from datetime import datetime

try:
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2.11
    from airflow.decorators import dag, task

from airflow_provider_monetate.hooks.acquia_cdp import AcquiaCdpHook
from airflow_provider_monetate.hooks.monetate import MonetateHook


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["monetate", "acquia_cdp", "example"])
def example_connection_check():
    @task
    def check_monetate() -> str:
        good, message = MonetateHook().test_connection()
        if not good:
            raise RuntimeError(message)
        return message

    @task
    def check_acquia_cdp() -> str:
        good, message = AcquiaCdpHook().test_connection()
        if not good:
            raise RuntimeError(message)
        return message

    check_monetate()
    check_acquia_cdp()


example_connection_check()
