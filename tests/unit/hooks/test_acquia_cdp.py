"""AcquiaCdpHook against requests-mock: token management, tracker ingestion, error paths."""

from __future__ import annotations

import base64
from datetime import datetime, timezone
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
import requests

from airflow_provider_monetate.acquia_cdp import _webtag
from airflow_provider_monetate.acquia_cdp._webtag import webtag_key_matches
from airflow_provider_monetate.exceptions import (
    ApiAuthError,
    ApiForbiddenError,
    ApiNotFoundError,
    ApiUnavailableError,
    ApiValidationError,
    ConfigurationError,
)
from airflow_provider_monetate.hooks.acquia_cdp import AcquiaCdpHook
from airflow_provider_monetate.http import RetryPolicy
from tests.conftest import set_connection
from tests.support.network_failures import SelfSignedServer, refuse_to_resolve

API = "https://api.cdp.test"
AUTH = "https://auth.cdp.test"
TOKEN_URL = f"{AUTH}/token"
TRACKER = f"{API}/v2/1234/dw/tracker"
BASIC = "Basic " + base64.b64encode(b"integration:pa55word").decode()


class FakeStore:
    """Stands in for the token store (the rotation DAG writes the real one)."""

    def __init__(self, *tokens):
        self.tokens = list(tokens)
        self.reads = 0

    def read(self):
        self.reads += 1
        return SimpleNamespace(token=self.tokens[min(self.reads, len(self.tokens)) - 1])


@pytest.fixture
def conn(monkeypatch):
    def make(token_store=None, host=API, **extra):
        set_connection(monkeypatch, "cdp", conn_type="acquia_cdp", host=host, login="integration",
                       password="pa55word", extra={"auth_host": AUTH, "tenant_id": "1234", "environment": "CS",
                                                   "token": "tok-static-123", **extra})
        return AcquiaCdpHook("cdp", token_store=token_store,
                             retry=RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.02))
    return make


@pytest.fixture
def hook(conn):
    return conn()


def test_create_uses_basic_and_returns_typed_result(hook, requests_mock):
    create = requests_mock.post(TOKEN_URL, json={"access_token": "tok-new-456", "token_type": "bearer",
                                                 "expires_in": 15599999})
    result = hook.create_token()
    assert create.last_request.headers["Authorization"] == BASIC
    assert create.last_request.qs == {"action": ["create"], "scheme": ["a1user"]}
    assert result.token == "tok-new-456" and result.expires_in == 15599999
    assert round(result.days_left) == 181
    assert "tok-new-456" not in repr(result)


def test_create_is_never_repeated_after_an_ambiguous_failure(hook, requests_mock):
    create = requests_mock.post(TOKEN_URL, exc=requests.ReadTimeout)
    with pytest.raises(ApiUnavailableError, match="may have been processed"):
        hook.create_token()
    assert create.call_count == 1


def test_create_retried_on_503(hook, requests_mock):
    requests_mock.post(TOKEN_URL, [{"status_code": 503}, {"json": {"access_token": "t-2", "expires_in": 5}}])
    assert hook.create_token().token == "t-2"


@pytest.mark.parametrize(
    ("call", "method", "qs"),
    [
        ("verify_token", "GET", {"scheme": ["a1user"]}),
        ("extend_token", "POST", {"action": ["extend"], "scheme": ["a1user"]}),
        ("delete_token", "DELETE", {"scheme": ["a1user"]}),
    ],
)
def test_bearer_token_calls(hook, requests_mock, call, method, qs):
    mocked = requests_mock.register_uri(method, TOKEN_URL, json={"access_token": "tok-static-123",
                                                                 "expires_in": 86400 * 30})
    result = getattr(hook, call)()
    assert mocked.last_request.headers["Authorization"] == "Bearer tok-static-123"
    assert mocked.last_request.qs == qs
    if call != "delete_token":
        assert result.expires_in == 86400 * 30


def test_extend_without_expiry_in_body_verifies_afterwards(hook, requests_mock):
    requests_mock.post(TOKEN_URL, json={})
    verify = requests_mock.get(TOKEN_URL, json={"access_token": "tok-static-123", "expires_in": 1000})
    assert hook.extend_token().expires_in == 1000
    assert verify.call_count == 1


def test_wipe_uses_basic(hook, requests_mock):
    wipe = requests_mock.delete(TOKEN_URL, json={"status": "wiped", "count": 3})
    assert hook.wipe_tokens() == {"status": "wiped", "count": 3}
    assert wipe.last_request.headers["Authorization"] == BASIC


