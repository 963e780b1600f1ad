"""Counters, the redacted request log, reset, the clock and the HTTP admin client."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
import requests
from emulator_helpers import ATTRIBUTE_FIELDS, TIMEOUT, basic

from airflow_provider_monetate.testing import ROUTES, Emulator, EmulatorAdminError, EmulatorClient, sign_jwt


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


def test_unmatched_paths_are_404_and_counted(emulator):
    cdp_style = requests.get(f"{emulator.url}/v2/1234/dw/dataerasure", timeout=TIMEOUT)
    assert cdp_style.status_code == 404
    assert cdp_style.json()["errorCode"] == "NOT_FOUND"
    monetate_style = requests.get(f"{emulator.url}/api/other/v1/", timeout=TIMEOUT)
    assert monetate_style.status_code == 404
    assert monetate_style.json()["meta"]["code"] == 404
    assert emulator.counters()["unmatched"]["statuses"] == {404: 2}


def test_reset_keeps_users_unless_asked(emulator, api, mint):
    api.create_schema("attrs", ATTRIBUTE_FIELDS)
    emulator.inject("monetate.data", "status")
    emulator.clock.advance(1000)
    emulator.configure(invalidation="evict_oldest")
    emulator.emulator.reset()
    assert emulator.counters()["monetate.schema"]["requests"] == 0
    assert emulator.requests() == []
    assert emulator.faults.snapshot() == []
    assert emulator.clock.offset == 0
    assert emulator.config()["invalidation"] == "all_previous"
    assert api.get("schema/").status_code == 401  # tokens are data: gone
    fresh = mint()
    assert fresh.status_code == 200  # the user survived
    emulator.emulator.reset(users=True)
    assert mint().status_code == 401


def test_clock_python_and_http(emulator):
    client = EmulatorClient(emulator.url)
    assert client.clock.now() == pytest.approx(time.time(), abs=2)
    assert client.clock.advance(3600) == pytest.approx(time.time() + 3600, abs=2)
    assert emulator.clock.now() == pytest.approx(time.time() + 3600, abs=2)
    assert client.clock.set(2_000_000_000) == pytest.approx(2_000_000_000, abs=2)
    raw = requests.get(f"{emulator.url}/__emulator__/clock", timeout=TIMEOUT).json()
    assert raw["now"] == pytest.approx(2_000_000_000, abs=2)
    assert emulator.clock.set(1_900_000_000) == pytest.approx(1_900_000_000, abs=1)
    assert requests.post(f"{emulator.url}/__emulator__/clock", json={}, timeout=TIMEOUT).status_code == 400


def test_admin_client_mirrors_the_python_api(emulator, other_keys):
    client = EmulatorClient(emulator.url)
    client.wait_ready()
    client.add_monetate_user("api-remote", other_keys.public_key_pem, "remoteshop")
    jwt_text = sign_jwt(other_keys.private_key_pem, "api-remote")
    token = requests.get(
        f"{emulator.url}/api/auth/v0/refresh/", headers={"Authorization": f"JWT {jwt_text}"}, timeout=TIMEOUT
    ).json()["data"]["token"]
    base = f"{emulator.url}/api/data/v1/remoteshop/production/"
    headers = {"Authorization": f"Token {token}"}
    requests.post(
        base + "schema/",
        json={"name": "attrs", "type": "attribute", "fields": ATTRIBUTE_FIELDS},
        headers=headers,
        timeout=TIMEOUT,
    )
    requests.post(base + "data/attrs/", json={"schema_rows": [{"customer_id": "R1"}]}, headers=headers, timeout=TIMEOUT)
    assert client.monetate_rows("remoteshop", "attrs") == [{"customer_id": "R1"}]
    assert client.privacy_status("remoteshop", "R1") == "FOUND"
    assert client.configure(nightly_batch_hour=5)["nightly_batch_hour"] == 5
    assert client.config()["nightly_batch_hour"] == 5

    client.add_cdp_user("remote-etl", "pw", "UAT", "4321")
    cdp_token = client.issue_cdp_token("remote-etl")
    requests.post(
        f"{emulator.url}/v2/4321/dw/tracker",
        params={"scheme": "a1user"},
        json={"customers": [{"SourceCustomerNumber": "X"}]},
        headers={"Authorization": f"Bearer {cdp_token}"},
        timeout=TIMEOUT,
    )
    assert client.cdp_records("4321", "customers") == [{"SourceCustomerNumber": "X", "SourceSystemID": "KFK_0"}]
    assert client.cdp_stats()["kfk0_records"] == 1
    assert client.counters()["cdp.tracker"]["statuses"] == {200: 1}

    client.deactivate_monetate_key("api-remote")
    assert requests.get(base + "schema/", headers=headers, timeout=TIMEOUT).status_code == 403
    with pytest.raises(EmulatorAdminError) as info:
        client.monetate_rows("remoteshop", "nope")
    assert info.value.status == 404
    with pytest.raises(EmulatorAdminError) as info:
        client.add_cdp_user("x", "y", "STAGING", "1")
    assert info.value.status == 400
    client.reset()
    assert client.requests() == []


def test_standalone_emulator_lifecycle():
    with Emulator() as emu:
        url = emu.url
        assert url.startswith("http://127.0.0.1:")
        assert requests.get(f"{url}/__emulator__/health", timeout=TIMEOUT).json() == {"status": "ok"}
        port = emu.port
    with pytest.raises(RuntimeError):
        _ = emu.url
    with socket.socket() as sock:  # the port is released
        sock.bind(("127.0.0.1", port))


def test_expire_tokens_forces_reauthentication(emulator, api, cdp, mint):
    cdp_token = cdp.create().json()["access_token"]
    assert api.get("schema/").status_code == 200
    client = EmulatorClient(emulator.url)
    assert client.expire_tokens("monetate") == 1
    assert api.get("schema/").status_code == 401
    assert cdp.verify(cdp_token).status_code == 200
    assert emulator.expire_tokens("cdp") == 1
    assert cdp.verify(cdp_token).status_code == 401
    assert mint().status_code == 200  # new tokens work
    with pytest.raises(ValueError):
        emulator.expire_tokens("everything")


def test_fixture_handle(emulator):
    assert emulator.url == emulator.emulator.url
    assert "BEGIN PRIVATE KEY" in emulator.private_key_pem
    assert "BEGIN PUBLIC KEY" in emulator.public_key_pem
    monetate = json.loads(emulator.monetate_conn_json())
    assert monetate["password"] == emulator.private_key_pem
    assert monetate["extra"] == {"shortname": "testshop"}
    by_path = json.loads(emulator.monetate_conn_json(use_key_path=True))
    assert Path(by_path["extra"]["private_key_path"]).read_text() == emulator.private_key_pem
    token = emulator.issue_cdp_token()
    env = emulator.conn_env(token=token)
    assert json.loads(env["AIRFLOW_CONN_MONETATE_DEFAULT"]) == monetate
    cdp = json.loads(env["AIRFLOW_CONN_ACQUIA_CDP_DEFAULT"])
    assert cdp["login"] == emulator.cdp_login and cdp["password"] == emulator.cdp_password
    assert cdp["extra"]["token"] == token
    assert cdp["extra"]["tenant_id"] == "1234" and cdp["extra"]["environment"] == "CS"
    assert "token" not in json.loads(emulator.cdp_conn_json())["extra"]
    login, _ = emulator.create_cdp_user(environment="PROD")
    assert emulator.cdp_stats()["users"][login]["limit"] == 3
