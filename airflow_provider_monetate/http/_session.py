"""ApiSession: the hooks' synchronous HTTP client over one pooled ``requests.Session``.

It sends, turns each response or exception into an :class:`~._policy.Outcome`
(:mod:`._transport`), and performs the step the call's :class:`~._policy.Attempts` returns:
sleep with :func:`time.sleep`, renew the credential in this thread, return or raise. Every
decision (what is retried, how long to wait, which error) is in :mod:`._policy`, shared with the
trigger's async client (:mod:`._async_client`).

The session is thread-safe as ``requests.Session`` is for sending; :attr:`ApiSession.retries`
(backoff waits, summed over all calls) is counted under a lock.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import requests
from requests.adapters import HTTPAdapter

from airflow_provider_monetate.exceptions import ApiUnavailableError
from airflow_provider_monetate.http._errors import ErrorHints, Redactor
from airflow_provider_monetate.http._policy import Action, Attempts, RetryPolicy, resolve_policy
from airflow_provider_monetate.http._transport import (
    REQUESTS_FAILURES,
    USER_AGENT,
    requests_failure,
    response_outcome,
)


class Credential(Protocol):
    """What :class:`ApiSession` needs from an auth scheme."""

    def header(self) -> str:
        """The ``Authorization`` header value to send."""

    def renew(self, rejected: str) -> None:
        """Obtain a new credential after ``rejected`` (a header value) drew a 401."""


class ApiSession:
    """A pooled ``requests.Session`` with the provider's retry and error rules.

    :param service: name used in errors (``Monetate``, ``Acquia CDP``).
    :param base_url: scheme and host, e.g. ``https://api.monetate.net``.
    :param credential: default credential for calls that do not pass their own header; ``None``:
        such calls send no ``Authorization`` at all, and a 401 is not renewed (Acquia CDP's webtag
        calls, whose access key travels in the query).
    :param hints: user-facing advice for 401/403/404.
    :param timeout: ``(connect, read)`` seconds for every call.
    :param retry: the retry budget (default: :func:`~._policy.default_policy`).
    :param sleep: injectable for tests; defaults to :func:`time.sleep`.
    :param clock: injectable for tests; defaults to :func:`time.monotonic`.
    :param pool_size: connections kept per host (match the caller's concurrency).
    :param redactor: the credentials to redact from error messages (a hook passes the one that
        holds every secret it has read or minted); every ``Authorization`` sent is added to it.

    ``retry``, ``_sleep``, ``_clock`` and ``_rand`` are read at every call, so a test may replace
    them on a hook's session after it was created.
    """

    def __init__(
        self,
        service: str,
        base_url: str,
        *,
        credential: Credential | None = None,
        hints: ErrorHints | None = None,
        timeout: tuple[float, float] = (10.0, 60.0),
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        pool_size: int = 16,
        redactor: Redactor | None = None,
    ) -> None:
        self.service = service
        self.redactor = redactor if redactor is not None else Redactor()
        self.base_url = base_url.rstrip("/")
        self.credential = credential
        self.hints = hints or ErrorHints()
        self.timeout = timeout
        self.retry = resolve_policy(retry)
        self._sleep = sleep
        self._clock = clock
        self._rand = random.random
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=pool_size)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        self.retries = 0
        self._count_lock = threading.Lock()

    def close(self) -> None:
        self.session.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | str | None = None,
        json: Any = None,
        data: bytes | None = None,
        authorization: str | Callable[[], str] | None = None,
        retry_ambiguous: bool = True,
    ) -> requests.Response:
        """Send one API call with the shared rules and return the successful response.

        :param path: path below ``base_url``, starting with ``/``.
        :param params: query parameters; a string is sent as written (already encoded).
        :param json: a JSON-serialisable body (exclusive with ``data``).
        :param data: a pre-encoded JSON body.
        :param authorization: an explicit ``Authorization`` value, or a callable returning one,
            called again for every attempt (a signed JWT must not age across retries); when
            given, the call does not use the session credential and a 401 is not retried (token
            management calls).
        :param retry_ambiguous: whether a call that may have been processed can be sent again.
        :raises ApiError: the mapped error for a status that is not retried;
            :class:`ApiUnavailableError` when retrying is spent or unsafe.
        """
        headers = {"Content-Type": "application/json"} if (json is not None or data is not None) else {}
        credential = self.credential if authorization is None else None
        attempts = Attempts(
            self.retry, service=self.service, method=method, path=path, hints=self.hints,
            can_renew=credential is not None, retry_ambiguous=retry_ambiguous, clock=self._clock, rand=self._rand,
        )
        handling = sys.exc_info()[1]  # the caller's exception, if it calls from an except block
        while True:
            header = (authorization() if callable(authorization) else authorization) or (
                credential.header() if credential else None)
            if header:
                headers["Authorization"] = header
                self.redactor.add_header(header)
            response = failure = None
            try:
                response = self.session.request(
                    method, self.base_url + path, params=params, json=json, data=data,
                    headers=headers, timeout=self.timeout,
                )
            except REQUESTS_FAILURES as exc:
                failure = exc
                outcome = requests_failure(exc, handling, url=self.base_url)
            else:
                outcome = response_outcome(response, self.redactor)
            step = attempts.next(outcome)
            if step.action is Action.RETURN:
                return response
            if step.action is Action.RENEW:
                credential.renew(header or "")
            elif step.action is Action.RETRY:
                with self._count_lock:
                    self.retries += 1
                self._sleep(step.delay)
            else:
                if failure is not None and isinstance(step.error, ApiUnavailableError):
                    step.error.failure = type(failure).__name__
                # Not chained: the library's error text holds the full URL and query (a customer ID).
                raise step.error from None