def test_cdp_error_envelope_is_surfaced(hook, requests_mock):
    requests_mock.post(TOKEN_URL, status_code=400, json={
        "errorCode": "TOKEN_LIMIT_EXCEEDED", "userMessage": "limit 5 for CS reached", "developerMessage": "x"})
    with pytest.raises(ApiValidationError, match="TOKEN_LIMIT_EXCEEDED: limit 5 for CS reached"):
        hook.create_token()


def test_verify_401_is_not_retried_and_names_the_fix(hook, requests_mock):
    verify = requests_mock.get(TOKEN_URL, status_code=401, json={"errorCode": "INVALID_TOKEN", "userMessage": "x"})
    with pytest.raises(ApiAuthError, match="rotation DAG"):
        hook.verify_token()
    assert verify.call_count == 1


def test_post_entities(hook, requests_mock):
    tracker = requests_mock.post(TRACKER, json={"status": "accepted"})
    payload = {"customers": [{"SourceSystemID": "crm", "SourceCustomerNumber": "C1"}]}
    assert hook.post_entities(payload) == {"status": "accepted"}
    request = tracker.last_request
    assert request.headers["Authorization"] == "Bearer tok-static-123"
    assert request.headers["Content-Type"] == "application/json"
    assert request.qs == {"scheme": ["a1user"]}
    assert request.json() == payload


def test_tracker_401_rereads_the_token_store_once(conn, requests_mock):
    store = FakeStore("tok-old-111", "tok-rotated-222")
    hook = conn(token_store=store)
    tracker = requests_mock.post(TRACKER, [{"status_code": 401, "json": {"errorCode": "INVALID_TOKEN"}},
                                           {"json": {"status": "accepted"}}])
    hook.post_entities(body=b'{"events":[]}')
    assert [r.headers["Authorization"] for r in tracker.request_history] == [
        "Bearer tok-old-111", "Bearer tok-rotated-222"]
    assert store.reads == 2


def test_tracker_persistent_401_raises(hook, requests_mock):
    tracker = requests_mock.post(TRACKER, status_code=401, json={"errorCode": "INVALID_TOKEN"})
    with pytest.raises(ApiAuthError):
        hook.post_entities({"events": []})
    assert tracker.call_count == 2


def test_403_and_404(hook, requests_mock):
    requests_mock.post(TRACKER, status_code=403, json={"errorCode": "FORBIDDEN"})
    with pytest.raises(ApiForbiddenError):
        hook.post_entities({"events": []})
    requests_mock.post(TRACKER, status_code=404, json={"errorCode": "NOT_FOUND"})
    with pytest.raises(ApiNotFoundError, match="tenant not found"):
        hook.post_entities({"events": []})


def test_token_from_variable(conn, monkeypatch, requests_mock):
    monkeypatch.setenv("AIRFLOW_VAR_CDP_TOKEN", '{"token": "tok-from-variable-9"}')
    hook = conn(token_variable="cdp_token")
    tracker = requests_mock.post(TRACKER, json={})
    hook.post_entities({"events": []})
    assert tracker.last_request.headers["Authorization"] == "Bearer tok-from-variable-9"


def test_missing_token_is_a_clear_error_before_sending(conn, requests_mock):
    hook = conn(token="")
    with pytest.raises(ConfigurationError, match="No Acquia CDP bearer token"):
        hook.post_entities({"events": []})
    assert requests_mock.call_count == 0


def test_missing_tenant_and_bad_environment(conn, requests_mock):
    with pytest.raises(ConfigurationError, match="tenant_id"):
        conn(tenant_id="").post_entities({"events": []})
    with pytest.raises(ConfigurationError, match="CS, UAT, PROD"):
        _ = conn(environment="dev").environment
    assert requests_mock.call_count == 0


def test_test_connection_reports_days_left(hook, requests_mock):
    requests_mock.get(TOKEN_URL, json={"access_token": "tok-static-123", "expires_in": 86400 * 42})
    good, message = hook.test_connection()
    assert good and "42.0 more days" in message and "tok-static-123" not in message


def test_test_connection_expired_token(hook, requests_mock):
    requests_mock.get(TOKEN_URL, status_code=401, json={"errorCode": "INVALID_TOKEN"})
    good, message = hook.test_connection()
    assert not good and "invalid or expired" in message


