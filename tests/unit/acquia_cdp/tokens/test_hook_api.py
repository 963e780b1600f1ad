"""How a rotation reads CDP's token answers through the hook, under every reading of the documents:
401 or 403 on verify is "invalid", a refused create is recognised however CDP says it, deletes."""

from __future__ import annotations

import pytest

from airflow_provider_monetate.acquia_cdp.tokens import IssuedToken, VerifyResult
from airflow_provider_monetate.acquia_cdp.tokens._hook_api import HookTokenApi, is_limit_refusal
from airflow_provider_monetate.exceptions import (
    ApiAuthError,
    ApiError,
    ApiForbiddenError,
    ApiValidationError,
    TokenLimitReachedError,
)
from airflow_provider_monetate.hooks.acquia_cdp import AcquiaCdpHook
from airflow_provider_monetate.testing.readings import readings_of
from tests.support.cdp_token_mock import LIFETIME, TOKEN_URL, MockCdp

REFUSALS = [reading for reading in readings_of("cdp.token_limit") if reading.startswith("refuse_")]


def hook() -> AcquiaCdpHook:
    return AcquiaCdpHook("cdp")


@pytest.mark.parametrize("status", readings_of("cdp.invalid_token_status"))
def test_adapter_reads_401_or_403_on_verify_as_invalid(requests_mock, connection, status, logs):
    cdp = MockCdp(requests_mock, expires_in="countdown", invalid_status=status)
    token = cdp.issue()
    api = HookTokenApi(hook())
    assert api.verify(token) == VerifyResult(True, pytest.approx(LIFETIME, abs=2))
    assert api.verify("secret-unknown-token") == VerifyResult(False)
    assert f"{status} on GET /token" in logs()


def test_adapter_reports_what_cdp_said_under_either_expires_in_reading(cdp):
    token = cdp.issue(days=42)
    expected = LIFETIME if cdp.expires_in == "fixed" else 42 * 86400
    assert HookTokenApi(hook()).verify(token).expires_in == pytest.approx(expected, abs=2)


@pytest.mark.parametrize("reading", REFUSALS)
def test_adapter_recognises_every_refusal_reading_as_the_limit(requests_mock, connection, quick_retries, reading):
    cdp = MockCdp(requests_mock, token_limit=reading)
    cdp.created_in_cycle = 3
    with pytest.raises(TokenLimitReachedError, match=r"reads as the environment's token limit") as raised:
        HookTokenApi(hook()).create()
    assert reading.removeprefix("refuse_") in str(raised.value)
    assert "Wipe all tokens" in str(raised.value)


def test_adapter_returns_the_lifetime_of_a_new_token(cdp):
    issued = HookTokenApi(hook()).create()
    assert issued == IssuedToken(cdp.issued[-1], LIFETIME)
    assert cdp.issued[-1] not in repr(issued)


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (400, {"errorCode": "INVALID_SCHEME", "userMessage": "bad"}, ApiValidationError),
        (403, {"errorCode": "FORBIDDEN", "userMessage": "The user may not create tokens."}, ApiForbiddenError),
        (401, {"errorCode": "INVALID_CREDENTIALS", "userMessage": "Login attempts limit reached"}, ApiAuthError),
    ],
)
def test_adapter_keeps_errors_that_do_not_speak_of_a_limit(requests_mock, connection, status, body, error):
    requests_mock.post(TOKEN_URL, status_code=status, json=body)
    with pytest.raises(error) as raised:
        HookTokenApi(hook()).create()
    assert not isinstance(raised.value, TokenLimitReachedError)


@pytest.mark.parametrize(
    ("status", "messages", "refusal"),
    [
        (429, [], True),
        (409, ["CONFLICT: The bearer token quota of environment PROD is used up."], True),
        (403, ["FORBIDDEN: Maximum number of bearer tokens (3) reached"], True),
        (400, ["BAD_REQUEST: too many active tokens"], True),
        (422, ["TOKEN_LIMIT_EXCEEDED: "], True),
        (400, ["INVALID_SCHEME: The scheme query parameter must be 'a1user'."], False),
        (401, ["INVALID_CREDENTIALS: limit"], False),
        (500, ["E500: quota service down"], False),
        (None, [], False),
    ],
)
def test_a_limit_refusal_is_any_4xx_whose_status_or_body_speaks_of_a_limit(status, messages, refusal):
    assert is_limit_refusal(ApiError("Acquia CDP", "POST", "/token", status, messages)) is refusal


@pytest.mark.parametrize("status", readings_of("cdp.invalid_token_status"))
def test_adapter_delete_accepts_an_already_invalid_token(requests_mock, connection, status):
    cdp = MockCdp(requests_mock, invalid_status=status)
    api = HookTokenApi(hook())
    api.delete("secret-unknown-token")
    token = cdp.issue()
    api.delete(token)
    assert not cdp.valid(token)
