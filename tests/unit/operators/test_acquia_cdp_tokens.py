"""The token operators against a small stateful CDP on requests-mock, under every reading of the
documents (the ``cdp`` fixture runs each test once per ``cdp.expires_in`` reading; the tests about
refusals and invalid tokens run once per reading of those).

Every test also checks that no token reaches a return value (XCom), a log line or an error."""

from __future__ import annotations

import json

import pytest

from airflow_provider_monetate.acquia_cdp.tokens import (
    ACCELERATED,
    EXTENDED,
    TokenState,
)
from airflow_provider_monetate.acquia_cdp.tokens._policy import DAY
from airflow_provider_monetate.acquia_cdp.tokens._store import VariableTokenStore
from airflow_provider_monetate.exceptions import (
    ApiAuthError,
    ApiForbiddenError,
    ConfigurationError,
    RotationQuotaError,
    TokenLimitReachedError,
    TokenStoreWriteError,
)
from airflow_provider_monetate.operators.acquia_cdp_tokens import (
    AcquiaCdpCreateTokenOperator,
    AcquiaCdpDeleteTokenOperator,
    AcquiaCdpExtendTokenOperator,
    AcquiaCdpRotateTokenOperator,
    AcquiaCdpVerifyTokenOperator,
    AcquiaCdpWipeTokensOperator,
)
from airflow_provider_monetate.testing import InMemoryTokenStore
from airflow_provider_monetate.testing.readings import readings_of
from tests.support.cdp_token_mock import LIFETIME, NOW, MockCdp, assert_no_secret

SUMMARY_KEYS = {"action", "reason", "policy", "environment", "days_left", "tokens_created_in_cycle"}
INVALID_STATUSES = readings_of("cdp.invalid_token_status")


def rotator(store, policy="extended", **kwargs) -> AcquiaCdpRotateTokenOperator:
    return AcquiaCdpRotateTokenOperator(task_id="rotate", policy=policy, acquia_cdp_conn_id="cdp",
                                        token_store=store, **kwargs)


# -- the rotation ----------------------------------------------------------------------------------


def test_first_run_creates_and_stores_a_token_and_returns_no_secret(cdp, logs):
    store = InMemoryTokenStore()
    cdp.now = NOW
    summary = rotator(store).rotate(NOW)
    assert set(summary) == SUMMARY_KEYS
    assert summary["action"] == "recover" and summary["tokens_created_in_cycle"] == 1
    assert summary["policy"] == "extended" and summary["environment"] == "PROD"
    assert summary["days_left"] == pytest.approx(LIFETIME / DAY, abs=0.01)
    stored = store.read()
    assert cdp.valid(stored.token) and stored.last_run_day == "2026-01-01"
    assert_no_secret(cdp, summary, logs())


def test_execute_uses_the_current_time(cdp):
    summary = rotator(InMemoryTokenStore()).execute({})
    assert summary["action"] == "recover"


def test_second_run_the_same_day_does_nothing(cdp, logs):
    store = InMemoryTokenStore()
    cdp.now = NOW
    rotator(store).rotate(NOW)
    before = store.read()
    summary = rotator(store).rotate(NOW + 3600)
    assert summary["action"] == "none" and summary["reason"].startswith("already ran today")
    assert cdp.calls("POST", "create") == 1 and cdp.calls("POST", "extend") == 0
    assert store.read().token == before.token
    assert_no_secret(cdp, summary, logs())


@pytest.mark.parametrize("status", INVALID_STATUSES)
def test_invalid_stored_token_is_replaced_and_the_log_says_so(cdp, logs, status):
    cdp.invalid_status = int(status)
    cdp.now = NOW
    dead = "secret-cdp-token-dead-5b7d4c3e"
    cdp.issued.append(dead)
    store = InMemoryTokenStore(TokenState(token=dead, created_at=NOW - 10 * DAY, cycle_started_at=NOW - 10 * DAY,
                                          tokens_created_in_cycle=1, last_run_day="2026-01-01"))
    summary = rotator(store).rotate(NOW)
    assert summary["action"] == "recover" and summary["tokens_created_in_cycle"] == 2
    assert cdp.valid(store.read().token)
    text = logs()
    assert f"{status} on GET /token" in text
    assert "the stored token is no longer valid; creating a replacement (2 left in this cycle)" in text
    assert_no_secret(cdp, summary, text)


