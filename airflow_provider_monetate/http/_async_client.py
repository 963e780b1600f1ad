"""AsyncApiClient: the same retry and error rules as :class:`~._session.ApiSession`, over httpx.

For triggers, which run in the triggerer's event loop: waits are ``asyncio.sleep`` and the
credential renews through an ``async`` callable (which runs any blocking work in a thread).
Like the session, it only sends, translates (:mod:`._transport`) and performs the step its
call's :class:`~._policy.Attempts` returns; it decides nothing itself.

It does not own a connection: each call is sent over the ``httpx.AsyncClient`` the caller
passes, so a caller can keep one small client per worker (see :func:`one_connection_client`).
One instance may serve many concurrent calls; each call keeps its own :class:`Attempts`.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import httpx

from airflow_provider_monetate.exceptions import ApiUnavailableError
from airflow_provider_monetate.http._errors import ErrorHints, Redactor
from airflow_provider_monetate.http._policy import Action, Attempts, RetryPolicy, resolve_policy
from airflow_provider_monetate.http._transport import HTTPX_FAILURES, USER_AGENT, httpx_failure, response_outcome


class AsyncCredential(Protocol):
    """What :class:`AsyncApiClient` needs from an auth scheme."""

    def header(self) -> str:
        """The ``Authorization`` header value to send (cheap, non-blocking)."""

    async def renew(self, rejected: str) -> None:
        """Obtain a new credential after ``rejected`` (a header value) drew a 401."""


async def _asyncio_sleep(seconds: float) -> None:
    # Looked up at call time, so a test that patches asyncio.sleep sees these waits too.
    await asyncio.sleep(seconds)


def one_connection_client(base_url: str, *, timeout: float, connect_timeout: float = 10.0) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` holding one connection, with the provider's default headers.

    httpcore's pool does work proportional to its connection count on every request, so for N
    concurrent callers N clients of one connection are several times faster than one client of N
    (bench/bench_monetate_deletion_status.py). Use it as ``async with``.
    """
    return httpx.AsyncClient(
        base_url=base_url, timeout=httpx.Timeout(timeout, connect=connect_timeout),
        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
    )


class AsyncApiClient:
    """Async API calls with the provider's retry and error rules.

    :param service: name used in errors (``Monetate``, ``Acquia CDP``).
    :param credential: sends ``credential.header()``; a 401 awaits ``credential.renew`` once.
        Without one, no ``Authorization`` is sent unless the call passes it in ``headers``.
    :param hints: user-facing advice for 401/403/404.
    :param retry: the retry budget (default: :func:`~._policy.default_policy`).
    :param sleep: an async sleep; defaults to :func:`asyncio.sleep`.
    :param clock: monotonic seconds; defaults to :func:`time.monotonic`.
    :param rand: the jitter source; defaults to :func:`random.random`.
    :param redactor: the credentials to redact from error messages, as for
        :class:`~._session.ApiSession`; every ``Authorization`` sent is added to it.
    """

    def __init__(
        self,
        service: str,
        *,
        credential: AsyncCredential | None = None,
        hints: ErrorHints | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
        redactor: Redactor | None = None,
    ) -> None:
        self.service = service
        self.redactor = redactor if redactor is not None else Redactor()
        self.credential = credential
        self.hints = hints or ErrorHints()
        self.retry = resolve_policy(retry)
        self._sleep = sleep or _asyncio_sleep
        self._clock = clock
        self._rand = rand
        self.retries = 0  # backoff waits, summed over all calls (one event loop: no lock needed)

    async def request(
        self,
        http: httpx.AsyncClient,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        retry_ambiguous: bool = True,
    ) -> httpx.Response:
        """Send one API call over ``http`` (whose ``base_url`` is the API host) and return the
        successful response.

        :param path: path below the client's ``base_url``, starting with ``/``.
        :param json: a JSON-serialisable body.
        :param headers: extra headers for this call.
        :param retry_ambiguous: whether a call that may have been processed can be sent again.
        :raises ApiError: the mapped error for a status that is not retried;
            :class:`ApiUnavailableError` when retrying is spent or unsafe.
        """
        credential = self.credential
        attempts = Attempts(
            self.retry, service=self.service, method=method, path=path, hints=self.hints,
            can_renew=credential is not None, retry_ambiguous=retry_ambiguous, clock=self._clock, rand=self._rand,
        )
        while True:
            header = credential.header() if credential else None
            sent = dict(headers or {})
            if header:
                sent["Authorization"] = header
            self.redactor.add_header(sent.get("Authorization"))
            response = failure = None
            try:
                response = await http.request(method, path, params=params, json=json, headers=sent)
            except HTTPX_FAILURES as exc:  # timeouts, refused and dropped connections
                failure = exc
                outcome = httpx_failure(exc, url=str(http.base_url))
            else:
                outcome = response_outcome(response, self.redactor)
            step = attempts.next(outcome)
            if step.action is Action.RETURN:
                return response
            if step.action is Action.RENEW:
                await credential.renew(header or "")
            elif step.action is Action.RETRY:
                self.retries += 1
                await self._sleep(step.delay)
            else:
                if failure is not None and isinstance(step.error, ApiUnavailableError):
                    step.error.failure = type(failure).__name__
                # Not chained: the library's error text holds the full URL and query (a customer ID).
                raise step.error from None
