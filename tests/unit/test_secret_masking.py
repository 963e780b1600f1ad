"""Every secret the hooks read or mint is registered with Airflow's secrets masker."""

from __future__ import annotations

import time

import pytest

from airflow_provider_monetate.hooks import acquia_cdp, monetate
from airflow_provider_monetate.hooks.acquia_cdp import AcquiaCdpHook
from airflow_provider_monetate.hooks.monetate import MonetateHook
from tests.conftest import set_connection


@pytest.fixture
def masked(monkeypatch):
    registered: list[str] = []
    monkeypatch.setattr(monetate, "mask_secret", registered.append)
    monkeypatch.setattr(acquia_cdp, "mask_secret", registered.append)
    return registered


def test_monetate_key_passphrase_jwt_and_token_are_masked(monkeypatch, keypair, masked, requests_mock):
    set_connection(monkeypatch, "mon", conn_type="monetate", host="https://m.test", login="api-user",
                   password=keypair.encrypted, extra={"shortname": "s", "private_key_passphrase": "s3cret-passphrase"})
    now = time.time()
    mint = requests_mock.get("https://m.test/api/auth/v0/refresh/", json={"data": {
        "token": "1.minted.token", "issued_at": now, "expires_in": 3600, "expires_at": now + 3600}})
    MonetateHook("mon").mint_token()
    jwt_sent = mint.last_request.headers["Authorization"].removeprefix("JWT ")
    assert {keypair.encrypted, "s3cret-passphrase", jwt_sent, "1.minted.token"} <= set(masked)


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