def test_rotation_deletes_the_previous_token_when_it_is_still_valid(requests_mock, connection):
    cdp = MockCdp(requests_mock, invalidate_previous=False)
    cdp.now = NOW
    old = cdp.issue(days=100)
    store = InMemoryTokenStore(TokenState(token=old, created_at=NOW - 90 * DAY, cycle_started_at=NOW - 90 * DAY,
                                          tokens_created_in_cycle=1, last_run_day="2025-12-31"))
    summary = rotator(store, policy="accelerated").rotate(NOW)
    assert summary["action"] == "rotate"
    assert not cdp.valid(old) and cdp.valid(store.read().token)
    assert list(cdp.expiry) == [store.read().token]


def test_rotation_skips_deleting_a_previous_token_the_create_invalidated(cdp):
    cdp.now = NOW
    old = cdp.issue(days=100)
    store = InMemoryTokenStore(TokenState(token=old, created_at=NOW - 90 * DAY, cycle_started_at=NOW - 90 * DAY,
                                          tokens_created_in_cycle=1, last_run_day="2025-12-31"))
    assert rotator(store, policy="accelerated").rotate(NOW)["action"] == "rotate"
    assert cdp.valid(store.read().token)


class FailingStore(InMemoryTokenStore):
    """Fails writes that match ``when``; the error text carries the state, as a database error may."""

    def __init__(self, when, state: TokenState | None = None) -> None:
        super().__init__(state)
        self.when = when

    def write(self, state: TokenState) -> None:
        if self.when(state):
            raise RuntimeError(f"database is locked; parameters: {state.to_json()}")
        super().write(state)


def test_store_write_failure_after_create_says_how_to_recover_without_the_token(cdp, logs):
    cdp.now = NOW
    store = FailingStore(lambda state: state.token is not None)
    with pytest.raises(TokenStoreWriteError) as raised:
        rotator(store).rotate(NOW)
    message = str(raised.value)
    assert cdp.calls("POST", "create") == 1
    assert "A NEW TOKEN WAS CREATED BUT NOT STORED" in message
    assert "RuntimeError: database is locked" in message and "***" in message
    assert "run this task again" in message
    assert "GET /token?scheme=a1user" in message and "DELETE /token?scheme=a1user" in message
    assert "connection 'cdp'" in message
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert_no_secret(cdp, message, logs())
    # The creation was counted before CDP saw it, so the retry stays within the limit.
    assert store.read().tokens_created_in_cycle == 1


def test_store_write_failure_names_the_variable_and_retrying_recovers(cdp, monkeypatch):
    cdp.now = NOW
    variable = {}
    fail = {"on": True}

    def write(self, state):
        if fail["on"] and state.token is not None:
            raise OSError("disk full")
        variable["state"] = state

    monkeypatch.setattr(VariableTokenStore, "write", write)
    monkeypatch.setattr(VariableTokenStore, "read", lambda self: variable.get("state"))
    with pytest.raises(TokenStoreWriteError, match="to the Airflow Variable 'cdp_token'"):
        rotator("cdp_token").rotate(NOW)
    fail["on"] = False
    summary = rotator("cdp_token").rotate(NOW + 300)  # Airflow's retry
    assert summary["action"] == "recover" and summary["tokens_created_in_cycle"] == 2
    assert cdp.valid(variable["state"].token)


def test_store_write_failure_before_create_says_nothing_was_lost(cdp):
    store = FailingStore(lambda state: True)
    with pytest.raises(TokenStoreWriteError, match="nothing was lost") as raised:
        rotator(store).rotate(NOW)
    assert cdp.calls("POST", "create") == 0
    assert "NEW TOKEN" not in str(raised.value)


