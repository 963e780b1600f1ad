"""What every hook shares: the connection attribute, one set of HTTP settings, the form from provider info."""

from __future__ import annotations

from airflow_provider_monetate._provider_info import ACQUIA_CDP_UI, MONETATE_UI
from airflow_provider_monetate.hooks.acquia_cdp import AcquiaCdpHook
from airflow_provider_monetate.hooks.monetate import MonetateHook
from airflow_provider_monetate.http import ErrorHints, RetryPolicy


def test_the_connection_id_is_kept_under_the_name_airflow_asks_for():
    hook = AcquiaCdpHook("my_cdp")
    assert hook.conn_id == hook.acquia_cdp_conn_id == "my_cdp"
    assert MonetateHook().monetate_conn_id == MonetateHook.default_conn_name == "monetate_default"


def test_sessions_share_the_hooks_timeouts_retry_budget_and_pool():
    retry = RetryPolicy(max_attempts=2)
    hook = MonetateHook("mon", timeout=5.0, retry=retry, pool_size=3)
    session = hook.session("Monetate", "https://m.test", None, ErrorHints())
    assert (session.timeout, session.retry, session.base_url) == ((10.0, 5.0), retry, "https://m.test")
    assert session.session.get_adapter("https://m.test")._pool_maxsize == 3


def test_each_hook_shows_its_own_connection_form():
    assert MonetateHook.get_ui_field_behaviour()["relabeling"] == MONETATE_UI["relabeling"]
    assert AcquiaCdpHook.get_ui_field_behaviour()["placeholders"] == ACQUIA_CDP_UI["placeholders"]
