"""Acquia CDP service: the tracker handler's checks before any payload rule (scheme, bearer
token, tenant, Content-Type, JSON). Webtag access keys: test_webtag.py."""

from __future__ import annotations

import pytest
import requests

from tests.unit.testing.helpers import TIMEOUT, assert_cdp_error, customer


def test_malformed_json_is_400(cdp, cdp_token):
    response = cdp.track(None, cdp_token, raw=b'{"customers": [')
    assert response.status_code == 400
    assert response.json()["errorCode"] == "MALFORMED_JSON"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_wrong_content_type_is_415(cdp, cdp_token, content_type):
    response = cdp.track({"customers": [customer("C-1")]}, cdp_token, content_type=content_type)
    assert response.status_code == 415


def test_content_type_with_charset_is_accepted(cdp, cdp_token):
    response = cdp.track({"customers": [customer("C-1")]}, cdp_token, content_type="application/json; charset=utf-8")
    assert response.status_code == 200


def test_tenant_and_token_checks(emulator, cdp, cdp_token):
    body = {"customers": [customer("C-1")]}
    assert cdp.track(body, cdp_token, tenant="9999").status_code == 404
    assert cdp.track(body, "not-a-token").status_code == 401
    login, _ = emulator.create_cdp_user(environment="PROD", tenant_id="5678")
    other_tenant_token = emulator.issue_cdp_token(login)
    response = cdp.track(body, other_tenant_token)
    assert response.status_code == 403
    assert response.json()["errorCode"] == "FORBIDDEN"
    assert cdp.track(body, other_tenant_token, tenant="5678").status_code == 200
    assert emulator.cdp_records("1234", "customers") == []


def test_the_a1webtag_scheme_takes_an_access_key_not_a_bearer_token(emulator, cdp, cdp_token):
    # The documents name two tracker schemes; a1webtag carries accessKey (tests in test_webtag.py).
    response = requests.post(
        f"{emulator.url}/v2/1234/dw/tracker",
        params={"scheme": "a1webtag"},
        json={"customers": []},
        headers={"Authorization": f"Bearer {cdp_token}"},
        timeout=TIMEOUT,
    )
    assert_cdp_error(response, 401, "INVALID_ACCESS_KEY")


def test_tracker_needs_a_bearer_token(emulator, cdp):
    response = cdp.session.post(
        f"{emulator.url}/v2/1234/dw/tracker",
        params={"scheme": "a1user"},
        json={"customers": [customer("C-1")]},
        headers={"Authorization": cdp.basic()},
        timeout=TIMEOUT,
    )
    body = assert_cdp_error(response, 401, "INVALID_TOKEN")
    assert body["developerMessage"] == "Send Authorization: Bearer <token>."


@pytest.mark.parametrize(
    ("method", "path"), [("PUT", "/token"), ("GET", "/authentication"), ("GET", "/v2/1234/dw/tracker")]
)
def test_other_methods_are_405(emulator, method, path):
    response = requests.request(method, f"{emulator.url}{path}", timeout=TIMEOUT)
    assert_cdp_error(response, 405, "METHOD_NOT_ALLOWED")
    route = {"/token": "cdp.token", "/authentication": "cdp.auth"}.get(path, "cdp.tracker")
    assert emulator.counters()[route]["statuses"] == {405: 1}
