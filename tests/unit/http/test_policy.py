"""The retry decision itself: classify every status and failure kind, and Attempts over a call.

Time is an injected clock and jitter an injected rand: nothing here reads the wall clock.
"""

from __future__ import annotations

import email.utils

import pytest

from airflow_provider_monetate.exceptions import (
    ApiAuthError,
    ApiError,
    ApiForbiddenError,
    ApiNotFoundError,
    ApiUnavailableError,
    ApiValidationError,
)
from airflow_provider_monetate.http import _policy
from airflow_provider_monetate.http._errors import STATUS_ERRORS, ErrorHints, error_for
from airflow_provider_monetate.http._policy import (
    MAYBE_PROCESSED,
    NOT_PROCESSED,
    Action,
    Attempts,
    Outcome,
    RetryPolicy,
    classify,
    parse_retry_after,
)

HINTS = ErrorHints(unauthorized="fix the login", forbidden="ask an admin", not_found="no such dataset")
SUCCESS = [200, 201, 202, 204, 301, 304]
NOT_RETRIED = [400, 403, 404, 405, 409, 413, 415, 418, 422, 451, 501, 505]
SENT = Outcome.failed("ReadTimeout", reached=True)
NOT_SENT = Outcome.failed("ConnectTimeout", reached=False)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def attempts(policy=None, *, can_renew=True, retry_ambiguous=True, clock=None, rand=lambda: 0.5) -> Attempts:
    return Attempts(policy or RetryPolicy(), service="Monetate", method="POST", path="/x/", hints=HINTS,
                    can_renew=can_renew, retry_ambiguous=retry_ambiguous, clock=clock or Clock(), rand=rand)


# -- classify -------------------------------------------------------------------------------------

@pytest.mark.parametrize("status", SUCCESS)
@pytest.mark.parametrize("ambiguous", [False, True])
def test_success_and_redirects_return(status, ambiguous):
    assert classify(Outcome.answered(status), can_renew=True, renewed=False, retry_ambiguous=ambiguous) is Action.RETURN


@pytest.mark.parametrize(("can_renew", "renewed", "action"), [
    (True, False, Action.RENEW), (True, True, Action.RAISE), (False, False, Action.RAISE), (False, True, Action.RAISE)])
def test_401_renews_once_when_the_call_may(can_renew, renewed, action):
    assert classify(Outcome.answered(401), can_renew=can_renew, renewed=renewed, retry_ambiguous=True) is action


@pytest.mark.parametrize("status", sorted(NOT_PROCESSED))
@pytest.mark.parametrize("ambiguous", [False, True])
def test_not_processed_statuses_are_always_retried(status, ambiguous):
    assert classify(Outcome.answered(status), can_renew=True, renewed=True, retry_ambiguous=ambiguous) is Action.RETRY


@pytest.mark.parametrize("status", sorted(MAYBE_PROCESSED))
@pytest.mark.parametrize(("ambiguous", "action"), [(True, Action.RETRY), (False, Action.GIVE_UP_IN_DOUBT)])
def test_maybe_processed_statuses_are_retried_only_when_harmless(status, ambiguous, action):
    assert classify(Outcome.answered(status), can_renew=True, renewed=False, retry_ambiguous=ambiguous) is action


@pytest.mark.parametrize("status", NOT_RETRIED)
@pytest.mark.parametrize("ambiguous", [False, True])
def test_other_error_statuses_raise(status, ambiguous):
    assert classify(Outcome.answered(status), can_renew=True, renewed=False, retry_ambiguous=ambiguous) is Action.RAISE


@pytest.mark.parametrize(("outcome", "ambiguous", "action"), [
    (NOT_SENT, False, Action.RETRY), (NOT_SENT, True, Action.RETRY),
    (SENT, True, Action.RETRY), (SENT, False, Action.GIVE_UP_IN_DOUBT)])
def test_transport_failures(outcome, ambiguous, action):
    assert classify(outcome, can_renew=True, renewed=False, retry_ambiguous=ambiguous) is action


def test_outcome_doubt_and_reason():
    assert SENT.in_doubt and SENT.messages == ("ReadTimeout after sending",)
    assert not NOT_SENT.in_doubt and NOT_SENT.messages == ("ConnectTimeout",)
    assert [Outcome.answered(s).in_doubt for s in (429, 500, 502, 503, 504)] == [False, True, True, False, True]


# -- Attempts -------------------------------------------------------------------------------------

def test_backoff_doubles_with_full_jitter_up_to_max_delay():
    calls = attempts(RetryPolicy(max_attempts=10, base_delay=1, max_delay=8, max_elapsed=1e9), rand=lambda: 0.5)
    steps = [calls.next(Outcome.answered(503)) for _ in range(6)]
    assert [s.action for s in steps] == [Action.RETRY] * 6
    assert [s.delay for s in steps] == [0.5, 1, 2, 4, 4, 4]
    rands = iter([0.0, 0.99])
    calls = attempts(rand=lambda: next(rands))
    assert [calls.next(Outcome.answered(429)).delay for _ in range(2)] == [0.0, pytest.approx(1.98)]


def test_retry_after_is_a_minimum():
    calls = attempts(rand=lambda: 0.5)
    assert calls.next(Outcome.answered(429, retry_after=7.0)).delay == 7.0
    assert calls.next(Outcome.answered(429, retry_after=0.1)).delay == 1.0  # the backoff is longer