def test_store_write_failure_after_a_wipe_warns_of_the_lockout(cdp):
    cdp.now = NOW
    dead = "secret-cdp-token-dead-5b7d4c3e"
    store = FailingStore(lambda state: state.token is None,
                         TokenState(token=dead, created_at=NOW - 10 * DAY, cycle_started_at=NOW - 10 * DAY,
                                    tokens_created_in_cycle=3, slot=2))
    with pytest.raises(TokenStoreWriteError, match="already wiped the tokens: tasks get 401") as raised:
        rotator(store).rotate(NOW)
    assert cdp.wipes == 1 and cdp.calls("POST", "create") == 0
    assert dead not in str(raised.value)


def test_quota_guard_fails_before_the_limit(cdp, logs):
    cdp.now = NOW
    token = cdp.issue(days=10)
    cdp.created_in_cycle = 3
    # Token 3 of 3: its last extension left it inside the 30-day window, and the cycle is not over.
    store = InMemoryTokenStore(TokenState(
        token=token, created_at=NOW - 100 * DAY, expires_at=NOW + 10 * DAY, local_expires_at=NOW + 10 * DAY,
        extended_at=NOW - DAY, cycle_started_at=NOW - 100 * DAY, tokens_created_in_cycle=3, slot=1,
        last_run_day="2025-12-31",
    ))
    with pytest.raises(RotationQuotaError, match="creating another would exceed the limit") as raised:
        rotator(store).rotate(NOW)
    assert cdp.calls("POST", "create") == 0 and cdp.wipes == 0
    assert "wipe all tokens" in str(raised.value)
    assert_no_secret(cdp, str(raised.value), logs())


def test_spent_quota_keeps_the_token_instead_of_creating(cdp):
    cdp.now = NOW
    token = cdp.issue(days=150)
    store = InMemoryTokenStore(TokenState(
        token=token, created_at=NOW - 100 * DAY, expires_at=NOW + 150 * DAY, local_expires_at=NOW + 150 * DAY,
        cycle_started_at=NOW - 100 * DAY, tokens_created_in_cycle=3, slot=0, last_run_day="2025-12-31",
    ))
    summary = rotator(store, policy="accelerated").rotate(NOW)
    assert summary["action"] == "none" and "no token left" in summary["reason"]
    assert cdp.calls("POST", "create") == 0


@pytest.mark.parametrize("reading", readings_of("cdp.token_limit"))
def test_cdp_refusing_a_create_leads_to_a_wipe_never_past_the_limit(cdp, quick_retries, reading):
    cdp.token_limit = reading
    cdp.now = NOW
    cdp.created_in_cycle = 3  # someone spent the cycle by hand; nothing is stored
    store = InMemoryTokenStore()
    summary = rotator(store).rotate(NOW)
    if reading == "invalidate":  # the seed: never refused, the create replaced the old tokens
        assert summary["action"] == "recover" and cdp.wipes == 0
    else:  # any refusal is recognised: CDP's count is believed, the tokens wiped, a token created
        assert summary["action"] == "wipe_and_restart" and cdp.wipes == 1
        assert cdp.created_in_cycle == 1
    assert cdp.valid(store.read().token)


def test_a_fixed_expires_in_is_noticed_and_logged_once(requests_mock, connection, logs, caplog):
    cdp = MockCdp(requests_mock, expires_in="fixed")
    store = InMemoryTokenStore()
    for day in range(2):
        cdp.now = NOW + day * DAY
        rotator(store).rotate(cdp.now)
    text = logs()  # (Airflow 2 writes each line to two handlers: count runs, not lines)
    assert "it reports the token's fixed lifetime" in text and "on 2026-01-01 and 2026-01-02" in text
    assert store.read().fixed_lifetime_since == "2026-01-02"
    caplog.clear()
    cdp.now = NOW + 2 * DAY
    rotator(store).rotate(cdp.now)
    assert "it reports the token's fixed lifetime" not in logs()  # said once, not every day


