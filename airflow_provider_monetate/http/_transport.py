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

A failure is also described in words that do not depend on the library (:func:`describe_failure`):
what failed (TLS certificate, TLS handshake, name resolution, refused, which timeout, dropped) and
the host and port, never the path or query (a query may hold a customer ID) nor the library's own
text (which repeats the URL).
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator
from http.client import RemoteDisconnected
from typing import Any
from urllib.parse import urlsplit

import httpx
import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ProtocolError, ReadTimeoutError

from airflow_provider_monetate import __version__
from airflow_provider_monetate.exceptions import ConfigurationError
from airflow_provider_monetate.http._errors import Redactor, response_messages
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


def checked_base_url(host: str | None, port: int | None, default: str) -> str:
    """:func:`base_url`, refusing a host field that cannot be a base URL.

    :raises ConfigurationError: a path, query or fragment (the provider adds every API path, so
        ``https://api.monetate.net/api`` would address ``/api/api/...``), user info, a scheme other
        than http(s), no host name, or a port that is not a number. The message never repeats a
        password written into the host.
    """
    url = base_url(host, port, default)
    parts = urlsplit(url)
    if parts.username or parts.password:
        raise ConfigurationError("holds a user name or password: remove it (credentials go in login and password).")
    if parts.scheme not in ("http", "https"):
        raise ConfigurationError(f"{url!r}: use https:// (or http:// for a local emulator), not {parts.scheme}://.")
    if not parts.hostname:
        raise ConfigurationError(f"{url!r} names no host: give scheme://host[:port].")
    try:
        parts.port  # noqa: B018 - reading it validates it
    except ValueError:
        raise ConfigurationError(f"{url!r} has a port that is not a number.") from None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigurationError(
            f"{url!r} has a path: give only scheme://host[:port], e.g. {parts.scheme}://{parts.netloc}; "
            "the provider adds every API path itself."
        )
    return url


def json_or_empty(response: Any) -> dict:
    """A success answer's JSON body; ``{}`` when it has none or it is not JSON (the caller then finds
    the fields it needs missing and says so)."""
    try:
        return response.json() if response.content else {}
    except ValueError:
        return {}


def response_outcome(response: Any, redactor: Redactor, now: float | None = None) -> Outcome:
    """The outcome of a call that got a response (``requests`` or ``httpx``).

    :param redactor: every credential to redact from the messages (including the one just sent).
    :param now: epoch seconds, for a ``Retry-After`` HTTP date (default: the wall clock).
    """
    status = response.status_code
    if status < 400:
        return Outcome.answered(status)
    retry_after = parse_retry_after(response.headers.get("Retry-After"), time.time() if now is None else now)
    return Outcome.answered(status, retry_after=retry_after, messages=response_messages(response, redactor))


def requests_failure(exc: BaseException, handling: BaseException | None = None, *, url: str = "") -> Outcome:
    """The outcome of a ``requests`` call that raised one of :data:`REQUESTS_FAILURES`.

    :param handling: the exception the caller was handling when it made the call
        (``sys.exc_info()[1]`` before sending). Python chains it to ``exc`` as context, and its
        own causes (say, an earlier refused connection) must not make this failure "not reached".
    :param url: the URL called (only its host and port are named in the message).
    """
    chain = list(exception_chain(exc, stop=handling))
    reached = _requests_reached_server(exc, chain)
    return Outcome.failed(describe_failure(chain, url), reached=reached)


def httpx_failure(exc: BaseException, *, url: str = "") -> Outcome:
    """The outcome of an ``httpx`` call that raised one of :data:`HTTPX_FAILURES`.

    :param url: the URL called (only its host and port are named in the message).
    """
    return Outcome.failed(describe_failure(list(exception_chain(exc)), url),
                          reached=not isinstance(exc, _HTTPX_NOT_SENT))