def test_token_variable_wins_and_the_extra_serves_until_it_is_written(conn, monkeypatch, requests_mock):
    tracker = requests_mock.post(TRACKER, json={})
    hook = conn(token_variable="cdp_token_unset")  # the Variable does not exist yet
    hook.post_entities({"events": []})
    assert tracker.last_request.headers["Authorization"] == "Bearer tok-static-123"
    monkeypatch.setenv("AIRFLOW_VAR_CDP_TOKEN_SET", '{"token": "tok-rotated-777"}')
    conn(token_variable="cdp_token_set").post_entities({"events": []})
    assert tracker.last_request.headers["Authorization"] == "Bearer tok-rotated-777"


def test_cdp_password_basic_credential_and_tokens_are_masked(monkeypatch, masked, requests_mock):
    set_connection(monkeypatch, "cdp", conn_type="acquia_cdp", host="https://api.test", login="integration",
                   password="pa55word-long", extra={"tenant_id": "1", "token": "tok-static-123"})
    requests_mock.post("https://api.test/token", json={"access_token": "tok-created-456", "expires_in": 10})
    requests_mock.get("https://api.test/token", json={"access_token": "tok-static-123", "expires_in": 10})
    hook = AcquiaCdpHook("cdp")
    hook.create_token()
    hook.verify_token()
    basic = requests_mock.request_history[0].headers["Authorization"].removeprefix("Basic ")
    assert {"pa55word-long", basic, "tok-created-456", "tok-static-123"} <= set(masked)


# -- the connection is checked once, before any call -----------------------------------------------

@pytest.mark.parametrize(("extra", "expected"), [
    ({"tenant_id": ""}, "- tenant_id: missing: set the extra 'tenant_id'"),
    ({"environment": "dev"}, "- environment: Unknown Acquia CDP environment 'dev'; expected one of CS, UAT, PROD"),
    ({"auth_host": "https://cs-auth.test/token"}, "- auth_host: 'https://cs-auth.test/token' has a path"),
    ({"timestamp_unit": "minutes"}, "- timestamp_unit: timestamp_unit must be 's'"),
])
def test_test_connection_reports_a_bad_connection_without_calling(conn, requests_mock, extra, expected):
    # A missing tenant_id or an unknown environment used to raise, after a verify call.
    good, message = conn(**extra).test_connection()
    assert not good and expected in message
    assert requests_mock.call_count == 0


def test_every_problem_of_the_connection_is_reported_at_once(monkeypatch, requests_mock):
    set_connection(monkeypatch, "bad", conn_type="acquia_cdp", host="https://api.cdp.test/v2",
                   extra={"environment": "dev", "token": "tok-static-123"})
    with pytest.raises(ConfigurationError) as info:
        AcquiaCdpHook("bad").post_entities({"events": []})
    first, *lines = str(info.value).splitlines()
    assert first == "Acquia CDP connection 'bad' cannot be used; nothing was sent. Fix host, tenant_id, environment:"
    assert [line.split(":")[0] for line in lines] == ["- host", "- tenant_id", "- environment"]
    assert requests_mock.call_count == 0


def test_test_connection_without_a_token_says_so_without_calling(conn, requests_mock):
    good, message = conn(token="").test_connection()
    assert not good and "No Acquia CDP bearer token" in message and requests_mock.call_count == 0


def test_a_self_signed_auth_host_is_named_by_test_connection(conn, tmp_path):
    with SelfSignedServer(tmp_path) as server:
        hook = conn(auth_host=server.url)
        hook.retry = RetryPolicy(max_attempts=1)
        good, message = hook.test_connection()
    assert not good and f"TLS certificate of 127.0.0.1:{server.port} not accepted (self-signed certificate)" in message


def test_an_unresolvable_api_host_is_named(conn, monkeypatch):
    name = refuse_to_resolve(monkeypatch)
    with pytest.raises(ApiUnavailableError, match=f"-> no response: cannot resolve the host name {name}"):
        conn(host=name).post_entities({"events": []})


# -- no credential this hook has held is shown ----------------------------------------------------------

def test_a_plaintext_password_echoed_by_the_auth_server_is_not_shown(hook, requests_mock):
    requests_mock.post(TOKEN_URL, status_code=400, json={
        "errorCode": "LOCKED", "userMessage": "user integration with password pa55word is locked"})
    with pytest.raises(ApiValidationError) as info:
        hook.create_token()
    assert "pa55word" not in str(info.value) and "password *** is locked" in str(info.value)