def test_policy_is_templated_and_accepts_names_dicts_and_json(cdp):
    assert "policy" in AcquiaCdpRotateTokenOperator.template_fields
    custom = {"rotate_after_days": 120, "extend_when_days_left": 20, "tokens_per_cycle": 3, "name": "q"}
    assert rotator(None, policy="Accelerated").resolved_policy() is ACCELERATED
    assert rotator(None, policy=custom).resolved_policy().rotate_after_days == (120, 120, 120)
    assert rotator(None, policy=json.dumps(custom)).resolved_policy().name == "q"
    assert rotator(None, policy=EXTENDED).resolved_policy() is EXTENDED
    with pytest.raises(ValueError, match="Unknown rotation policy 'weekly'"):
        rotator(None, policy="weekly").rotate(NOW)
    with pytest.raises(ValueError, match="not valid JSON"):
        rotator(None, policy="{'name': 'x'}").resolved_policy()


def test_policy_too_big_for_the_environment_fails_before_any_call(cdp):
    five = {"rotate_after_days": 90, "extend_when_days_left": 30, "tokens_per_cycle": 5}
    with pytest.raises(ValueError, match="PROD allows 3"):
        rotator(InMemoryTokenStore(), policy=five).rotate(NOW)
    assert cdp.history == []


def test_store_defaults_to_the_token_variable_extra(connection):
    connection(token_variable="acquia_cdp_token")
    store = rotator(None).required_store()
    assert isinstance(store.store, VariableTokenStore) and store.store.variable_name == "acquia_cdp_token"
    assert rotator("other_var").required_store().store.variable_name == "other_var"


def test_no_store_and_no_token_variable_fails_clearly(cdp):
    with pytest.raises(ConfigurationError, match=r"set the 'token_variable' extra of connection 'cdp'.*token_store="):
        rotator(None).rotate(NOW)
    assert cdp.history == []


# -- thin operators -----------------------------------------------------------------------------------


def thin(cls, store=None, **kwargs):
    return cls(task_id=cls.__name__, acquia_cdp_conn_id="cdp", token_store=store, **kwargs)


def test_create_operator_counts_stores_and_warns(cdp, logs):
    store = InMemoryTokenStore()
    result = thin(AcquiaCdpCreateTokenOperator, store).execute({})
    state = store.read()
    assert cdp.valid(state.token) and state.tokens_created_in_cycle == 1 and state.policy == "manual"
    assert result == {"tokens_created_in_cycle": 1, "days_left": pytest.approx(LIFETIME / DAY, abs=0.01)}
    text = logs()
    assert "uses token 1 of the 3 this cycle allows" in text and "invalidates earlier tokens" in text
    assert_no_secret(cdp, result, text)


def test_create_operator_refuses_when_the_stored_count_reaches_the_limit(cdp):
    store = InMemoryTokenStore(TokenState(tokens_created_in_cycle=3))
    with pytest.raises(RotationQuotaError, match="Wipe all tokens first"):
        thin(AcquiaCdpCreateTokenOperator, store).execute({})
    assert cdp.history == []


@pytest.mark.parametrize("reading", [r for r in readings_of("cdp.token_limit") if r != "invalidate"])
def test_create_operator_reads_any_refusal_as_the_limit_and_records_it(cdp, quick_retries, reading, logs):
    cdp.token_limit = reading
    cdp.created_in_cycle = 3  # spent by hand; the store knows nothing
    store = InMemoryTokenStore()
    with pytest.raises(TokenLimitReachedError, match="Wipe all tokens") as raised:
        thin(AcquiaCdpCreateTokenOperator, store).execute({})
    assert reading.removeprefix("refuse_") in str(raised.value)
    assert store.read().tokens_created_in_cycle == 3  # the next create waits for a wipe
    assert_no_secret(cdp, str(raised.value), logs())


def test_create_operator_needs_a_store(cdp):
    with pytest.raises(ConfigurationError, match="token_variable"):
        thin(AcquiaCdpCreateTokenOperator).execute({})


