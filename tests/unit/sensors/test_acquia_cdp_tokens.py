"""The token expiry sensor: growing urgency, thresholds, failing and soft-failing, a fresh read per poke;
under every reading of the documents (the ``cdp`` fixture runs each test once per ``cdp.expires_in``
reading; invalid tokens are answered 401 or 403)."""

from __future__ import annotations

import pytest

from airflow_provider_monetate.acquia_cdp.tokens import (
    TokenState,
)
from airflow_provider_monetate.acquia_cdp.tokens._policy import DAY
from airflow_provider_monetate.exceptions import (
    ConfigurationError,
)
from airflow_provider_monetate.sensors.acquia_cdp_tokens import AcquiaCdpTokenExpirySensor
from airflow_provider_monetate.testing import InMemoryTokenStore
from airflow_provider_monetate.testing.readings import readings_of
from tests.support.cdp_token_mock import LIFETIME, MockCdp, assert_no_secret

SUMMARY_KEYS = {"action", "reason", "policy", "environment", "days_left", "tokens_created_in_cycle"}


# -- the expiry sensor -----------------------------------------------------------------------------------


def tracked(cdp: MockCdp, days_left: float) -> TokenState:
    """A stored token with ``days_left`` left, its expiry tracked as the rotation tracks it."""
    return TokenState(token=cdp.issue(days=days_left), local_expires_at=cdp.now + days_left * DAY)


def sensor(cdp: MockCdp, days_left: float | None, **kwargs) -> AcquiaCdpTokenExpirySensor:
    state = tracked(cdp, days_left) if days_left is not None else TokenState(token="secret-cdp-token-unknown-9a0b")
    return AcquiaCdpTokenExpirySensor(task_id="check", acquia_cdp_conn_id="cdp",
                                      token_store=InMemoryTokenStore(state), **kwargs)


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


@pytest.mark.parametrize("status", readings_of("cdp.invalid_token_status"))
def test_sensor_fails_on_an_invalid_token(cdp, logs, status):
    cdp.invalid_status = int(status)
    assert sensor(cdp, None).poke({}) is False
    assert f"invalid ({status} on GET /token)" in logs()


def test_an_untracked_token_has_cdps_figure_only(cdp, logs):
    store = InMemoryTokenStore(TokenState(token=cdp.issue(days=100)))  # e.g. pasted by hand, never rotated
    healthy = AcquiaCdpTokenExpirySensor(task_id="check", acquia_cdp_conn_id="cdp", token_store=store).poke({})
    shown = f"{LIFETIME / DAY:.1f}" if cdp.expires_in == "fixed" else "100.0"
    assert healthy is True and f"valid for {shown} more days" in logs()


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
    store = InMemoryTokenStore(tracked(cdp, 0.5))
    check = AcquiaCdpTokenExpirySensor(task_id="check", acquia_cdp_conn_id="cdp", token_store=store)
    assert check.poke({}) is False
    store.write(tracked(cdp, 180))  # the rotation DAG replaced it
    assert check.poke({}) is True
