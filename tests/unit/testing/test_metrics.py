"""Counters per route and the request log, secrets redacted; admin calls are neither."""

from __future__ import annotations

import json
import time

import pytest
import requests

from airflow_provider_monetate.testing import ROUTES, EmulatorClient, sign_jwt
from airflow_provider_monetate.testing.metrics import (
    REDACTED,
    Counters,
    RequestLog,
    loggable_headers,
    redact_authorization,
    redact_target,
)
from tests.unit.testing.helpers import ATTRIBUTE_FIELDS, TIMEOUT, basic


def test_counters_per_route(emulator, api, cdp):
    api.create_schema("attrs", ATTRIBUTE_FIELDS)
    api.post_rows("attrs", [{"customer_id": "C1"}, {"customer_id": "C2"}])
    api.post_rows("attrs", [{"customer_id": ""}])
    token = cdp.create().json()["access_token"]
    cdp.track({"events": [{"SourceSystemID": "x", "Type": "t"}] * 3}, token)
    counters = emulator.counters()
    assert set(ROUTES) <= set(counters)
    assert counters["monetate.auth"] == {
        "requests": 1,
        "statuses": {200: 1},
        "dropped": 0,
        "rows_received": 0,
        "auth_calls": 1,
    }
    assert counters["monetate.schema"]["statuses"] == {201: 1}
    assert counters["monetate.data"]["requests"] == 2
    assert counters["monetate.data"]["statuses"] == {201: 1, 400: 1}
    assert counters["monetate.data"]["rows_received"] == 2
    assert counters["cdp.token"]["auth_calls"] == 1
    assert counters["cdp.tracker"]["rows_received"] == 3
    assert counters["cdp.auth"]["requests"] == 0


def test_request_log_entries(emulator, api):
    api.get("schema/", params={"row_count": "true"})
    entry = emulator.requests()[-1]
    assert entry["method"] == "GET"
    assert entry["path"] == "/api/data/v1/testshop/production/schema/?row_count=true"
    assert entry["route"] == "monetate.schema"
    assert entry["status"] == 200
    assert entry["timestamp"] == pytest.approx(time.time(), abs=5)
    assert entry["fault"] is None


def test_request_log_redacts_every_secret(emulator, cdp):
    jwt_text = sign_jwt(emulator.private_key_pem, emulator.monetate_username)
    monetate_token = requests.get(
        f"{emulator.url}/api/auth/v0/refresh/", headers={"Authorization": f"JWT {jwt_text}"}, timeout=TIMEOUT
    ).json()["data"]["token"]
    requests.get(
        f"{emulator.url}/api/data/v1/testshop/production/schema/",
        headers={"Authorization": f"Token {monetate_token}"},
        timeout=TIMEOUT,
    )
    cdp_token = cdp.create().json()["access_token"]
    cdp.verify(cdp_token)
    requests.post(
        f"{emulator.url}/v2/1234/dw/tracker",
        params={"scheme": "a1webtag", "accessKey": "$2a$10$secretkey", "token": cdp_token, "password": "pw"},
        json={},
        timeout=TIMEOUT,
    )
    log = emulator.requests()
    dumped = json.dumps(log) + json.dumps(EmulatorClient(emulator.url).requests())
    secrets = [
        jwt_text,
        monetate_token,
        cdp_token,
        emulator.cdp_password,
        "secretkey",
        "pw&",
        basic(emulator.cdp_login, emulator.cdp_password).split()[1],
    ]
    for secret in secrets:
        assert secret not in dumped
    schemes = [entry["headers"].get("Authorization") for entry in log]
    assert schemes[:4] == ["JWT [REDACTED]", "Token [REDACTED]", "Basic [REDACTED]", "Bearer [REDACTED]"]
    assert "scheme=a1webtag" in log[-1]["path"]
    assert "accessKey=[REDACTED]" in log[-1]["path"]


def test_admin_calls_are_not_counted_or_logged(emulator):
    client = EmulatorClient(emulator.url)
    client.counters()
    client.clock.now()
    assert emulator.requests() == []
    assert all(c["requests"] == 0 for c in emulator.counters().values())


@pytest.mark.parametrize(
    ("value", "redacted"),
    [("Token abc", f"Token {REDACTED}"), ("abc", REDACTED), ("", ""), (None, None)],
)
def test_redact_authorization_keeps_the_scheme_word(value, redacted):
    assert redact_authorization(value) == redacted


def test_redact_target_replaces_secret_looking_parameters():
    assert redact_target("/p", "") == "/p"
    redacted = redact_target("/p", "id=C1&api_key=k&Password=p&ttl=900")
    assert redacted == f"/p?id=C1&api_key={REDACTED}&Password={REDACTED}&ttl=900"
    headers = {"Authorization": "Basic x", "Cookie": "c", "Content-Type": "application/json"}
    assert loggable_headers(headers) == {"Authorization": f"Basic {REDACTED}", "Content-Type": "application/json"}


def test_counters_and_log_directly():
    counters = Counters()
    counters.record(None, 404)
    counters.record("cdp.tracker", None)
    counters.record("cdp.tracker", 200, rows=3)
    snapshot = counters.snapshot()
    assert snapshot["unmatched"]["statuses"] == {404: 1}
    tracker = {"requests": 2, "statuses": {200: 1}, "dropped": 1, "rows_received": 3, "auth_calls": 0}
    assert snapshot["cdp.tracker"] == tracker
    counters.reset()
    assert counters.snapshot()["cdp.tracker"]["requests"] == 0 and "unmatched" not in counters.snapshot()
    log = RequestLog(maxlen=2)
    for n in range(3):
        log.add({"n": n})
    assert [entry["n"] for entry in log.snapshot()] == [1, 2]
    assert "timestamp" in log.snapshot()[0]
