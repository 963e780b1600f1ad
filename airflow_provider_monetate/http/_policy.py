"""The one retry decision, shared by the requests session and the httpx client.

Pure: no HTTP library, no sleeping, no clock of its own. A client sends, describes what happened
as an :class:`Outcome`, and asks its call's :class:`Attempts` what to do next; it then performs
the :class:`Step` (sleep, renew the credential, return or raise) in its own way (``time.sleep``
or ``asyncio.sleep``, a renewal in a thread or not). No client decides anything itself, so the
sync hooks and the async trigger cannot drift apart.

The rules (:func:`classify`):

* < 400 -> return the response;
* 401 -> renew the credential once and send again, when the call may renew (it uses the client's
  credential, not an explicit ``Authorization`` such as a token-management call's);
* 429 and 503 (:data:`NOT_PROCESSED`) -> the server did not act: always retried;
* 500, 502, 504 (:data:`MAYBE_PROCESSED`), and a transport failure after the request may have
  reached the server -> retried only when the caller says a repeat is harmless
  (``retry_ambiguous``), otherwise given up at once as *in doubt*;
* a transport failure before anything was sent (refused, connect timeout, TLS handshake) ->
  always retried;
* any other status -> raised as the mapped error (:data:`~._errors.STATUS_ERRORS`).

A retry waits :meth:`RetryPolicy.backoff` (full jitter, at least ``Retry-After``), and the call
gives up with :class:`ApiUnavailableError` when the next send would exceed ``max_attempts`` or
the wait would end past ``max_elapsed`` seconds since the first send.
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum

from airflow_provider_monetate.exceptions import ApiError, ApiUnavailableError
from airflow_provider_monetate.http._errors import ErrorHints, error_for

NOT_PROCESSED = frozenset({429, 503})
MAYBE_PROCESSED = frozenset({500, 502, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying a call that failed for a transient reason.

    :param max_attempts: sends at most this many times in all (a 401 renewal's resend counts).
    :param base_delay: first backoff in seconds; doubles with every attempt.
    :param max_delay: no single wait is longer than this (unless ``Retry-After`` asks more).
    :param max_elapsed: give up instead of waiting past this many seconds since the first send.
    """

    max_attempts: int = 6
    base_delay: float = 1.0
    max_delay: float = 60.0
    max_elapsed: float = 600.0

    def backoff(self, attempt: int, retry_after: float | None, rand: Callable[[], float]) -> float:
        """Seconds to wait before attempt ``attempt + 1``: full jitter, at least ``retry_after``."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        delay = ceiling * rand()
        return max(delay, retry_after or 0.0)


def default_policy() -> RetryPolicy:
    """The budget of a session or client given none.

    Every client resolves its default here, when it is created, through the module global
    ``RetryPolicy``: a test that replaces ``RetryPolicy`` (or this function) in this module makes
    every hook and trigger created afterwards, sync or async, use its budget.
    """
    return RetryPolicy()


def resolve_policy(policy: RetryPolicy | None) -> RetryPolicy:
    """``policy``, or :func:`default_policy` when none was given."""
    return policy if policy is not None else default_policy()


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds asked by a ``Retry-After`` header (delta seconds, or an HTTP date compared with
    ``now``, epoch seconds); ``None`` when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


@dataclass(frozen=True)
class Outcome:
    """What one send produced, in the policy's terms.

    :param status: the HTTP status, or ``None`` when no response arrived (a transport failure).
    :param reached: for a transport failure, whether the request may have reached the server
        (``False`` only when it certainly was not sent). Ignored when there is a status.
    :param retry_after: seconds the server asked to wait (``Retry-After``), if any.
    :param messages: the API's error messages (credential redacted), or the failure's name.
    """

    status: int | None
    reached: bool = True
    retry_after: float | None = None
    messages: tuple[str, ...] = ()

    @classmethod
    def answered(cls, status: int, *, retry_after: float | None = None, messages: Iterable[str] = ()) -> Outcome:
        return cls(status, retry_after=retry_after, messages=tuple(messages))

    @classmethod
    def failed(cls, reason: str, *, reached: bool) -> Outcome:
        """A transport failure named ``reason`` (the exception's type name)."""
        return cls(None, reached=reached, messages=(f"{reason} after sending" if reached else reason,))

    @property
    def in_doubt(self) -> bool:
        """The server may have processed the request although the call failed."""
        if self.status is None:
            return self.reached
        return self.status in MAYBE_PROCESSED

    @property
    def transient(self) -> bool:
        """Worth sending again (if repeating is safe): throttling, server errors, no response."""
        return self.status is None or self.status in NOT_PROCESSED or self.status in MAYBE_PROCESSED


class Action(Enum):
    """What to do after one attempt."""

    RETURN = "return"  # success: hand the response to the caller
    RENEW = "renew"  # 401: renew the credential and send again at once
    RETRY = "retry"  # transient: wait, then send again
    RAISE = "raise"  # an error status (or, from Attempts.next, any way of giving up)
    GIVE_UP_IN_DOUBT = "give_up_in_doubt"  # may have been processed, and repeating is not safe


def classify(outcome: Outcome, *, can_renew: bool, renewed: bool, retry_ambiguous: bool) -> Action:
    """The action for ``outcome``, ignoring the budget (see the module docstring for the rules).

    :param can_renew: the call uses a credential that can be renewed.
    :param renewed: this call already renewed it once.
    :param retry_ambiguous: repeating a call the server may have processed is harmless.
    """
    status = outcome.status
    if status is not None and status < 400:
        return Action.RETURN
    if status == 401 and can_renew and not renewed:
        return Action.RENEW
    if not outcome.transient:
        return Action.RAISE
    if outcome.in_doubt and not retry_ambiguous:
        return Action.GIVE_UP_IN_DOUBT
    return Action.RETRY


@dataclass(frozen=True)
class Step:
    """The next thing a client does: :attr:`action` is RETURN, RENEW, RETRY (sleep :attr:`delay`
    seconds first) or RAISE (:attr:`error`); never GIVE_UP_IN_DOUBT, which becomes RAISE."""

    action: Action
    delay: float = 0.0
    error: ApiError | None = None


class Attempts:
    """One call's retry state: how many sends so far, since when, whether it renewed.

    Create one per call, just before the first send; pass every send's :class:`Outcome` to
    :meth:`next`, which counts the send and returns the :class:`Step` to take. Not shared
    between calls or threads.

    :param policy: the retry budget.
    :param service: ``Monetate`` or ``Acquia CDP``, for error messages.
    :param method: the HTTP method, for error messages.
    :param path: the URL path (no query string), for error messages.
    :param hints: user-facing advice for 401/403/404.
    :param can_renew: a 401 may be answered by renewing the credential (once).
    :param retry_ambiguous: a call the server may have processed may be sent again.
    :param clock: monotonic seconds (injected, so tests never depend on wall time).
    :param rand: uniform in [0, 1), the jitter source.
    """

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        service: str,
        method: str,
        path: str,
        hints: ErrorHints,
        can_renew: bool,
        retry_ambiguous: bool,
        clock: Callable[[], float],
        rand: Callable[[], float],
    ) -> None:
        self.policy = policy
        self.service, self.method, self.path, self.hints = service, method, path, hints
        self.can_renew = can_renew
        self.retry_ambiguous = retry_ambiguous
        self._clock = clock
        self._rand = rand
        self.count = 0
        self.renewed = False
        self.started = clock()

    def next(self, outcome: Outcome) -> Step:
        """Count the send that produced ``outcome`` and decide the next step."""
        self.count += 1
        action = classify(outcome, can_renew=self.can_renew, renewed=self.renewed,
                          retry_ambiguous=self.retry_ambiguous)
        if action is Action.RETURN:
            return Step(Action.RETURN)
        if action is Action.RENEW:
            self.renewed = True
            return Step(Action.RENEW)
        if action is Action.RAISE:
            # Only statuses are non-transient, so outcome.status is set here.
            error = error_for(self.service, self.method, self.path, outcome.status, list(outcome.messages),
                              self.hints)
            return Step(Action.RAISE, error=error)
        if action is Action.GIVE_UP_IN_DOUBT:
            return self._give_up(outcome, in_doubt=True,
                                 hint="The call may have been processed, so it was not repeated automatically")
        delay = self.policy.backoff(self.count, outcome.retry_after, self._rand)
        elapsed = self._clock() - self.started
        if self.count >= self.policy.max_attempts or elapsed + delay > self.policy.max_elapsed:
            return self._give_up(outcome, in_doubt=outcome.in_doubt,
                                 hint=f"Gave up after {self.count} attempts in {elapsed:.0f}s")
        return Step(Action.RETRY, delay=delay)

    def _give_up(self, outcome: Outcome, *, in_doubt: bool, hint: str) -> Step:
        error = ApiUnavailableError(
            self.service, self.method, self.path, outcome.status, list(outcome.messages),
            attempts=self.count, in_doubt=in_doubt, hint=hint,
        )
        return Step(Action.RAISE, error=error)