def _requests_reached_server(exc: BaseException, chain: list[BaseException]) -> bool:
    """False when the request certainly never left this machine (no connection was made)."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    return not any(isinstance(cause, (NewConnectionError, ConnectTimeoutError)) or tls_handshake_failed(cause)
                   for cause in chain)


_CONNECT_TIMEOUTS = (requests.ConnectTimeout, ConnectTimeoutError, httpx.ConnectTimeout)
_READ_TIMEOUTS = (requests.ReadTimeout, ReadTimeoutError, httpx.ReadTimeout)
_NOT_CONNECTED = (NewConnectionError, httpx.ConnectError)  # urllib3's is a ConnectTimeoutError subclass
_DROPPED = (RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError, ProtocolError,
            httpx.RemoteProtocolError)
_TRUST_HINT = ("it is self-signed, expired, issued for another name, or re-signed by a TLS-inspecting proxy: "
               "correct the host, or trust its CA (REQUESTS_CA_BUNDLE for hooks, SSL_CERT_FILE for the triggerer)")


def describe_failure(chain: list[BaseException], url: str) -> str:
    """What failed and where, from a transport failure's exception chain (the raised one first).

    The same failure gets the same words from ``requests`` and ``httpx``: the kind is read from
    the exceptions both libraries wrap (``ssl``, ``socket``, OS errors) before their own types.
    Only the host and port of ``url`` are named (:class:`~._policy.Outcome` adds "after sending").
    """
    hostname, host = _where(url)
    first = chain[0]
    for cause in chain:
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = getattr(cause, "verify_message", None) or _ssl_reason(cause)
            return f"TLS certificate of {host} not accepted ({reason}): {_TRUST_HINT}"
    for cause in chain:
        if isinstance(cause, ssl.SSLError) and tls_handshake_failed(cause):
            return (f"TLS handshake with {host} failed ({_ssl_reason(cause)}); if {host} serves plain HTTP, "
                    "write http:// in the connection's host")
    for cause in chain:
        if isinstance(cause, socket.gaierror):
            return f"cannot resolve the host name {hostname} ({cause.strerror or cause}); check the connection's host"
        if isinstance(cause, ConnectionRefusedError):
            return f"connection refused by {host}; check the connection's host and port"
    if isinstance(first, httpx.PoolTimeout):
        return f"no free connection to {host} within the pool timeout"
    if any(isinstance(cause, _NOT_CONNECTED) for cause in chain):
        return f"cannot connect to {host} ({_os_reason(chain)})"
    if any(isinstance(cause, _CONNECT_TIMEOUTS) for cause in chain):
        return f"no connection to {host} within the connect timeout"
    if any(isinstance(cause, _READ_TIMEOUTS) for cause in chain):
        return f"no answer from {host} within the read timeout"
    if isinstance(first, httpx.WriteTimeout):
        return f"the request to {host} could not be written within the write timeout"
    for cause in chain:
        if isinstance(cause, ssl.SSLError):
            return f"TLS error with {host} ({_ssl_reason(cause)})"
    if any(isinstance(cause, _DROPPED) for cause in chain):
        return f"{host} closed the connection without an answer"
    return f"connection to {host} failed ({type(first).__name__})"


def _os_reason(chain: list[BaseException]) -> str:
    """The operating system's words for the innermost OS error (``Network is unreachable``)."""
    reasons = [cause.strerror for cause in chain if isinstance(cause, OSError) and cause.strerror]
    return reasons[-1] if reasons else type(chain[-1]).__name__


def _ssl_reason(exc: ssl.SSLError) -> str:
    """OpenSSL's short reason (``WRONG_VERSION_NUMBER``), never a URL."""
    return str(getattr(exc, "reason", None) or exc.strerror or type(exc).__name__)


def _where(url: str) -> tuple[str, str]:
    """``(host name, host[:port])`` of ``url``: never its user info, path or query."""
    parts = urlsplit(url if "://" in url else f"//{url}")
    hostname = parts.hostname or "the API host"
    if ":" in hostname:
        hostname = f"[{hostname}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    return hostname, f"{hostname}:{port}" if port else hostname


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
