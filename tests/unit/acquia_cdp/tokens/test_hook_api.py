"""How a rotation reads CDP's token answers through the hook: 401 is invalid, a limit refusal, deletes."""

from __future__ import annotations

import pytest

from airflow_provider_monetate.acquia_cdp.tokens import (
    VerifyResult,
)
from airflow_provider_monetate.acquia_cdp.tokens._hook_api import HookTokenApi
from airflow_provider_monetate.exceptions import (
    ApiValidationError,
    TokenLimitReachedError,
)
from airflow_provider_monetate.hooks.acquia_cdp import AcquiaCdpHook
from tests.support.cdp_token_mock import LIFETIME, TOKEN_URL

SUMMARY_KEYS = {"action", "reason", "policy", "environment", "days_left", "tokens_created_in_cycle"}


# -- the adapter -------------------------------------------------------------------------------------


def hook() -> AcquiaCdpHook:
    return AcquiaCdpHook("cdp")


def test_adapter_reads_401_on_verify_as_invalid(cdp):
    token = cdp.issue()
    api = HookTokenApi(hook())
    assert api.verify(token) == VerifyResult(True, pytest.approx(LIFETIME, abs=2))
    assert api.verify("secret-unknown-token") == VerifyResult(False)


def test_adapter_turns_the_limit_refusal_into_create_refused(cdp):
    cdp.created_in_cycle = 3
    with pytest.raises(TokenLimitReachedError, match="TOKEN_LIMIT_EXCEEDED"):
        HookTokenApi(hook()).create()


def test_adapter_keeps_other_validation_errors(requests_mock, connection):
    requests_mock.post(TOKEN_URL, status_code=400, json={"errorCode": "INVALID_SCHEME", "userMessage": "bad"})
    with pytest.raises(ApiValidationError, match="INVALID_SCHEME"):
        HookTokenApi(hook()).create()


def test_adapter_delete_accepts_an_already_invalid_token(cdp):
    api = HookTokenApi(hook())
    api.delete("secret-unknown-token")
    token = cdp.issue()
    api.delete(token)
    assert not cdp.valid(token)