def test_a_created_token_echoed_by_the_tracker_is_not_shown(hook, requests_mock):
    requests_mock.post(TOKEN_URL, json={"access_token": "tok-created-456", "expires_in": 10})
    requests_mock.post(TRACKER, status_code=400, text="<html>tokens tok-static-123, tok-created-456 differ</html>")
    hook.create_token()
    with pytest.raises(ApiValidationError) as info:
        hook.post_entities({"events": []})
    assert "tok-created-456" not in str(info.value) and "tok-static-123" not in str(info.value)


def test_a_body_echoing_the_token_renewed_away_does_not_show_it(conn, requests_mock):
    hook = conn(token_store=FakeStore("tok-old-111", "tok-rotated-222"))
    requests_mock.post(TRACKER, [{"status_code": 401, "json": {"errorCode": "INVALID_TOKEN"}},
                                 {"status_code": 400, "json": {"errorCode": "BAD", "userMessage": "not tok-old-111"}}])
    with pytest.raises(ApiValidationError) as info:
        hook.post_entities({"events": []})
    assert str(info.value).startswith("Acquia CDP POST /v2/1234/dw/tracker -> 400: BAD: not ***")


def test_test_connection_never_returns_a_token(hook, requests_mock):
    requests_mock.get(TOKEN_URL, status_code=500, text="internal error verifying Bearer tok-static-123" + "!" * 300)
    hook.retry = RetryPolicy(max_attempts=1)
    good, message = hook.test_connection()
    assert not good and "tok-static" not in message and "Bearer ***" in message


# -- issue 12: the a1webtag scheme: the day's key in the query, no Authorization, never retried -------

WEBTAG_NOW = datetime(2024, 1, 1, 12, tzinfo=timezone.utc)


@pytest.fixture
def webtag_hook(conn, monkeypatch):
    monkeypatch.setattr(_webtag, "utc_now", lambda: WEBTAG_NOW)
    return conn(scheme="a1webtag")


def sent_key(request) -> str:
    """The accessKey of a tracker request, as it was written in the URL (not decoded)."""
    scheme, key = urlsplit(request.url).query.split("&")
    assert scheme == "scheme=a1webtag" and key.startswith("accessKey=")
    return key.removeprefix("accessKey=")


def test_webtag_calls_carry_the_days_key_in_the_query_and_no_authorization(webtag_hook, requests_mock, masked):
    pytest.importorskip("bcrypt")
    tracker = requests_mock.post(TRACKER, json={"status": "accepted"})
    webtag_hook.post_entities({"events": []})
    webtag_hook.post_entities(body=b'{"events":[]}')
    first, second = tracker.request_history
    assert "Authorization" not in first.headers and "Authorization" not in second.headers
    key = sent_key(first)
    assert key.startswith("$2a$10$") and webtag_key_matches(key, "tok-static-123", "2024-01-01")
    assert sent_key(second) == key  # one key a day
    assert key in masked


@pytest.mark.parametrize(("status", "error"), [(401, ApiAuthError), (403, ApiForbiddenError)])
def test_a_refused_webtag_key_is_never_retried_and_the_error_says_why(webtag_hook, requests_mock, status, error):
    pytest.importorskip("bcrypt")
    tracker = requests_mock.post(TRACKER, status_code=status, json={"errorCode": "ACCESS_DENIED", "userMessage": "no"})
    with pytest.raises(error) as info:
        webtag_hook.post_entities({"events": []})
    message = str(info.value)
    assert tracker.call_count == 1
    assert "webtag access key" in message and "not retried" in message and "block" in message
    assert sent_key(tracker.last_request) not in message
    with pytest.raises(error, match="not sent: an earlier call with the webtag access key was refused"):
        webtag_hook.post_entities({"events": []})
    assert tracker.call_count == 1


def test_an_unknown_scheme_is_a_connection_problem_and_the_case_does_not_matter(conn, requests_mock):
    with pytest.raises(ConfigurationError, match=r"- scheme: .*'a1bearer'.*a1user.*a1webtag"):
        _ = conn(scheme="a1bearer").settings
    assert conn(scheme=" A1WEBTAG ").scheme == "a1webtag" and conn(scheme="").scheme == "a1user"
    assert requests_mock.call_count == 0
