"""Acquia CDP's token endpoints on requests-mock, and the fixtures the token tests share.

Registered as a pytest plugin by tests/conftest.py, so ``cdp``, ``connection``, ``logs`` and
``quick_retries`` are available to every test. ``MockCdp`` follows the emulator's readings of
the documents (``cdp.expires_in``, ``cdp.token_limit``, ``cdp.invalid_token_status``, by the
same names); the ``cdp`` fixture runs each test once per ``cdp.expires_in`` reading.
"""

from __future__ import annotations

import json
import logging
import time

import pytest

from airflow_provider_monetate.acquia_cdp.tokens._policy import DAY
from airflow_provider_monetate.http import _policy as retry_policy
from airflow_provider_monetate.testing.readings import readings_of
from tests.conftest import set_connection

AUTH = "https://auth.cdp.test"
TOKEN_URL = f"{AUTH}/token"
LIFETIME = 15_599_999
NOW = 1_767_232_800.0  # 2026-01-01 02:00 UTC


#: How each ``refuse_<status>`` reading answers a create past the limit (as the emulator does).
REFUSALS = {
    400: {"errorCode": "TOKEN_LIMIT_EXCEEDED", "userMessage": "Token limit reached."},
    403: {"errorCode": "FORBIDDEN", "userMessage": "Maximum number of bearer tokens (3) reached for this user."},
    409: {"errorCode": "CONFLICT", "userMessage": "The bearer token quota of environment PROD is used up."},
    429: None,
}


class MockCdp:
    """CDP's token endpoints on requests-mock, under the emulator's readings.

    :param limit: the environment's limit (creates per cycle).
    :param invalidate_previous: a create invalidates older tokens (the seed) or leaves them valid.
    :param expires_in: ``fixed`` (a verify reports the lifetime) or ``countdown`` (the seconds left).
    :param token_limit: ``invalidate`` (a create is never refused) or ``refuse_<status>``.
    :param invalid_status: ``401`` or ``403``: the answer for an invalid Bearer token.
    """

    def __init__(self, requests_mock, limit: int = 3, invalidate_previous: bool = True, expires_in: str = "fixed",
                 token_limit: str = "invalidate", invalid_status: str = "401") -> None:
        self.limit = limit
        self.invalidate_previous = invalidate_previous
        self.expires_in = expires_in
        self.token_limit = token_limit
        self.invalid_status = int(invalid_status)
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
            if self.created_in_cycle >= self.limit and self.token_limit != "invalidate":
                context.status_code = int(self.token_limit.removeprefix("refuse_"))
                return REFUSALS[context.status_code]
            return {"access_token": self.issue(), "token_type": "bearer", "expires_in": LIFETIME}
        if not self.valid(credential):
            context.status_code = self.invalid_status
            return {"errorCode": "INVALID_TOKEN", "userMessage": "Invalid token"}
        if request.method == "DELETE":
            del self.expiry[credential]
            return {"status": "deleted"}
        if action == "extend":
            self.expiry[credential] += LIFETIME
        left = LIFETIME if self.expires_in == "fixed" else int(self.expiry[credential] - self.now)
        return {"access_token": credential, "expires_in": left}


@pytest.fixture
def connection(monkeypatch):
    def define(**extra):
        set_connection(monkeypatch, "cdp", conn_type="acquia_cdp", host="https://api.cdp.test", login="integration",
                       password="pa55word", extra={"auth_host": AUTH, "tenant_id": "1234", "environment": "PROD",
                                                   **extra})
    define()
    return define


@pytest.fixture(params=readings_of("cdp.expires_in"))
def cdp(requests_mock, connection, request):
    """A ``MockCdp`` with the seed's readings, once per ``cdp.expires_in`` reading."""
    return MockCdp(requests_mock, expires_in=request.param)


@pytest.fixture
def quick_retries(monkeypatch):
    """Hooks created afterwards retry by the production rules with waits of milliseconds (a 429 is retried)."""
    policy = retry_policy.RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002)
    monkeypatch.setattr(retry_policy, "RetryPolicy", lambda: policy)


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
