"""HTTP behaviour shared by both hooks: one pooled session, timeouts, re-auth, retries.

One implementation serves Monetate and Acquia CDP:

* 400/415/422 -> :class:`ApiValidationError`, never retried;
* 401 -> the credential is renewed once and the call sent once more;
* 403 -> :class:`ApiForbiddenError` at once; 404 -> :class:`ApiNotFoundError`;
* 429, 5xx, timeouts and dropped connections -> exponential backoff with full jitter,
  waiting at least what ``Retry-After`` asks, bounded in attempts and in total time.

A call that may have reached the server before failing (read timeout, dropped connection,
500/502/504) is only retried when the caller says a repeat is harmless
(``retry_ambiguous=True``); 429 and 503 mean "not processed" and are always retried.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from airflow_provider_monetate import __version__
from airflow_provider_monetate.exceptions import (
    ApiAuthError,
    ApiError,
    ApiForbiddenError,
    ApiNotFoundError,
    ApiUnavailableError,
    ApiValidationError,
)

USER_AGENT = f"airflow-provider-monetate/{__version__}"
NOT_PROCESSED = frozenset({429, 503})
MAYBE_PROCESSED = frozenset({500, 502, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying a call that failed for a transient reason.

    :param max_attempts: sends at most this many times in all.
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


class Credential(Protocol):
    """What :class:`ApiSession` needs from an auth scheme."""

    def header(self) -> str:
        """The ``Authorization`` header value to send."""

    def renew(self, rejected: str) -> None:
        """Obtain a new credential after ``rejected`` (a header value) drew a 401."""


@dataclass(frozen=True)
class ErrorHints:
    """What to tell the user for the statuses that need a human."""

    unauthorized: str = "Check the credentials in the connection."
    forbidden: str = "The credential was revoked or lacks permission; retrying will not help."
    not_found: str = "The resource was not found."


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds asked by a ``Retry-After`` header (delta seconds or an HTTP date)."""
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


