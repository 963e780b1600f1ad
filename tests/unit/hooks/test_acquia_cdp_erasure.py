"""The hook's data erasure calls against requests-mock: login session, erasure call, logout."""

from __future__ import annotations

import base64

import pytest

from airflow_provider_monetate.acquia_cdp._erasure import SessionToken
from airflow_provider_monetate.exceptions import ApiNotFoundError, UnexpectedResponseError
from airflow_provider_monetate.hooks.acquia_cdp import AcquiaCdpHook
from airflow_provider_monetate.http import RetryPolicy
from tests.conftest import set_connection

API = "https://api.cdp.test"
AUTH = "https://auth.cdp.test"
ERASURE = f"{API}/v2/1234/dw/dataerasure"
BASIC = "Basic " + base64.b64encode(b"integration:pa55word").decode()


@pytest.fixture
def hook(monkeypatch):
    set_connection(monkeypatch, "cdp", conn_type="acquia_cdp", host=API, login="integration", password="pa55word",
                   extra={"auth_host": AUTH, "tenant_id": "1234", "environment": "CS", "token": "bearer-not-for-this"})
    return AcquiaCdpHook("cdp", retry=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02))


def test_login_erase_logout(hook, requests_mock, masked):
    login = requests_mock.post(f"{AUTH}/authentication?action=login", json={"access_token": "sess-1"})
    erase = requests_mock.post(ERASURE, json={"eventId": "e-1", "readyForDataErasure": ["C-1"]})
    logout = requests_mock.post(f"{AUTH}/authentication?action=logout", json={})
    session = SessionToken(hook.login_session, hook.logout_session)
    answer = hook.erase_customers({"customerIds": ["C-1"]}, session=session, fail_on_not_found=True)
    session.close()
    assert answer["readyForDataErasure"] == ["C-1"]
    assert login.last_request.headers["Authorization"] == BASIC
    assert erase.last_request.headers["Authorization"] == "Bearer sess-1"  # the session, never the bearer token
    assert erase.last_request.qs == {"failonnotfound": ["true"]}
    assert erase.last_request.json() == {"customerIds": ["C-1"]}
    assert logout.last_request.headers["Authorization"] == "Bearer sess-1"
    assert "sess-1" in masked


def test_an_expired_session_logs_in_again_once(hook, requests_mock):
    requests_mock.post(f"{AUTH}/authentication?action=login", [{"json": {"access_token": "old"}},
                                                               {"json": {"access_token": "new"}}])
    erase = requests_mock.post(ERASURE, [{"status_code": 401, "json": {"errorCode": "INVALID_TOKEN"}},
                                         {"json": {"eventId": "e-2", "notFound": ["C-9"]}}])
    session = SessionToken(hook.login_session, hook.logout_session)
    assert hook.erase_customers({"customerIds": ["C-9"]}, session=session)["notFound"] == ["C-9"]
    assert [r.headers["Authorization"] for r in erase.request_history] == ["Bearer old", "Bearer new"]


def test_a_login_answer_without_a_token_is_unexpected(hook, requests_mock):
    requests_mock.post(f"{AUTH}/authentication?action=login", json={"status": "ok"})
    with pytest.raises(UnexpectedResponseError, match="access_token"):
        hook.login_session()


def test_a_404_names_the_tenant_to_check(hook, requests_mock):
    requests_mock.post(f"{AUTH}/authentication?action=login", json={"access_token": "sess"})
    requests_mock.post(ERASURE, status_code=404, json={"errorCode": "TENANT_NOT_FOUND", "userMessage": "No tenant"})
    with pytest.raises(ApiNotFoundError, match="tenant_id of connection 'cdp'"):
        hook.erase_customers({"customerIds": ["C-1"]}, session=SessionToken(hook.login_session, hook.logout_session))
