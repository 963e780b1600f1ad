"""What a library's response or exception means to the retry policy, and what goes on the wire.

The two clients differ only in their library; this module turns each library's result into the
same :class:`~._policy.Outcome`:

* a response (``requests`` or ``httpx``, read through their common ``status_code``, ``headers``,
  ``json()`` and ``text``) -> its status, ``Retry-After`` and redacted error messages;
* an exception -> a transport failure, with whether the request may have reached the server.

"Not reached" is claimed only when the request certainly never left this machine, because a
call that is not safe to repeat (a POST of rows) is then sent again:

* requests: :class:`requests.ConnectTimeout`, or a ``NewConnectionError`` / ``ConnectTimeoutError``
  (refused, DNS, connect timeout) or a TLS handshake failure anywhere in the exception chain;
* httpx: ``ConnectError`` (refused, DNS, TLS handshake), ``ConnectTimeout``, ``PoolTimeout``.

Everything else (read timeouts, dropped connections, protocol errors, a TLS error after the
handshake) may have been processed: the caller's ``retry_ambiguous`` decides.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from typing import Any

import httpx
import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from airflow_provider_monetate import __version__
from airflow_provider_monetate.http._errors import response_messages
from airflow_provider_monetate.http._policy import Outcome, parse_retry_after

USER_AGENT = f"airflow-provider-monetate/{__version__}"

# Exceptions each client treats as a transport failure (anything else propagates unchanged).
REQUESTS_FAILURES = (requests.ConnectionError, requests.Timeout)
HTTPX_FAILURES = (httpx.TransportError,)

# httpx raises these only before the request is written: connecting, TLS, waiting for the pool.
_HTTPX_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def base_url(host: str | None, port: int | None, default: str) -> str:
    """``scheme://host[:port]`` from a connection's host field (https when no scheme is given)."""
    url = (host or default).strip().rstrip("/")
    if "://" not in url:
        url = "https://" + url
    if port and url.count(":") < 2:
        url = f"{url}:{port}"
    return url


def response_outcome(response: Any, header: str | None, now: float | None = None) -> Outcome:
    """The outcome of a call that got a response (``requests`` or ``httpx``).

    :param header: the ``Authorization`` value sent, redacted from the messages.
    :param now: epoch seconds, for a ``Retry-After`` HTTP date (default: the wall clock).
    """
    status = response.status_code
    if status < 400:
        return Outcome.answered(status)
    retry_after = parse_retry_after(response.headers.get("Retry-After"), time.time() if now is None else now)
    return Outcome.answered(status, retry_after=retry_after, messages=response_messages(response, header))


def requests_failure(exc: BaseException, handling: BaseException | None = None) -> Outcome:
    """The outcome of a ``requests`` call that raised one of :data:`REQUESTS_FAILURES`.

    :param handling: the exception the caller was handling when it made the call
        (``sys.exc_info()[1]`` before sending). Python chains it to ``exc`` as context, and its
        own causes (say, an earlier refused connection) must not make this failure "not reached".
    """
    return Outcome.failed(type(exc).__name__, reached=_requests_reached_server(exc, handling))


def httpx_failure(exc: BaseException) -> Outcome:
    """The outcome of an ``httpx`` call that raised one of :data:`HTTPX_FAILURES`."""
    return Outcome.failed(type(exc).__name__, reached=not isinstance(exc, _HTTPX_NOT_SENT))


def _requests_reached_server(exc: BaseException, handling: BaseException | None) -> bool:
    """False when the request certainly never left this machine (no connection was made)."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    for cause in exception_chain(exc, stop=handling):
        if isinstance(cause, (NewConnectionError, ConnectTimeoutError)) or tls_handshake_failed(cause):
            return False
    return True


def exception_chain(exc: BaseException, stop: BaseException | None = None) -> Iterator[BaseException]:
    """``exc`` and every exception it wraps: urllib3's ``reason``, ``__cause__``, ``__context__``.

    Only exceptions are followed: ``ssl.SSLError.reason`` is a string such as
    ``"CERTIFICATE_VERIFY_FAILED"``, which once crashed this walk. Each exception is visited once,
    so a cyclic chain ends; ``stop`` and what it wraps are not visited.
    """
    pending: list[BaseException] = [exc]
    seen: set[int] = {id(stop)} if stop is not None else set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for linked in (current.__context__, current.__cause__, getattr(current, "reason", None)):
            if isinstance(linked, BaseException):
                pending.append(linked)


def tls_handshake_failed(exc: BaseException) -> bool:
    """``exc`` is a TLS failure raised during the handshake, before any HTTP byte was sent.

    A certificate verification failure always is. Another ``ssl.SSLError`` is only when it was
    raised inside ``do_handshake`` (``ssl.SSLSocket``'s, or urllib3's TLS-in-TLS transport's): the
    same exception types also report a connection dropped while the response was read.
    """
    if isinstance(exc, ssl.SSLCertVerificationError):
        return True
    if not isinstance(exc, ssl.SSLError):
        return False
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_name == "do_handshake":
            return True
        tb = tb.tb_next
    return False