def test_gives_up_after_max_attempts_with_the_count_and_last_answer():
    calls = attempts(RetryPolicy(max_attempts=3))
    assert calls.next(Outcome.answered(503)).action is Action.RETRY
    assert calls.next(SENT).action is Action.RETRY
    step = calls.next(Outcome.answered(503, messages=["busy"]))
    error = step.error
    assert step.action is Action.RAISE and isinstance(error, ApiUnavailableError)
    assert (error.status, error.attempts, error.in_doubt, error.messages) == (503, 3, False, ["busy"])
    assert str(error) == "Monetate POST /x/ -> 503: busy. Gave up after 3 attempts in 0s"


@pytest.mark.parametrize(("last", "in_doubt"), [(Outcome.answered(503), False), (Outcome.answered(502), True),
                                               (NOT_SENT, False), (SENT, True)])
def test_exhausted_error_says_whether_the_last_send_may_have_been_processed(last, in_doubt):
    calls = attempts(RetryPolicy(max_attempts=1))
    error = calls.next(last).error
    assert isinstance(error, ApiUnavailableError) and error.in_doubt is in_doubt


def test_total_time_is_bounded_by_max_elapsed():
    clock = Clock()
    calls = attempts(RetryPolicy(max_attempts=50, base_delay=1, max_delay=8, max_elapsed=20), clock=clock,
                     rand=lambda: 1.0)
    waits = []
    while (step := calls.next(Outcome.answered(502))).action is Action.RETRY:
        waits.append(step.delay)
        clock.now += step.delay
    assert waits == [1, 2, 4, 8] and sum(waits) <= 20
    assert step.error.attempts == 5 and "Gave up after 5 attempts in 15s" in str(step.error)


def test_a_retry_after_beyond_the_time_budget_gives_up_at_once():
    calls = attempts(RetryPolicy(max_elapsed=30))
    step = calls.next(Outcome.answered(429, retry_after=31.0))
    assert step.action is Action.RAISE and step.error.attempts == 1


def test_renews_once_and_the_resend_counts_as_an_attempt():
    calls = attempts()
    assert calls.next(Outcome.answered(401)).action is Action.RENEW and calls.renewed
    step = calls.next(Outcome.answered(401, messages=["expired"]))
    assert isinstance(step.error, ApiAuthError) and calls.count == 2
    assert str(step.error) == "Monetate POST /x/ -> 401: expired. fix the login"


def test_renewal_is_once_per_call_even_across_retries():
    calls = attempts()
    actions = [calls.next(Outcome.answered(s)).action for s in (401, 503, 401)]
    assert actions == [Action.RENEW, Action.RETRY, Action.RAISE]


def test_ambiguous_failure_of_an_unsafe_call_gives_up_at_once_in_doubt():
    for outcome in (SENT, Outcome.answered(500)):
        step = attempts(retry_ambiguous=False).next(outcome)
        error = step.error
        assert isinstance(error, ApiUnavailableError) and error.in_doubt and error.attempts == 1
        assert "may have been processed, so it was not repeated automatically" in str(error)


# -- the status table -----------------------------------------------------------------------------

@pytest.mark.parametrize(("status", "cls", "hint"), [
    (400, ApiValidationError, ""), (401, ApiAuthError, "fix the login"), (403, ApiForbiddenError, "ask an admin"),
    (404, ApiNotFoundError, "no such dataset"), (409, ApiValidationError, ""), (413, ApiValidationError, ""),
    (415, ApiValidationError, ""), (422, ApiValidationError, ""), (405, ApiError, ""), (418, ApiError, ""),
    (501, ApiError, "")])
def test_error_for(status, cls, hint):
    error = error_for("Monetate", "GET", "/p/", status, ["m"], HINTS)
    assert type(error) is cls and error.status == status and error.hint == hint and error.messages == ["m"]
    step = attempts(can_renew=False).next(Outcome.answered(status, messages=["m"]))
    assert type(step.error) is cls and str(step.error) == str(error).replace("GET", "POST").replace("/p/", "/x/")


def test_retried_statuses_are_not_in_the_status_table():
    assert not (set(STATUS_ERRORS) & (NOT_PROCESSED | MAYBE_PROCESSED))


# -- Retry-After and the default policy -----------------------------------------------------------

def test_parse_retry_after():
    now = 1_700_000_000.0
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after(" 3 ", now) == 3.0
    assert parse_retry_after(email.utils.formatdate(now + 30, usegmt=True), now) == 30.0
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after("", now) is None and parse_retry_after(None, now) is None


def test_default_policy_is_resolved_through_the_module(monkeypatch):
    from airflow_provider_monetate.http import ApiSession, AsyncApiClient

    assert ApiSession("S", "https://x").retry == RetryPolicy() == AsyncApiClient("S").retry
    fast = RetryPolicy(max_attempts=2, base_delay=0.01)
    monkeypatch.setattr(_policy, "RetryPolicy", lambda: fast)  # what tests/integration's fast_retries does
    assert ApiSession("S", "https://x").retry is fast and AsyncApiClient("S").retry is fast
    explicit = RetryPolicy(max_attempts=9)
    assert ApiSession("S", "https://x", retry=explicit).retry is explicit
    assert AsyncApiClient("S", retry=explicit).retry is explicit


def test_the_table_in_the_exceptions_docstring_is_the_one_applied():
    """``airflow_provider_monetate.exceptions`` documents which status becomes which error."""
    import re

    from airflow_provider_monetate import exceptions

    documented: dict[int, str] = {}
    for line in (exceptions.__doc__ or "").splitlines():
        match = re.match(r"((?:\d{3}, )*\d{3})\b.*?\s(Api\w+)\s", line)
        if match:
            documented.update(dict.fromkeys(map(int, match.group(1).split(", ")), match.group(2)))
    applied = {status: cls.__name__ for status, (cls, _) in STATUS_ERRORS.items()}
    applied.update(dict.fromkeys(NOT_PROCESSED | MAYBE_PROCESSED, "ApiUnavailableError"))
    assert documented == applied