def _reached_server(exc: requests.RequestException) -> bool:
    """False when the request certainly never left this machine (no connection was made)."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, NewConnectionError):
            return False
        cause = getattr(cause, "reason", None) or cause.__context__
    return True


class ApiSession:
    """A pooled ``requests.Session`` with the provider's retry and error rules.

    :param service: name used in errors (``Monetate``, ``Acquia CDP``).
    :param base_url: scheme and host, e.g. ``https://api.monetate.net``.
    :param credential: default credential for calls that do not pass their own header.
    :param hints: user-facing advice for 401/403/404.
    :param timeout: ``(connect, read)`` seconds for every call.
    :param retry: the retry budget.
    :param sleep: injectable for tests; defaults to :func:`time.sleep`.
    :param clock: injectable for tests; defaults to :func:`time.monotonic`.
    :param pool_size: connections kept per host (match the caller's concurrency).
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
    ) -> None:
        self.service = service
        self.base_url = base_url.rstrip("/")
        self.credential = credential
        self.hints = hints or ErrorHints()
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
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
        params: dict[str, Any] | None = None,
        json: Any = None,
        data: bytes | None = None,
        authorization: str | None = None,
        retry_ambiguous: bool = True,
    ) -> requests.Response:
        """Send one API call with the shared rules and return the successful response.

        :param path: path below ``base_url``, starting with ``/``.
        :param json: a JSON-serialisable body (exclusive with ``data``).
        :param data: a pre-encoded JSON body.
        :param authorization: an explicit ``Authorization`` value; when given, the call does not
            use the session credential and a 401 is not retried (token management calls).
        :param retry_ambiguous: whether a call that may have been processed can be sent again.
        """
        headers = {"Content-Type": "application/json"} if (json is not None or data is not None) else {}
        started = self._clock()
        attempt = 0
        renewed = False
        while True:
            attempt += 1
            header = authorization or (self.credential.header() if self.credential else None)
            if header:
                headers["Authorization"] = header
            try:
                response = self.session.request(
                    method, self.base_url + path, params=params, json=json, data=data,
                    headers=headers, timeout=self.timeout,
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                in_doubt = _reached_server(exc)
                reason = f"{type(exc).__name__} after sending" if in_doubt else type(exc).__name__
                self._wait_or_raise(method, path, attempt, started, None, [reason],
                                    in_doubt, retry_ambiguous or not in_doubt)
                continue

            status = response.status_code
            if status < 400:
                return response
            if status == 401 and self.credential and authorization is None and not renewed:
                self.credential.renew(header or "")
                renewed = True
                continue
            if status in NOT_PROCESSED or status in MAYBE_PROCESSED:
                retry_after = parse_retry_after(response.headers.get("Retry-After"), time.time())
                in_doubt = status in MAYBE_PROCESSED
                self._wait_or_raise(method, path, attempt, started, status, self._messages(response, header),
                                    in_doubt, retry_ambiguous or not in_doubt, retry_after)
                continue
            raise self._error(method, path, response, header)

    def _wait_or_raise(
        self, method, path, attempt, started, status, messages, in_doubt, may_retry, retry_after=None
    ) -> None:
        delay = self.retry.backoff(attempt, retry_after, self._rand)
        elapsed = self._clock() - started
        if not may_retry:
            raise ApiUnavailableError(
                self.service, method, path, status, messages, attempts=attempt, in_doubt=True,
                hint="The call may have been processed, so it was not repeated automatically",
            )
        if attempt >= self.retry.max_attempts or elapsed + delay > self.retry.max_elapsed:
            raise ApiUnavailableError(
                self.service, method, path, status, messages, attempts=attempt, in_doubt=in_doubt,
                hint=f"Gave up after {attempt} attempts in {elapsed:.0f}s",
            )
        with self._count_lock:
            self.retries += 1
        self._sleep(delay)

    def _messages(self, response: requests.Response, header: str | None) -> list[str]:
        return response_messages(response, header)

    def _error(self, method: str, path: str, response: requests.Response, header: str | None) -> ApiError:
        return error_for(self.service, method, path, response.status_code,
                         response_messages(response, header), self.hints)


def response_messages(response: Any, header: str | None) -> list[str]:
    """Error messages from either API's error body (a ``requests`` or ``httpx`` response), with
    the credential that was sent redacted."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()[:200]
        messages = [text] if text else []
    else:
        messages = _body_messages(body)
    secret = header.partition(" ")[2] if header else ""
    if secret:
        messages = [m.replace(secret, "***") for m in messages]
    return messages


def error_for(service: str, method: str, path: str, status: int, messages: list[str], hints: ErrorHints) -> ApiError:
    """The exception for an error status that is not retried."""
    if status == 401:
        return ApiAuthError(service, method, path, status, messages, hints.unauthorized)
    if status == 403:
        return ApiForbiddenError(service, method, path, status, messages, hints.forbidden)
    if status == 404:
        return ApiNotFoundError(service, method, path, status, messages, hints.not_found)
    if status in (400, 409, 413, 415, 422):
        return ApiValidationError(service, method, path, status, messages)
    return ApiError(service, method, path, status, messages)


def _body_messages(body: Any) -> list[str]:
    """Monetate puts errors in ``meta.errors``; Acquia CDP in ``errorCode``/``userMessage``."""
    if not isinstance(body, dict):
        return []
    if "errorCode" in body or "userMessage" in body:
        return [f"{body.get('errorCode', 'ERROR')}: {body.get('userMessage') or ''}".strip()]
    errors = (body.get("meta") or {}).get("errors") or []
    messages = []
    for error in errors[:20]:
        if isinstance(error, dict):
            messages.append(", ".join(f"{k}={v}" for k, v in error.items()))
        else:
            messages.append(str(error))
    if len(errors) > 20:
        messages.append(f"... {len(errors) - 20} more")
    return messages


def base_url(host: str | None, port: int | None, default: str) -> str:
    """``scheme://host[:port]`` from a connection's host field (https when no scheme is given)."""
    url = (host or default).strip().rstrip("/")
    if "://" not in url:
        url = "https://" + url
    if port and url.count(":") < 2:
        url = f"{url}:{port}"
    return url
