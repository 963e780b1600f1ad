"""ApiSession over requests (requests-mock): what it sends, and how it performs each step.

The decisions themselves are tested in test_policy.py and, for both clients, test_equivalence.py.
"""

from __future__ import annotations

import email.utils
import time
import traceback

import pytest
import requests
import requests_mock as rm

from airflow_provider_monetate.exceptions import ApiAuthError, ApiUnavailableError, ApiValidationError
from airflow_provider_monetate.http import USER_AGENT, ApiSession, ErrorHints, RetryPolicy

BASE = "https://api.test"


class Credential:
    def __init__(self) -> None:
        self.version = 1
        self.rejected: list[str] = []

    def header(self) -> str:
        return f"Token secret-{self.version}"

    def renew(self, rejected: str) -> None:
        self.rejected.append(rejected)
        self.version += 1


@pytest.fixture
def waits():
    return []


@pytest.fixture
def session(waits):
    return ApiSession("Monetate", BASE + "/", credential=Credential(), hints=ErrorHints(unauthorized="check it"),
                      timeout=(3.0, 7.0), retry=RetryPolicy(max_attempts=3), sleep=waits.append)


def test_sends_headers_body_and_timeout(session, requests_mock):
    mocked = requests_mock.post(f"{BASE}/rows/", status_code=201, json={})
    response = session.request("POST", "/rows/", params={"x": "1"}, json={"a": 1})
    request = mocked.last_request
    assert response.status_code == 201
    assert request.headers["User-Agent"] == USER_AGENT and USER_AGENT.startswith("airflow-provider-monetate/")
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Authorization"] == "Token secret-1"
    assert request.qs == {"x": ["1"]} and request.json() == {"a": 1} and request.timeout == (3.0, 7.0)


def test_pre_encoded_body_and_no_content_type_without_body(session, requests_mock):
    mocked = requests_mock.register_uri(rm.ANY, f"{BASE}/rows/", json={})
    session.request("POST", "/rows/", data=b'{"b":2}')
    assert mocked.last_request.body == b'{"b":2}' and mocked.last_request.headers["Content-Type"] == "application/json"
    session.request("GET", "/rows/")
    assert "Content-Type" not in mocked.last_request.headers


def test_401_renews_with_the_rejected_header_and_resends(session, requests_mock):
    mocked = requests_mock.get(f"{BASE}/x/", [{"status_code": 401}, {"json": {}}])
    session.request("GET", "/x/")
    assert session.credential.rejected == ["Token secret-1"]
    assert [r.headers["Authorization"] for r in mocked.request_history] == ["Token secret-1", "Token secret-2"]


def test_explicit_authorization_bypasses_the_credential_and_is_not_renewed(session, requests_mock):
    mocked = requests_mock.get(f"{BASE}/token/", status_code=401, json={"errorCode": "BAD", "userMessage": "no"})
    with pytest.raises(ApiAuthError, match=r"BAD: no\. check it"):
        session.request("GET", "/token/", authorization="Basic abc")
    assert mocked.call_count == 1 and mocked.last_request.headers["Authorization"] == "Basic abc"
    assert session.credential.rejected == []


def test_error_messages_never_hold_the_credential(session, requests_mock):
    requests_mock.post(f"{BASE}/rows/", status_code=422, json={"meta": {"errors": ["bad Token secret-1"]}})
    with pytest.raises(ApiValidationError) as info:
        session.request("POST", "/rows/", json={})
    assert "secret-1" not in str(info.value) and info.value.messages == ["bad Token ***"]


def test_retries_are_counted_and_slept(session, waits, requests_mock):
    session._rand = lambda: 0.5
    requests_mock.get(f"{BASE}/x/", [{"status_code": 503}, {"status_code": 429, "headers": {"Retry-After": "4"}},
                                     {"json": {}}])
    session.request("GET", "/x/")
    assert waits == [0.5, 4.0] and session.retries == 2


def test_retry_after_http_date_is_read_against_the_wall_clock(session, waits, requests_mock):
    session._rand = lambda: 0.0
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    requests_mock.get(f"{BASE}/x/", [{"status_code": 429, "headers": {"Retry-After": when}}, {"json": {}}])
    session.request("GET", "/x/")
    assert 28 <= waits[0] <= 30


def test_a_transport_failure_is_named_not_chained(session, requests_mock):
    requests_mock.post(f"{BASE}/rows/", exc=requests.ReadTimeout("slow"))
    with pytest.raises(ApiUnavailableError) as info:
        session.request("POST", "/rows/", json={}, retry_ambiguous=False)
    assert info.value.failure == "ReadTimeout" and info.value.__cause__ is None
    text = "no answer from api.test within the read timeout after sending"
    assert info.value.status is None and info.value.messages == [text]
    assert str(info.value).startswith(f"Monetate POST /rows/ -> no response: {text}.")


def test_the_traceback_never_shows_the_query_where_a_customer_id_sits(session, requests_mock):
    customer = "-".join(("customer", "42@example.com"))  # built, so this file's own lines do not hold it
    url = f"{BASE}/customer-data-privacy/gdpr/?id={customer}"
    requests_mock.get(url, exc=requests.ConnectTimeout(f"HTTPSConnectionPool: Max retries exceeded with url: {url}"))
    with pytest.raises(ApiUnavailableError) as info:
        session.request("GET", "/customer-data-privacy/gdpr/", params={"id": customer})
    shown = "".join(traceback.format_exception(info.value))
    assert "customer-42" not in shown and info.value.failure == "ConnectTimeout"


def test_other_request_exceptions_propagate_unchanged(session, requests_mock):
    requests_mock.get(f"{BASE}/x/", exc=requests.exceptions.InvalidURL("bad"))
    with pytest.raises(requests.exceptions.InvalidURL):
        session.request("GET", "/x/")


def test_an_authorization_callable_gives_every_attempt_its_own_header(session, waits, requests_mock):
    # A signed JWT grows old while a call is retried: the caller signs one per attempt.
    session._rand = lambda: 0.0
    signed = iter(["JWT first", "JWT second", "JWT third"])
    mocked = requests_mock.get(f"{BASE}/refresh/", [{"status_code": 503}, {"status_code": 429}, {"json": {}}])
    session.request("GET", "/refresh/", authorization=lambda: next(signed))
    assert [r.headers["Authorization"] for r in mocked.request_history] == ["JWT first", "JWT second", "JWT third"]
    assert session.credential.rejected == [] and waits == [0.0, 0.0]


def test_an_authorization_callable_is_not_renewed_after_a_401(session, requests_mock):
    mocked = requests_mock.get(f"{BASE}/refresh/", status_code=401, json={"meta": {"errors": ["bad JWT sig-1"]}})
    with pytest.raises(ApiAuthError) as info:
        session.request("GET", "/refresh/", authorization=lambda: "JWT sig-1")
    assert mocked.call_count == 1 and session.credential.rejected == []
    assert "sig-1" not in str(info.value)