@pytest.mark.parametrize(("status", "error"), [("401", ApiAuthError), ("403", ApiForbiddenError)])
def test_verify_operator_reports_days_left_and_fails_on_an_invalid_token(cdp, logs, status, error):
    cdp.invalid_status = int(status)
    token = cdp.issue(days=42)
    # The state tracks the token's expiry (as the rotation does): the days left hold under either reading.
    store = InMemoryTokenStore(TokenState(token=token, local_expires_at=cdp.now + 42 * DAY))
    assert thin(AcquiaCdpVerifyTokenOperator, store).execute({}) == {"days_left": pytest.approx(42, abs=0.01)}
    cdp.expiry.clear()
    with pytest.raises(error, match=status) as raised:
        thin(AcquiaCdpVerifyTokenOperator, store).execute({})
    text = logs()
    assert f"The Acquia CDP token is invalid ({status} on GET /token)" in text
    assert_no_secret(cdp, str(raised.value), text)


def test_verify_operator_works_with_a_static_token(cdp, connection):
    connection(token=cdp.issue(days=42))
    # Nothing tracks a hand-set token: the days left are CDP's figure, which may be the fixed lifetime.
    expected = LIFETIME / DAY if cdp.expires_in == "fixed" else 42
    assert thin(AcquiaCdpVerifyTokenOperator).execute({})["days_left"] == pytest.approx(expected, abs=0.01)


def test_extend_operator_records_the_extension(cdp, logs):
    token = cdp.issue(days=20)
    store = InMemoryTokenStore(TokenState(token=token, expires_at=cdp.now + 20 * DAY))
    result = thin(AcquiaCdpExtendTokenOperator, store).execute({})
    # CDP added a lifetime (20 + 180.6 days left); an extension is counted as restarting it, the
    # smaller figure, whatever a verify reports.
    assert cdp.expiry[token] == pytest.approx(cdp.now + 20 * DAY + LIFETIME)
    assert result["days_left"] == pytest.approx(LIFETIME / DAY, abs=0.01)
    state = store.read()
    assert state.local_expires_at == pytest.approx(cdp.now + LIFETIME, abs=60) == state.expires_at
    assert state.extended_at is not None
    assert_no_secret(cdp, result, logs())


@pytest.mark.parametrize("status", INVALID_STATUSES)
def test_delete_operator_clears_a_token_cdp_already_rejects(cdp, logs, status):
    cdp.invalid_status = int(status)
    store = InMemoryTokenStore(TokenState(token="secret-cdp-token-dead-5b7d4c3e", tokens_created_in_cycle=2))
    assert thin(AcquiaCdpDeleteTokenOperator, store).execute({}) is None
    assert store.read() == TokenState(tokens_created_in_cycle=2)
    assert f"already rejects the token ({status})" in logs()


def test_delete_operator_deletes_and_clears_the_store(cdp, logs):
    token = cdp.issue()
    store = InMemoryTokenStore(TokenState(token=token, expires_at=cdp.now + DAY, tokens_created_in_cycle=1))
    assert thin(AcquiaCdpDeleteTokenOperator, store).execute({}) is None
    assert not cdp.valid(token)
    assert store.read() == TokenState(tokens_created_in_cycle=1)
    assert_no_secret(cdp, logs())


def test_wipe_operator_wipes_and_starts_a_new_cycle_in_the_store(cdp, logs):
    token = cdp.issue()
    store = InMemoryTokenStore(TokenState(token=token, tokens_created_in_cycle=3, slot=2))
    assert thin(AcquiaCdpWipeTokensOperator, store).execute({}) is None
    assert cdp.wipes == 1 and not cdp.valid(token)
    state = store.read()
    assert state.token is None and state.tokens_created_in_cycle == 0 and state.cycle_started_at is not None
    assert "a new cycle starts" in logs()


def test_no_operator_pushes_a_token_through_templates():
    for cls in (AcquiaCdpRotateTokenOperator, AcquiaCdpCreateTokenOperator, AcquiaCdpVerifyTokenOperator,
                AcquiaCdpExtendTokenOperator, AcquiaCdpDeleteTokenOperator, AcquiaCdpWipeTokensOperator):
        assert not {"token", "token_store"} & set(cls.template_fields)
