"""The token expiry sensor: growing urgency, thresholds, failing and soft-failing, a fresh read per poke."""

from __future__ import annotations

from dataclasses import replace

import pytest

from airflow_provider_monetate.acquia_cdp.tokens import (
    TokenState,
)
from airflow_provider_monetate.exceptions import (
    ConfigurationError,
)
from airflow_provider_monetate.sensors.acquia_cdp_tokens import AcquiaCdpTokenExpirySensor
from airflow_provider_monetate.testing import InMemoryTokenStore
from tests.support.cdp_token_mock import MockCdp, assert_no_secret

SUMMARY_KEYS = {"action", "reason", "policy", "environment", "days_left", "tokens_created_in_cycle"}


# -- the expiry sensor -----------------------------------------------------------------------------------


def sensor(cdp: MockCdp, days_left: float | None, **kwargs) -> AcquiaCdpTokenExpirySensor:
    token = cdp.issue(days=days_left) if days_left is not None else "secret-cdp-token-unknown-9a0b"
    return AcquiaCdpTokenExpirySensor(task_id="check", acquia_cdp_conn_id="cdp",
                                      token_store=InMemoryTokenStore(TokenState(token=token)), **kwargs)


@pytest.mark.parametrize(
    "days_left, healthy, level, words",
    [
        (100, True, "info", "valid for 100.0 more days"),
        (25, True, "warning", "should extend or replace it soon"),
        (10, True, "warning", "check that the token rotation DAG runs"),
        (5, True, "error", "URGENT: the Acquia CDP token expires in 5.0 days (<= 7)"),
        (1.5, True, "error", "URGENT"),
        (1, False, "error", "expires in 1.0 days (fail threshold 1)"),
        (0.2, False, "error", "Run the token rotation DAG now"),
    ],
)
def test_sensor_warns_with_growing_urgency_then_fails(cdp, logs, days_left, healthy, level, words):
    assert sensor(cdp, days_left).poke({}) is healthy
    text = logs()
    assert words in text and level in text.lower()
    assert_no_secret(cdp, text)


def test_sensor_fails_on_an_invalid_token(cdp, logs):
    assert sensor(cdp, None).poke({}) is False
    assert "invalid (401 on GET /token)" in logs()


def test_sensor_thresholds_are_configurable(cdp):
    assert sensor(cdp, 3, warn_days=(10,), fail_days=5).poke({}) is False
    assert sensor(cdp, 6, warn_days=(10,), fail_days=5).poke({}) is True
    with pytest.raises(ValueError, match="below every warn_days threshold"):
        sensor(cdp, 6, warn_days=(10, 2), fail_days=5)


def test_sensor_fails_on_the_first_unhealthy_poke_by_default(cdp):
    with pytest.raises(Exception) as raised:
        sensor(cdp, 0.5).execute({})
    assert type(raised.value).__name__ == "AirflowSensorTimeout"
    assert sensor(cdp, 50).execute({}) is None


def test_sensor_soft_fail_skips(cdp):
    with pytest.raises(Exception) as raised:
        sensor(cdp, None, soft_fail=True).execute({})
    assert type(raised.value).__name__ == "AirflowSkipException"


def test_sensor_raises_when_there_is_no_token_at_all(cdp):
    check = AcquiaCdpTokenExpirySensor(task_id="check", acquia_cdp_conn_id="cdp", token_store=InMemoryTokenStore())
    with pytest.raises(ConfigurationError, match="No Acquia CDP bearer token"):
        check.poke({})


def test_sensor_reads_the_token_afresh_on_every_poke(cdp):
    store = InMemoryTokenStore(TokenState(token=cdp.issue(days=0.5)))
    check = AcquiaCdpTokenExpirySensor(task_id="check", acquia_cdp_conn_id="cdp", token_store=store)
    assert check.poke({}) is False
    store.write(replace(store.read(), token=cdp.issue(days=180)))  # the rotation DAG replaced it
    assert check.poke({}) is True
