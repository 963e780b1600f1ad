"""The pytest plugin's ``emulator`` fixture: a handle with keys, users and connection JSON."""

from __future__ import annotations

import json
from pathlib import Path


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
