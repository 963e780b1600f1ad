"""Acquia CDP's token endpoints on requests-mock, and the fixtures the token tests share.

Registered as a pytest plugin by tests/conftest.py, so ``cdp``, ``connection`` and ``logs``
are available to every test.
"""

from __future__ import annotations

import json
import logging
import time

import pytest

from airflow_provider_monetate.acquia_cdp.tokens._policy import DAY
from tests.conftest import set_connection

AUTH = "https://auth.cdp.test"
TOKEN_URL = f"{AUTH}/token"
LIFETIME = 15_599_999
NOW = 1_767_232_800.0  # 2026-01-01 02:00 UTC


class MockCdp:
    """CDP's token endpoints on requests-mock: per-cycle limit, and creating invalidates older
    tokens (``invalidate_previous``, the seed's reading) or leaves them valid."""

    def __init__(self, requests_mock, limit: int = 3, invalidate_previous: bool = True) -> None:
        self.limit = limit
        self.invalidate_previous = invalidate_previous
        self.now = time.time()
        self.expiry: dict[str, float] = {}  # valid tokens
        self.created_in_cycle = 0
        self.issued: list[str] = []  # every token ever created, for the leak checks
        self.wipes = 0
        self.history = requests_mock.request_history
        for method in ("GET", "POST", "DELETE"):
            requests_mock.register_uri(method, TOKEN_URL, json=self.handle)

    def issue(self, days: float = LIFETIME / DAY) -> str:
        token = f"secret-cdp-token-{len(self.issued) + 1:03d}-0f6c2a1e5b7d"
        if self.invalidate_previous:
            self.expiry.clear()
        self.expiry[token] = self.now + days * DAY
        self.issued.append(token)
        self.created_in_cycle += 1
        return token

    def valid(self, token: str | None) -> bool:
        return token in self.expiry and self.now < self.expiry[token]

    def calls(self, method: str, action: str | None = None) -> int:
        return sum(1 for r in self.history if r.method == method and r.qs.get("action", [None])[0] == action)

    def handle(self, request, context):
        kind, _, credential = request.headers.get("Authorization", "").partition(" ")
        action = request.qs.get("action", [None])[0]
        if kind == "Basic":
            if request.method == "DELETE":
                self.expiry.clear()
                self.created_in_cycle = 0
                self.wipes += 1
                return {"status": "wiped"}
            if self.created_in_cycle >= self.limit:
                context.status_code = 400
                return {"errorCode": "TOKEN_LIMIT_EXCEEDED", "userMessage": "Token limit reached."}
            return {"access_token": self.issue(), "token_type": "bearer", "expires_in": LIFETIME}
        if not self.valid(credential):
            context.status_code = 401
            return {"errorCode": "INVALID_TOKEN", "userMessage": "Invalid token"}
        if request.method == "DELETE":
            del self.expiry[credential]
            return {"status": "deleted"}
        if action == "extend":
            self.expiry[credential] += LIFETIME
        return {"access_token": credential, "expires_in": int(self.expiry[credential] - self.now)}


@pytest.fixture
def connection(monkeypatch):
    def define(**extra):
        set_connection(monkeypatch, "cdp", conn_type="acquia_cdp", host="https://api.cdp.test", login="integration",
                       password="pa55word", extra={"auth_host": AUTH, "tenant_id": "1234", "environment": "PROD",
                                                   **extra})
    define()
    return define


@pytest.fixture
def cdp(requests_mock, connection):
    return MockCdp(requests_mock)


@pytest.fixture
def logs(caplog, capfd):
    """Everything logged so far: stdlib records (Airflow 2) and structlog output (Airflow 3)."""
    caplog.set_level(logging.INFO)

    def text() -> str:
        captured = capfd.readouterr()
        return caplog.text + captured.out + captured.err

    return text


def assert_no_secret(cdp: MockCdp, *texts) -> None:
    for text in texts:
        text = text if isinstance(text, str) else json.dumps(text)
        for token in cdp.issued:
            assert token not in text
